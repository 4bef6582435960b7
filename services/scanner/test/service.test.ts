/**
 * The scanner service end to end against real NATS, MinIO, clamd and spamd: the
 * corpus goes in as ingress would put it, and each mail's output (subject, verdict,
 * reasons, quarantine copy, DSN) is asserted.
 */
import { fromBinary } from '@bufbuild/protobuf';
import {
  DeliveryEventSchema,
  Origin,
  Outcome,
  Verdict,
  objectBuckets,
  quarantineKey,
  streams,
  subjects,
} from '@mailmesh/proto';
import { silentLogger, type Bus, type ObjectStore, watchConfig } from '@mailmesh/runtime';
import {
  EICAR,
  EICAR_SIGNATURE,
  GTUBE,
  startClamd,
  startMinio,
  startNats,
  startSpamd,
  type MinioPeer,
  type NatsPeer,
  type TcpServicePeer,
} from '@mailmesh/testkit';
import { dkimSign } from 'mailauth';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createClamdClient } from '../src/clamd.js';
import { buildScannerConfig, type ScannerConfig } from '../src/config.js';
import { tableResolver } from '../src/dns.js';
import { dsnMailId } from '../src/dsn.js';
import { startScanner, type Scanner } from '../src/service.js';
import { createSpamdClient } from '../src/spamd.js';
import { mimeMessage, zip } from './helpers/corpus.js';
import { dkimKey } from './helpers/dns.js';
import {
  mailOutputs,
  setup,
  submit,
  waitFor,
  writeConfig,
  type Output,
} from './helpers/pipeline.js';
import { groupPolicySpec } from './group-policy.js';
import { contentCases, type CorpusCase } from './helpers/table.js';

let nats: NatsPeer;
let minio: MinioPeer;
let clamd: TcpServicePeer;
let spamd: TcpServicePeer;
let bus: Bus;
let store: ObjectStore;
let scanner: Scanner | undefined;
let stopConfig: (() => Promise<void>) | undefined;

const key = dkimKey();
const resolver = tableResolver({
  'mm1._domainkey.signed.example': { TXT: [key.record] },
  '_dmarc.signed.example': { TXT: ['v=DMARC1; p=reject'] },
});

async function signedMessage(tamper: boolean): Promise<Buffer> {
  const raw = [
    'From: Wang Wu <wang.wu@signed.example>',
    'To: zhang.san@sh.company.local',
    'Subject: signed',
    'Date: Thu, 03 Dec 2026 10:00:00 +0800',
    'Message-ID: <signed@signed.example>',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Signed content.',
    '',
  ].join('\r\n');
  const sig = { signingDomain: 'signed.example', selector: 'mm1', privateKey: key.privateKey };
  const r = await dkimSign(raw, { ...sig, signatureData: [sig] });
  const out = r.signatures + raw;
  return Buffer.from(tamper ? out.replace('Signed content.', 'Changed content.') : out);
}

const eicar = Buffer.from(EICAR, 'latin1');
const av = `antivirus group-dlp/${EICAR_SIGNATURE} reject`;
const cases: Array<CorpusCase & { mailFrom?: string }> = [
  ...contentCases,
  {
    name: 'eicar-plain',
    message: () => mimeMessage({ attachments: [{ filename: 'eicar.com.txt', content: eicar }] }),
    verdict: 'reject',
    reasons: [av],
  },
  {
    name: 'eicar-zipped',
    message: async () =>
      mimeMessage({
        attachments: [
          { filename: 'docs.zip', content: await zip([{ name: 'eicar.txt', content: eicar }]) },
        ],
      }),
    verdict: 'reject',
    reasons: [av],
  },
  {
    name: 'eicar-null-sender',
    message: () => mimeMessage({ attachments: [{ filename: 'eicar.txt', content: eicar }] }),
    verdict: 'reject',
    reasons: [av],
    mailFrom: '',
  },
  {
    name: 'gtube',
    message: () => mimeMessage({ text: GTUBE }),
    verdict: 'reject',
    reasons: ['spam group-dlp/reject reject'],
  },
  {
    name: 'dkim-good',
    message: () => signedMessage(false),
    verdict: 'pass',
    reasons: [],
    mailFrom: 'wang.wu@signed.example',
  },
  {
    name: 'dkim-tampered',
    message: () => signedMessage(true),
    verdict: 'reject',
    reasons: ['dkim group-dlp/dkim pass', 'dmarc group-dlp/dmarc reject'],
    mailFrom: 'wang.wu@signed.example',
  },
];

const submitted = new Map<string, { mailId: string; c: (typeof cases)[number] }>();
let outputs: Output[] = [];

beforeAll(async () => {
  [nats, minio, clamd, spamd] = await Promise.all([
    startNats(),
    startMinio(),
    startClamd(),
    startSpamd(),
  ]);
  ({ bus, store } = await setup(nats, minio, 30_000));
  await writeConfig(
    bus,
    groupPolicySpec({
      antivirus: { action: 'reject', onError: 'tempfail' },
      // High thresholds keep the corpus's own scores out of the reasons; GTUBE scores 1000.
      spam: { tagScore: 50, junkScore: 100, quarantineScore: 500, rejectScore: 900 },
      authentication: { spf: 'report', dkim: 'report', dmarc: 'enforce' },
    }),
  );
  const config = watchConfig<ScannerConfig>(bus, buildScannerConfig);
  stopConfig = () => config.stop();
  await config.ready;
  scanner = await startScanner({
    bus,
    store,
    log: silentLogger(),
    config: () => config.current().value,
    deps: {
      clamd: createClamdClient({ host: clamd.host, port: clamd.port }),
      spamd: createSpamdClient({ host: spamd.host, port: spamd.port }),
      resolver,
    },
    instance: 'scanner-test-0',
    hostname: 'mx.sh.company.local',
  });
  for (const c of cases) {
    const s = await submit(bus, store, await c.message(), c.mailFrom ?? 'li.si@partner.example');
    submitted.set(c.name, { mailId: s.mailId, c });
  }
  const rejectedWithDsn = cases.filter((c) => c.verdict === 'reject' && c.mailFrom !== '').length;
  const expected = cases.filter((c) => c.verdict !== 'reject').length + rejectedWithDsn;
  outputs = await waitFor(
    `${expected} outputs`,
    async () => {
      const o = (await mailOutputs(bus)).filter((x) => x.subject !== subjects.accepted);
      const inputsLeft = (await mailOutputs(bus)).some((x) => x.subject === subjects.accepted);
      return o.length >= expected && !inputsLeft ? o : undefined;
    },
    120_000,
  );
}, 300_000);

afterAll(async () => {
  await scanner?.stop();
  await stopConfig?.();
  await bus?.close();
  await store?.close();
  await Promise.all([nats?.stop(), minio?.stop(), clamd?.stop(), spamd?.stop()]);
});

async function scannerEvent(mailId: string) {
  const m = await bus.jsm.streams.getMessage(streams.events.name, {
    last_by_subj: subjects.event('scanner', mailId),
  });
  if (!m) throw new Error(`no event for ${mailId}`);
  return fromBinary(DeliveryEventSchema, m.data);
}

const VERDICT: Record<string, Verdict> = {
  pass: Verdict.PASS,
  tag: Verdict.TAG,
  quarantine: Verdict.QUARANTINE,
  reject: Verdict.REJECT,
};

describe('scanner service over the corpus', () => {
  it.each(cases.map((c) => [c.name, c.verdict] as const))('%s -> %s', async (name) => {
    const { mailId, c } = submitted.get(name)!;
    const mine = outputs.filter((o) => o.mailId === mailId);
    const nonPass = (reasons: readonly string[]) => reasons.filter((r) => !r.endsWith(' pass'));
    if (c.verdict === 'reject') {
      // No verdict travels on: the sender gets a DSN (unless null), the trace an event.
      expect(mine).toEqual([]);
      const ev = await scannerEvent(mailId);
      expect(ev.outcome).toBe(Outcome.REJECTED);
      expect(ev.detail).toBe(
        nonPass(c.reasons)
          .map((r) => r.split(' ').slice(0, 2).join(':'))
          .join(', '),
      );
      const dsn = outputs.filter((o) => o.mailId === dsnMailId(mailId));
      if (c.mailFrom === '') {
        expect(dsn).toEqual([]);
        return;
      }
      expect(dsn).toHaveLength(1);
      const env = dsn[0]!.scan!.envelope!;
      expect([env.origin, env.mailFrom, env.recipients.map((r) => r.address)]).toEqual([
        Origin.DSN,
        '',
        [c.mailFrom ?? 'li.si@partner.example'],
      ]);
      const parsed = await simpleParser(await store.getBuffer(env.spool!.bucket, env.spool!.key));
      const first = nonPass(c.reasons)[0]!.split(' ')[1]!.split('/');
      expect(parsed.text).toContain(`policy ${first[0]}, rule ${first[1]}`);
      expect(parsed.headers.get('content-type')).toMatchObject({ value: 'multipart/report' });
      return;
    }
    expect(mine).toHaveLength(1);
    const out = mine[0]!;
    expect(out.subject).toBe(c.verdict === 'quarantine' ? subjects.quarantined : subjects.scanned);
    const scan = out.scan!;
    expect(scan.verdict).toBe(VERDICT[c.verdict]);
    const reasons = scan.reasons
      .filter((r) => r.check !== 'mime')
      .map((r) => `${r.check} ${r.rule} ${Object.keys(VERDICT)[r.action - 1]}`);
    expect(reasons).toEqual(c.reasons);
    expect(scan.scannerInstance).toBe('scanner-test-0');
    expect(scan.headersToAdd.map((h) => h.name)).toContain('Authentication-Results');
    if (c.verdict === 'quarantine') {
      const kept = await store.getBuffer(objectBuckets.quarantine, quarantineKey(mailId));
      expect(kept.equals(await c.message())).toBe(true);
    }
  });

  it('the good DKIM message carries dkim=pass in Authentication-Results', () => {
    const { mailId } = submitted.get('dkim-good')!;
    const ar = outputs
      .find((o) => o.mailId === mailId)
      ?.scan?.headersToAdd.find((h) => h.name === 'Authentication-Results');
    expect(ar?.value).toMatch(/^mx\.sh\.company\.local; dkim=pass .*dmarc=pass/);
  });

  it('every mail produced exactly its outputs, nothing twice', () => {
    const counts = new Map<string, number>();
    for (const o of outputs) counts.set(o.mailId, (counts.get(o.mailId) ?? 0) + 1);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
  });
});
