import { Writable } from 'node:stream';
import { toBinary } from '@bufbuild/protobuf';
import {
  consumers,
  kvBuckets,
  MAIL_ID_PATTERN,
  natsHeaders,
  schemas,
  streams,
  ulidTime,
} from '@mailmesh/proto';
import { describe, expect, it } from 'vitest';

import {
  consumerConfigOf,
  createLogger,
  decodeMessage,
  deepFreeze,
  defaultRetryDelayMs,
  diffConfig,
  InvalidMessageError,
  kvStreamConfigOf,
  mailIdFactory,
  MailIdError,
  newMailId,
  NatsUnavailableError,
  ObjectStoreAuthError,
  ProvisionConflictError,
  streamConfigOf,
} from '../src/index.js';
import { envelope } from './helpers.js';

describe('newMailId', () => {
  it('makes 26-character Crockford ULIDs carrying the given time', () => {
    const t = Date.UTC(2024, 4, 1, 12, 0, 0, 123);
    const id = mailIdFactory()(t, () => new Uint8Array(10).fill(7));
    expect(id).toMatch(MAIL_ID_PATTERN);
    expect(ulidTime(id)).toBe(t);
    expect(newMailId()).toMatch(MAIL_ID_PATTERN);
  });

  it('is monotonic within one millisecond and when the clock steps back', () => {
    const make = mailIdFactory();
    const zero = () => new Uint8Array(10);
    const a = make(1_000, zero);
    const b = make(1_000, zero);
    const c = make(999, zero);
    expect(a < b && b < c).toBe(true);
    expect(b.slice(0, 10)).toBe(a.slice(0, 10));
    expect(c.slice(0, 10)).toBe(a.slice(0, 10));
    expect(b.slice(10)).toBe('0000000000000001');
    const ids = Array.from({ length: 1000 }, () => make(2_000));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(1000);
  });

  it('refuses a time outside the ULID range and an exhausted millisecond', () => {
    expect(() => mailIdFactory()(-1)).toThrow(MailIdError);
    expect(() => mailIdFactory()(2 ** 48)).toThrow(MailIdError);
    const make = mailIdFactory();
    make(5, () => new Uint8Array(10).fill(255));
    expect(() => make(5)).toThrow(/2\^80/);
  });
});

describe('provisioning model', () => {
  it('maps a stream spec to JetStream config in nanoseconds', () => {
    const c = streamConfigOf(streams.mail);
    expect(c).toMatchObject({
      name: 'MAIL',
      subjects: ['mail.>'],
      retention: 'workqueue',
      storage: 'file',
      max_age: 14 * 86_400_000 * 1_000_000,
      duplicate_window: 120_000 * 1_000_000,
      num_replicas: 1,
    });
    expect(streamConfigOf(streams.audit, 3)).toMatchObject({
      retention: 'limits',
      num_replicas: 3,
    });
  });

  it('maps consumer and KV specs', () => {
    expect(consumerConfigOf(consumers.scanner)).toMatchObject({
      durable_name: 'scanner',
      filter_subject: 'mail.accepted',
      ack_policy: 'explicit',
      deliver_policy: 'all',
      ack_wait: 60_000_000_000,
      max_deliver: -1,
      max_ack_pending: 1000,
    });
    expect(kvStreamConfigOf(kvBuckets.load)).toMatchObject({
      name: 'KV_mailmesh-load',
      subjects: ['$KV.mailmesh-load.>'],
      max_msgs_per_subject: 1,
      max_age: 30_000_000_000,
      allow_rollup_hdrs: true,
    });
  });

  it('diffs only the fields the definition sets and flags immutable ones', () => {
    const want = { retention: 'limits', max_age: 10, description: '', subjects: ['a.>'] };
    const live = { retention: 'limits', max_age: 10, subjects: ['a.>'], max_msgs: -1 };
    expect(diffConfig(live, want, ['retention'])).toEqual({ changed: [], conflicts: [] });
    expect(
      diffConfig({ ...live, retention: 'workqueue', max_age: 5 }, want, ['retention']),
    ).toEqual({ changed: ['retention', 'max_age'], conflicts: ['retention'] });
    expect(diffConfig({ ...live, subjects: ['b.>'] }, want, []).changed).toEqual(['subjects']);
  });
});

describe('decodeMessage', () => {
  it('decodes and validates a good payload', () => {
    const env = envelope();
    const r = decodeMessage(schemas.Envelope, toBinary(schemas.Envelope.schema, env), undefined);
    expect(r.ok && r.value.mailId).toBe(env.mailId);
  });

  it('reports bytes that do not decode, a wrong schema header and validation problems', () => {
    const bad = decodeMessage(schemas.Envelope, new Uint8Array([0xff, 0xff, 0xff]), undefined);
    expect(bad.ok).toBe(false);
    if (!bad.ok)
      expect(bad.problems[0]?.problem).toMatch(/does not decode as mailmesh.v1.Envelope/);

    const wrong = decodeMessage(
      schemas.Envelope,
      toBinary(schemas.Envelope.schema, envelope()),
      'mailmesh.v1.ScanResult',
    );
    expect(wrong.ok).toBe(false);
    if (!wrong.ok) expect(wrong.problems[0]?.problem).toMatch(/payload is mailmesh.v1.ScanResult/);

    const env = envelope();
    env.mailId = 'not-a-ulid';
    const invalid = decodeMessage(
      schemas.Envelope,
      toBinary(schemas.Envelope.schema, env),
      undefined,
    );
    expect(invalid.ok).toBe(false);
    if (!invalid.ok) expect(invalid.problems.map((p) => p.path)).toContain('mailId');
  });

  it('uses the schema header name of the proto registry', () => {
    expect(natsHeaders.schema).toBe('Mailmesh-Schema');
    expect(schemas.Envelope.typeName).toBe('mailmesh.v1.Envelope');
  });
});

describe('deepFreeze', () => {
  it('freezes nested objects, arrays and collections', () => {
    const v = deepFreeze({
      a: { b: [1, { c: 2 }] },
      m: new Map([['k', { d: 1 }]]),
      s: new Set([1]),
    });
    expect(Object.isFrozen(v.a.b[1])).toBe(true);
    expect(() => {
      (v.a.b as unknown as number[]).push(3);
    }).toThrow(TypeError);
    expect(() => v.m.set('x', { d: 2 })).toThrow(/frozen configuration snapshot/);
    expect(() => v.s.add(2)).toThrow(/frozen/);
    expect(Object.isFrozen(v.m.get('k'))).toBe(true);
  });
});

describe('errors', () => {
  it('carry name, typed fields, retryable and cause', () => {
    const cause = new Error('ECONNREFUSED');
    const e = new NatsUnavailableError('nats://127.0.0.1:4222', 'connection refused', { cause });
    expect(e.name).toBe('NatsUnavailableError');
    expect(e.retryable).toBe(true);
    expect(e.cause).toBe(cause);
    expect(e.message).toBe(
      'cannot reach NATS at nats://127.0.0.1:4222: connection refused — is nats-server running? (set MAILMESH_NATS_URL)',
    );
    expect(new ObjectStoreAuthError('http://127.0.0.1:9000', 'InvalidAccessKeyId').message).toBe(
      'S3 at http://127.0.0.1:9000: access key rejected (InvalidAccessKeyId) — check MAILMESH_S3_ACCESS_KEY',
    );
    const c = new ProvisionConflictError('stream', 'MAIL', 'retention', 'workqueue', 'limits');
    expect(c.message).toMatch(/stream MAIL: field retention cannot be changed in place/);
    const inv = new InvalidMessageError('mailmesh.v1.Envelope', [
      { path: 'mailId', problem: 'bad' },
    ]);
    expect(inv.message).toBe('invalid mailmesh.v1.Envelope: mailId: bad');
    expect(inv.retryable).toBe(false);
  });

  it('retry delays double from 1 s up to 60 s', () => {
    expect([0, 1, 2, 5, 6, 10].map(defaultRetryDelayMs)).toEqual([
      1000, 2000, 4000, 32000, 60000, 60000,
    ]);
  });
});

describe('createLogger', () => {
  it('writes JSON with service and instance and redacts secrets', () => {
    const out: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        out.push(chunk.toString());
        cb();
      },
    });
    const log = createLogger('scanner', {
      instance: 'scanner-0',
      destination: sink,
      env: { MAILMESH_LOG_LEVEL: 'debug' },
    });
    log.debug(
      {
        event: 'x',
        password: 'p4ss',
        auth: { token: 't0k', user: 'alice' },
        s3: { creds: { secret: 's3cr3t' } },
        headers: { authorization: 'Bearer abc' },
      },
      'hello',
    );
    const line = JSON.parse(out.join('')) as Record<string, unknown>;
    expect(line).toMatchObject({
      level: 'debug',
      service: 'scanner',
      instance: 'scanner-0',
      event: 'x',
      msg: 'hello',
      password: '[Redacted]',
      auth: { token: '[Redacted]', user: 'alice' },
      s3: { creds: { secret: '[Redacted]' } },
      headers: { authorization: '[Redacted]' },
    });
    expect(out.join('')).not.toMatch(/p4ss|t0k|s3cr3t|Bearer/);
  });

  it('takes the level from MAILMESH_LOG_LEVEL', () => {
    expect(createLogger('x', { env: { MAILMESH_LOG_LEVEL: 'warn' } }).level).toBe('warn');
    expect(createLogger('x', { env: {} }).level).toBe('info');
    expect(createLogger('x', { env: { MAILMESH_LOG_LEVEL: 'nonsense' } }).level).toBe('info');
  });
});
