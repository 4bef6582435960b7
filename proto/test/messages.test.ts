import {
  type DescMessage,
  type Message,
  create,
  equals,
  fromBinary,
  isMessage,
  toBinary,
} from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import {
  AuditRecordSchema,
  DeliveryEventSchema,
  DeliveryJobSchema,
  EnvelopeSchema,
  InlineScanReplySchema,
  InlineScanRequestSchema,
  LoadReportSchema,
  ScanResultSchema,
  natsHeaders,
  schemaByTypeName,
  schemas,
  type Problem,
  type WireType,
} from '../src/index.js';
import * as fx from './fixtures.js';

const samples = {
  Envelope: [fx.envelope()],
  ScanResult: [fx.scanResult()],
  DeliveryJob: [fx.deliveryJob()],
  DeliveryEvent: [fx.deliveryEvent()],
  AuditRecord: [fx.sessionAudit(), fx.messageAudit(), fx.adminAudit()],
  LoadReport: [fx.loadReport()],
  InlineScanRequest: [fx.inlineScanRequest()],
  InlineScanReply: [fx.inlineScanReply(), fx.inlineScanError()],
} as const;

/** Encode, decode and compare one sample of a wire type. */
function roundTrip<T extends Message>(wire: WireType<T>, m: T): void {
  const bytes = toBinary(wire.schema, m);
  expect(bytes.length).toBeGreaterThan(0);
  const back = fromBinary(wire.schema, bytes);
  expect(equals(wire.schema, back, m)).toBe(true);
  expect(back).toEqual(m);
  expect(wire.validate(back)).toEqual([]);
}

/** What generic runtime code does with a header value: no per-type code. */
function decodeByName(
  typeName: string,
  bytes: Uint8Array,
): { message: Message; problems: Problem[] } {
  const wire: WireType<Message> | undefined = schemaByTypeName(typeName);
  if (wire === undefined) throw new Error(`unknown schema ${typeName}`);
  const message = fromBinary(wire.schema, bytes);
  return { message, problems: wire.validate(message) };
}

describe('wire types', () => {
  it('registers every message type under its fully qualified name', () => {
    expect(Object.keys(schemas)).toEqual(Object.keys(samples));
    const expected: Record<string, DescMessage> = {
      Envelope: EnvelopeSchema,
      ScanResult: ScanResultSchema,
      DeliveryJob: DeliveryJobSchema,
      DeliveryEvent: DeliveryEventSchema,
      AuditRecord: AuditRecordSchema,
      LoadReport: LoadReportSchema,
      InlineScanRequest: InlineScanRequestSchema,
      InlineScanReply: InlineScanReplySchema,
    };
    for (const [short, wire] of Object.entries(schemas)) {
      expect(wire.typeName).toBe(`mailmesh.v1.${short}`);
      expect(wire.schema).toBe(expected[short]);
      expect(wire.schema.typeName).toBe(wire.typeName);
      expect(schemaByTypeName(wire.typeName)).toBe(wire);
    }
  });

  it('schemaByTypeName knows no other names', () => {
    for (const name of ['', 'Envelope', 'mailmesh.v2.Envelope', 'mailmesh.v1.Client']) {
      expect(schemaByTypeName(name)).toBeUndefined();
    }
  });

  it('round-trips every message type through toBinary/fromBinary', () => {
    roundTrip(schemas.Envelope, fx.envelope());
    roundTrip(schemas.ScanResult, fx.scanResult());
    roundTrip(schemas.DeliveryJob, fx.deliveryJob());
    roundTrip(schemas.DeliveryEvent, fx.deliveryEvent());
    roundTrip(schemas.AuditRecord, fx.sessionAudit());
    roundTrip(schemas.AuditRecord, fx.messageAudit());
    roundTrip(schemas.AuditRecord, fx.adminAudit());
    roundTrip(schemas.LoadReport, fx.loadReport());
    roundTrip(schemas.InlineScanRequest, fx.inlineScanRequest());
    roundTrip(schemas.InlineScanReply, fx.inlineScanReply());
    roundTrip(schemas.InlineScanReply, fx.inlineScanError());
  });

  it('decodes by the Mailmesh-Schema header, as the runtime does', () => {
    const headers = new Map([[natsHeaders.schema, schemas.DeliveryJob.typeName]]);
    const bytes = toBinary(DeliveryJobSchema, fx.deliveryJob());
    const { message, problems } = decodeByName(headers.get(natsHeaders.schema) ?? '', bytes);
    expect(problems).toEqual([]);
    expect(isMessage(message, DeliveryJobSchema)).toBe(true);
    if (!isMessage(message, DeliveryJobSchema)) return;
    expect(message.route?.nextHop).toBe('relay.company.local');
    expect(message.envelope?.recipients[0]?.address).toBe('bob@bj.company.local');

    const bad = fx.deliveryJob();
    bad.recipients = [];
    const decoded = decodeByName('mailmesh.v1.DeliveryJob', toBinary(DeliveryJobSchema, bad));
    expect(decoded.problems.map((p) => p.path)).toEqual(['recipients']);
  });

  it('keeps oneof, optional messages, 64-bit and repeated enum fields', () => {
    const rec = fromBinary(AuditRecordSchema, toBinary(AuditRecordSchema, fx.sessionAudit()));
    expect(rec.seq).toBe(7n);
    expect(rec.body.case).toBe('session');
    if (rec.body.case === 'session') {
      expect(rec.body.value.transactions[0]?.bytes).toBe(2048n);
      expect(rec.body.value.transactions[0]?.rcptTo).toEqual([
        'bob@bj.company.local',
        'not an address',
      ]);
    }
    const env = fromBinary(EnvelopeSchema, toBinary(EnvelopeSchema, fx.envelope()));
    expect(env.recipients.map((r) => r.notify)).toEqual(
      fx.envelope().recipients.map((r) => r.notify),
    );
    expect(env.size).toBe(2048n);
    expect(env.auth?.mechanism).toBe('PLAIN');
  });

  it('create() gives proto3 defaults: absent sub-messages, zero scalars', () => {
    const env = create(EnvelopeSchema);
    expect(env.mailId).toBe('');
    expect(env.tls).toBeUndefined();
    expect(env.auth).toBeUndefined();
    expect(env.recipients).toEqual([]);
    expect(env.size).toBe(0n);
    expect(toBinary(EnvelopeSchema, env).length).toBe(0);
    const rec = create(AuditRecordSchema);
    expect(rec.body).toEqual({ case: undefined });
    // Absent TLS stays absent (= plaintext) across the wire.
    const plain = fx.envelope();
    delete plain.tls;
    expect(fromBinary(EnvelopeSchema, toBinary(EnvelopeSchema, plain)).tls).toBeUndefined();
  });

  it('a decoder skips fields it does not know (additive changes are safe)', () => {
    // Field 99, wire type 2 (length-delimited), 3 bytes "new".
    const extra = new Uint8Array([0x9a, 0x06, 0x03, 0x6e, 0x65, 0x77]);
    const bytes = toBinary(LoadReportSchema, fx.loadReport());
    const both = new Uint8Array([...bytes, ...extra]);
    const back = fromBinary(LoadReportSchema, both);
    expect(back.instance).toBe(fx.loadReport().instance);
    expect(schemas.LoadReport.validate(back)).toEqual([]);
  });
});
