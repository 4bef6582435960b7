/**
 * The inline (before-queue) responder against real NATS and MinIO: requests as
 * ingress sends them (body already in the spool), replies decoded and validated
 * with the wire contract, and the proof that it publishes and stores nothing.
 */
import { createHash } from 'node:crypto';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { timestampNow } from '@bufbuild/protobuf/wkt';
import { encodeConfigValue } from '@mailmesh/config';
import {
  EnvelopeSchema,
  InlineScanReplySchema,
  InlineScanRequestSchema,
  Listener,
  Origin,
  Verdict,
  configKeys,
  kvBuckets,
  natsHeaders,
  objectBuckets,
  schemas,
  spoolKey,
  streams,
  subjects,
  type Envelope,
  type InlineScanReply,
} from '@mailmesh/proto';
import {
  createRegistry,
  injectTrace,
  newMailId,
  silentLogger,
  watchConfig,
  type Bus,
  type ObjectStore,
  type Registry,
} from '@mailmesh/runtime';
import { startMinio, startNats, type MinioPeer, type NatsPeer } from '@mailmesh/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { buildScannerConfig, type ScannerConfig } from '../src/config.js';
import { tableResolver } from '../src/dns.js';
import { startInlineResponder, type InlineResponder } from '../src/inline.js';
import { corpusFile } from './helpers/corpus.js';
import { setup, writeConfig } from './helpers/pipeline.js';
import { groupPolicySpec } from './group-policy.js';

let nats: NatsPeer;
let minio: MinioPeer;
let bus: Bus;
let store: ObjectStore;
let config: ReturnType<typeof watchConfig<ScannerConfig>>;
let responder: InlineResponder;
const resolver = tableResolver({});

beforeAll(async () => {
  [nats, minio] = await Promise.all([startNats(), startMinio()]);
  ({ bus, store } = await setup(nats, minio, 30_000));
  // Antivirus with onError tempfail and no clamd: only for recipients of the
  // second domain, so the other tests get verdicts.
  await writeConfig(bus, groupPolicySpec());
  const kv = await bus.kv(kvBuckets.config);
  await kv.put(
    configKeys.policy('av-strict'),
    encodeConfigValue({
      name: 'av-strict',
      direction: 'any',
      spec: { antivirus: { action: 'reject', onError: 'tempfail' } },
    }),
  );
  await kv.put(
    configKeys.domain('bj.company.local'),
    encodeConfigValue({ domain: 'bj.company.local', policies: ['av-strict'] }),
  );
  config = watchConfig<ScannerConfig>(bus, buildScannerConfig);
  await config.ready;
  for (let i = 0; i < 100 && !config.current().value.policies.has('av-strict'); i++)
    await new Promise((r) => setTimeout(r, 50));
  responder = await startInlineResponder({
    bus,
    store,
    log: silentLogger(),
    config: () => config.current().value,
    deps: { resolver },
    instance: 'scanner-inline-0',
    hostname: 'mx.sh.company.local',
  });
}, 180_000);

afterAll(async () => {
  await responder?.stop();
  await config?.stop();
  await bus?.close();
  await store?.close();
  await Promise.all([nats?.stop(), minio?.stop()]);
});

/** What ingress does before it asks: the body in the spool, an envelope for it. */
async function stored(raw: Buffer, rcpt = 'zhang.san@sh.company.local'): Promise<Envelope> {
  const mailId = newMailId();
  const key = spoolKey(mailId);
  await store.put(objectBuckets.spool, key, raw, { size: raw.length });
  return create(EnvelopeSchema, {
    mailId,
    receivedAt: timestampNow(),
    origin: Origin.SMTP,
    listener: Listener.MX,
    client: { ip: '203.0.113.7', port: 41000, helo: 'mx.partner.example' },
    mailFrom: 'li.si@partner.example',
    recipients: [{ address: rcpt }],
    size: BigInt(raw.length),
    sha256: createHash('sha256').update(raw).digest('hex'),
    spool: { bucket: objectBuckets.spool, key },
  });
}

async function ask(
  envelope: Envelope | undefined,
  opts: { deadlineMs?: number; timeoutMs?: number } = {},
): Promise<InlineScanReply> {
  const req = create(InlineScanRequestSchema, {
    ...(envelope ? { envelope } : {}),
    deadlineMs: opts.deadlineMs ?? 20_000,
  });
  const h = injectTrace();
  h.set(natsHeaders.schema, schemas.InlineScanRequest.typeName);
  const m = await bus.nc.request(subjects.inlineScan, toBinary(InlineScanRequestSchema, req), {
    timeout: opts.timeoutMs ?? 20_000,
    headers: h,
  });
  expect(m.headers?.get(natsHeaders.schema)).toBe(schemas.InlineScanReply.typeName);
  return fromBinary(InlineScanReplySchema, m.data);
}

const reasons = (r: InlineScanReply): string[] =>
  r.reasons.map((x) => `${x.check} ${x.rule} ${Verdict[x.action].toLowerCase()}`);

async function mailStreamMessages(): Promise<number> {
  return (await bus.jsm.streams.info(streams.mail.name)).state.messages;
}

async function quarantineCount(): Promise<number> {
  let n = 0;
  for await (const _ of store.list(objectBuckets.quarantine)) n++;
  return n;
}

describe('inline scan responder', () => {
  it('rejects a blocked attachment with its policy and rule', async () => {
    const env = await stored(corpusFile('attach-rfc2231-double-ext.eml'));
    const r = await ask(env);
    expect(schemas.InlineScanReply.validate(r)).toEqual([]);
    expect(r.mailId).toBe(env.mailId);
    expect(r.verdict).toBe(Verdict.REJECT);
    expect(r.error).toBe('');
    expect(reasons(r)).toEqual(['attachment group-dlp/blocked-extension reject']);
    expect(r.scannerInstance).toBe('scanner-inline-0');
  });

  it('rejects a DLP subject hit, passes clean mail, quarantines a DLP body hit', async () => {
    const reject = await ask(await stored(corpusFile('dlp-subject-reject.eml')));
    expect(reject.verdict).toBe(Verdict.REJECT);
    expect(reasons(reject)).toEqual(['dlp group-dlp/top-secret reject']);
    // Evidence is redacted in the reply too (never the full hit).
    expect(reject.reasons[0]?.detail).not.toContain('绝密');

    const clean = await ask(await stored(corpusFile('clean.eml')));
    expect(clean.verdict).toBe(Verdict.PASS);
    expect(clean.reasons).toEqual([]);

    const q = await ask(await stored(corpusFile('dlp-utf8-hit.eml')));
    expect(q.verdict).toBe(Verdict.QUARANTINE);
    expect(reasons(q)).toEqual(['dlp group-dlp/contract-terms quarantine']);
  });

  it('publishes nothing and stores nothing itself', async () => {
    const before = await mailStreamMessages();
    const r = await ask(await stored(corpusFile('dlp-utf8-hit.eml')));
    expect(r.verdict).toBe(Verdict.QUARANTINE);
    expect(await mailStreamMessages()).toBe(before);
    expect(await quarantineCount()).toBe(0);
  });

  it('a body that differs from the envelope hash is quarantined, as after queue', async () => {
    const env = await stored(corpusFile('clean.eml'));
    env.sha256 = '0'.repeat(64);
    const r = await ask(env);
    expect(r.verdict).toBe(Verdict.QUARANTINE);
    expect(reasons(r)).toEqual(['mime spool-integrity quarantine']);
  });

  it('answers an error, not a verdict, when a check is down under onError tempfail', async () => {
    const r = await ask(await stored(corpusFile('clean.eml'), 'wang.wu@bj.company.local'));
    expect(schemas.InlineScanReply.validate(r)).toEqual([]);
    expect(r.verdict).toBe(Verdict.UNSPECIFIED);
    expect(r.error).toBe('antivirus unavailable: no clamd configured');
  });

  it('answers an error when the body is not in the spool', async () => {
    const env = await stored(corpusFile('clean.eml'));
    await store.delete(objectBuckets.spool, env.spool!.key);
    const r = await ask(env);
    expect(r.verdict).toBe(Verdict.UNSPECIFIED);
    expect(r.error).toMatch(/^spool body unavailable: /);
  });

  it('answers an error to an invalid request', async () => {
    const r = await ask(undefined);
    expect(r.verdict).toBe(Verdict.UNSPECIFIED);
    expect(r.error).toBe('invalid request: envelope is required');
    const env = await stored(corpusFile('clean.eml'));
    const r2 = await ask(env, { deadlineMs: 0 });
    expect(r2.error).toBe('invalid request: deadlineMs must be greater than 0');
  });
});

describe('queue group and back-pressure', () => {
  it('each request is answered by exactly one of several responders', async () => {
    const second = await startInlineResponder({
      bus,
      store,
      log: silentLogger(),
      config: () => config.current().value,
      deps: { resolver },
      instance: 'scanner-inline-1',
      hostname: 'mx.sh.company.local',
    });
    try {
      // A raw inbox instead of request(): it would show a second reply to one request.
      const inbox = bus.nc.subscribe('_INBOX.inline-test.>');
      const replies: InlineScanReply[] = [];
      const collecting = (async () => {
        for await (const m of inbox) replies.push(fromBinary(InlineScanReplySchema, m.data));
      })();
      const n = 16;
      const raw = corpusFile('clean.eml');
      const envs = await Promise.all(Array.from({ length: n }, () => stored(raw)));
      envs.forEach((env, i) => {
        const req = create(InlineScanRequestSchema, { envelope: env, deadlineMs: 20_000 });
        bus.nc.publish(subjects.inlineScan, toBinary(InlineScanRequestSchema, req), {
          reply: `_INBOX.inline-test.${i}`,
        });
      });
      for (let i = 0; i < 200 && replies.length < n; i++)
        await new Promise((r) => setTimeout(r, 50));
      // A moment more for any duplicate to show up.
      await bus.nc.flush();
      await new Promise((r) => setTimeout(r, 300));
      inbox.unsubscribe();
      await collecting;
      expect(replies.map((r) => r.mailId).sort()).toEqual(envs.map((e) => e.mailId).sort());
      expect(replies.every((r) => r.verdict === Verdict.PASS)).toBe(true);
      // Random spreading over two members: all 16 on one has probability 2^-15.
      expect(new Set(replies.map((r) => r.scannerInstance))).toEqual(
        new Set(['scanner-inline-0', 'scanner-inline-1']),
      );
    } finally {
      await second.stop();
    }
  });

  it('a full queue answers "overloaded" at once; a request that waited past its deadline is dropped', async () => {
    // The other responders are stopped, so every request reaches this one.
    await responder.stop();
    let t = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inGate = new Promise<void>((r) => (entered = r));
    // The real MinIO store; only its getBuffer is held until the test lets go.
    const held = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop !== 'getBuffer') return Reflect.get(target, prop, receiver) as unknown;
        return async (...args: Parameters<ObjectStore['getBuffer']>) => {
          entered();
          await gate;
          return target.getBuffer(...args);
        };
      },
    });
    const registry: Registry = createRegistry('scanner-test', { defaultMetrics: false });
    const slow = await startInlineResponder({
      bus,
      store: held,
      log: silentLogger(),
      config: () => config.current().value,
      deps: { resolver },
      instance: 'scanner-inline-2',
      hostname: 'mx.sh.company.local',
      concurrency: 1,
      maxQueued: 1,
      now: () => t,
      registry,
    });
    try {
      const raw = corpusFile('clean.eml');
      const [a, b, c] = await Promise.all([stored(raw), stored(raw), stored(raw)]);
      const first = ask(a, { deadlineMs: 60_000 });
      await inGate;
      const second = ask(b, { deadlineMs: 1_000, timeoutMs: 3_000 });
      // Requests on one subscription arrive in order: once c is answered, b is queued.
      const third = await ask(c);
      expect(third.error).toBe('scanner overloaded');
      expect(third.mailId).toBe(c.mailId);
      t += 5_000;
      release();
      expect((await first).verdict).toBe(Verdict.PASS);
      // Nobody answered b: the requester's own timeout ends it.
      await expect(second).rejects.toMatchObject({ name: 'TimeoutError' });
      const metric = await registry
        .getSingleMetric('mailmesh_scanner_inline_requests_total')
        ?.get();
      const byOutcome = Object.fromEntries(
        (metric?.values ?? []).map((v) => [String(v.labels['outcome']), v.value]),
      );
      expect(byOutcome).toEqual({ pass: 1, overloaded: 1, expired: 1 });
    } finally {
      release();
      await slow.stop();
    }
  });
});
