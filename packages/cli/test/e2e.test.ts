/**
 * The README's run command end to end: `mailmesh dev` (what `npm run dev` execs) as a
 * child process on a free port range, mail sent with swaks to a local user, the mail
 * found in the mailbox store, a DLP quarantine, then SIGTERM with no child left.
 * A second run on the same data dir finds the mail still there, refuses an invalid
 * config edit (the old config stays live), publishes a valid one, and stops everything
 * when a child crashes, naming it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KV } from '@nats-io/kv';
import { buildSnapshot } from '@mailmesh/config';
import { kvBuckets, objectBuckets, quarantineKey } from '@mailmesh/proto';
import { connectBus, connectObjectStore, type Bus, type ObjectStore } from '@mailmesh/runtime';

import { discoverServices } from '../src/dev/workspace.js';
import { readLive, type DevState } from '../src/index.js';
import { bin, domainSpec, exampleCopy, freeBase, repoRoot, type ConfigDir } from './helpers.js';

/** A running `mailmesh dev` and everything it printed so far. */
class Dev {
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  constructor(readonly proc: ChildProcess) {
    proc.stdout?.setEncoding('utf8').on('data', (s: string) => (this.stdout += s));
    proc.stderr?.setEncoding('utf8').on('data', (s: string) => (this.stderr += s));
    this.exited = new Promise((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  }

  /** Waits (bounded) until `test` holds for the output, or fails with the output so far. */
  async waitFor(what: string, test: () => boolean, timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    let gone = false;
    void this.exited.then(() => (gone = true));
    while (!test()) {
      if (gone || Date.now() > until) {
        throw new Error(
          `${gone ? 'mailmesh dev exited' : 'timed out'} waiting for ${what}\n--- stdout\n${this.stdout}\n--- stderr\n${this.stderr}`,
        );
      }
      await sleep(200);
    }
  }
}

function startDev(args: readonly string[]): Dev {
  return new Dev(
    spawn(process.execPath, [bin, 'dev', ...args], {
      cwd: repoRoot,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

/** A pid that still names a live (not zombie) process. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function swaks(
  port: number,
  args: readonly string[],
): { code: number; out: string; mailId: string | undefined } {
  const r = spawnSync('swaks', ['--server', `127.0.0.1:${port}`, '--timeout', '30', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  const out = `${r.stdout}${r.stderr}`;
  return {
    code: r.status ?? 1,
    out,
    mailId: /<- {2}250 2\.0\.0 .*queued as ([0-9A-HJKMNP-TV-Z]{26})/.exec(out)?.[1],
  };
}

/** `zhang.san@sh.company.local` -> `zhang=2Esan=40sh=2Ecompany=2Elocal` (the mailbox store's key token). */
const keyToken = (s: string): string =>
  [...Buffer.from(s, 'utf8')]
    .map((b) => {
      const c = String.fromCharCode(b);
      return /[A-Za-z0-9_-]/.test(c) ? c : `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');

interface MessageEntry {
  readonly mailId: string;
  readonly body: { readonly bucket: string; readonly key: string };
}

/** Index entries of a mailbox folder in the `mailmesh-mailbox` bucket. */
async function folder(kv: KV, address: string, name = 'INBOX'): Promise<MessageEntry[]> {
  const out: MessageEntry[] = [];
  const keys: string[] = [];
  for await (const k of await kv.keys(`msg.${keyToken(address)}.${keyToken(name)}.>`)) keys.push(k);
  for (const k of keys) {
    const e = await kv.get(k);
    if (e?.operation === 'PUT')
      out.push(JSON.parse(new TextDecoder().decode(e.value)) as MessageEntry);
  }
  return out;
}

async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

const READY_MS = 300_000;

describe('mailmesh dev (the README run command)', () => {
  let data: string;
  let base: number;
  let dev: Dev | undefined;
  let state: DevState;
  let bus: Bus | undefined;
  let store: ObjectStore | undefined;
  let mailbox: KV;
  let deliveredId: string | undefined;
  const unique = `e2e-${Date.now()}`;

  beforeAll(async () => {
    data = await mkdtemp(join(tmpdir(), 'mailmesh-dev-e2e-'));
    base = await freeBase();
    dev = startDev(['--data', data, '--port-base', String(base)]);
    await dev.waitFor(
      '"mailmesh ready"',
      () => /^mailmesh ready$/m.test(dev?.stdout ?? ''),
      READY_MS,
    );
    state = JSON.parse(await readFile(join(data, 'dev.json'), 'utf8')) as DevState;
    bus = await connectBus({ servers: state.natsUrl, name: 'cli-e2e' });
    mailbox = await bus.kv(kvBuckets.mailbox);
    const creds = JSON.parse(await readFile(state.credentialsFile, 'utf8')) as {
      accessKey: string;
      secretKey: string;
    };
    store = connectObjectStore({ endpoint: state.s3Endpoint, ...creds });
  }, READY_MS + 30_000);

  afterAll(async () => {
    await bus?.close();
    await store?.close();
    if (dev && dev.proc.exitCode === null && dev.proc.signalCode === null) {
      dev.proc.kill('SIGTERM');
      await Promise.race([dev.exited, sleep(60_000)]);
    }
    if (process.env['MAILMESH_KEEP_PEERS'] === undefined)
      await rm(data, { recursive: true, force: true });
  }, 90_000);

  it('printed the endpoint table with the --port-base ports, then exactly "mailmesh ready" last', () => {
    const out = dev?.stdout ?? '';
    expect(out).toContain(`smtp://127.0.0.1:${base + 25}`);
    expect(out).toContain(`smtp://127.0.0.1:${base + 587}`);
    expect(out).toContain(`smtps://127.0.0.1:${base + 465}`);
    expect(out).toContain(`imap://127.0.0.1:${base + 143}`);
    expect(out).toContain(`pop3://127.0.0.1:${base + 110}`);
    expect(out).toContain(`http://127.0.0.1:${base + 80}/v1`);
    expect(out.trimEnd().split('\n').at(-1)).toBe('mailmesh ready');
    // Every service of this checkout that has an entry point was built and started.
    for (const s of discoverServices(repoRoot)) {
      if (s.missing !== undefined && !s.missing.startsWith('not built')) continue;
      expect(s.missing, s.name).toBeUndefined();
      expect(state.children.map((c) => c.name)).toContain(s.name);
    }
    // Every child it reports is alive.
    expect(state.children.map((c) => c.name)).toEqual(
      expect.arrayContaining(['nats-server', 'minio', 'ingress']),
    );
    for (const c of state.children) expect(running(c.pid), c.name).toBe(true);
  });

  it('published the example config and the platform document', async () => {
    const live = await readLive(await (bus as Bus).kv(kvBuckets.config));
    const snapshot = buildSnapshot(new Map([...live].map(([k, e]) => [k, e.value])));
    expect([...snapshot.domains.keys()].sort()).toEqual([
      'bj.company.local',
      'company.local',
      'sh.company.local',
    ]);
    expect(snapshot.platform?.listeners.map((l) => l.addresses[0])).toEqual([
      `127.0.0.1:${base + 25}`,
      `127.0.0.1:${base + 587}`,
      `127.0.0.1:${base + 465}`,
    ]);
    expect(snapshot.platform?.tls.certFile).toBe(join(data, 'tls', 'cert.pem'));
  });

  it('accepts mail for a local user with 250 and stores it in the mailbox', async () => {
    const sent = swaks(base + 25, [
      '--from',
      'wang.wu@company.local',
      '--to',
      'zhang.san@sh.company.local',
      '--header',
      `Subject: ${unique}`,
      '--body',
      'Hello from the walkthrough.',
    ]);
    expect(sent.out).toMatch(/<- {2}250 2\.0\.0 /);
    expect(sent.code).toBe(0);
    expect(sent.mailId).toBeDefined();
    deliveredId = sent.mailId;
    if (!state.children.some((c) => c.name === 'delivery')) return; // stored only once delivery exists
    const entry = await eventually('the mail in zhang.san INBOX', async () =>
      (await folder(mailbox, 'zhang.san@sh.company.local')).find((m) => m.mailId === sent.mailId),
    );
    const body = (
      await (store as ObjectStore).getBuffer(entry.body.bucket, entry.body.key)
    ).toString('utf8');
    expect(body).toContain(`Subject: ${unique}`);
    expect(body).toContain('Hello from the walkthrough.');
  }, 120_000);

  it('quarantines mail that trips the group DLP policy instead of delivering it', async () => {
    if (!state.children.some((c) => c.name === 'scanner')) return;
    const sent = swaks(base + 25, [
      '--from',
      'wang.wu@company.local',
      '--to',
      'zhang.san@sh.company.local',
      '--header',
      `Subject: ${unique} contract`,
      '--body',
      '附件是机密合同，请勿外传。',
    ]);
    expect(sent.code).toBe(0);
    const mailId = sent.mailId as string;
    await eventually('the quarantined body', async () =>
      (await (store as ObjectStore).exists(objectBuckets.quarantine, quarantineKey(mailId)))
        ? true
        : undefined,
    );
    const inbox = await folder(mailbox, 'zhang.san@sh.company.local');
    expect(inbox.some((m) => m.mailId === mailId)).toBe(false);
  }, 120_000);

  it('SIGTERM stops every child and exits 0', async () => {
    const d = dev as Dev;
    d.proc.kill('SIGTERM');
    const exit = await Promise.race([d.exited, sleep(90_000).then(() => undefined)]);
    expect(exit, d.stdout + d.stderr).toEqual({ code: 0, signal: null });
    for (const c of state.children)
      expect(running(c.pid), `${c.name} (pid ${c.pid}) still running`).toBe(false);
    if (state.watchdogPid !== undefined) {
      await eventually(
        'the watchdog to exit',
        () => Promise.resolve(running(state.watchdogPid as number) ? undefined : true),
        10_000,
      );
    }
    expect(d.stdout).toMatch(/stopped ingress in /);
    expect(d.stdout.indexOf('stopped ingress')).toBeLessThan(
      d.stdout.indexOf('stopped nats-server'),
    );
  }, 120_000);

  describe('a second run on the same data dir, with an editable config', () => {
    let cfg: ConfigDir;
    let second: Dev;
    let config: KV;

    beforeAll(async () => {
      cfg = await exampleCopy();
      second = startDev(['--data', data, '--port-base', String(base), '--config', cfg.dir]);
      await second.waitFor(
        '"mailmesh ready"',
        () => /^mailmesh ready$/m.test(second.stdout),
        READY_MS,
      );
      state = JSON.parse(await readFile(join(data, 'dev.json'), 'utf8')) as DevState;
      await bus?.close();
      bus = await connectBus({ servers: state.natsUrl, name: 'cli-e2e-2' });
      mailbox = await bus.kv(kvBuckets.mailbox);
      config = await bus.kv(kvBuckets.config);
    }, READY_MS + 30_000);

    afterAll(async () => {
      if (second && second.proc.exitCode === null && second.proc.signalCode === null) {
        second.proc.kill('SIGTERM');
        await Promise.race([second.exited, sleep(60_000)]);
      }
      await cfg?.remove();
    }, 90_000);

    it('kept the TLS certificate, the config and the delivered mail', async () => {
      expect(second.stdout).toContain('kept from an earlier run');
      expect(second.stdout).toMatch(/config published: .*6 unchanged/);
      if (deliveredId !== undefined && state.children.some((c) => c.name === 'delivery')) {
        const inbox = await folder(mailbox, 'zhang.san@sh.company.local');
        expect(inbox.map((m) => m.mailId)).toContain(deliveredId);
      }
    });

    it('refuses an invalid edit with its field path and keeps the live config; publishes a valid one', async () => {
      const before = Object.fromEntries(
        [...(await readLive(config))].map(([k, e]) => [k, e.revision]),
      );
      await cfg.docs('domains.yaml', (d) => {
        domainSpec(d, 'bj').policies = ['group-dlp', 'no-such-policy'];
      });
      await second.waitFor('the refusal', () => second.stderr.includes('config refused'), 30_000);
      expect(second.stderr).toMatch(
        /domains\.yaml:\d+:\d+: MailDomain mail\/bj spec\.policies\[1\]: MailPolicy "no-such-policy" not found/,
      );
      expect(
        Object.fromEntries([...(await readLive(config))].map(([k, e]) => [k, e.revision])),
      ).toEqual(before);

      await cfg.docs('domains.yaml', (d) => {
        const bj = domainSpec(d, 'bj');
        bj.policies = ['group-dlp', 'internal-only'];
        bj.domainAliases = ['beijing.company.local'];
      });
      await second.waitFor(
        'the reload',
        () => /config reloaded \(change\): .*1 updated/.test(second.stdout),
        30_000,
      );
      const live = await readLive(config);
      const bj = buildSnapshot(new Map([...live].map(([k, e]) => [k, e.value]))).domains.get(
        'bj.company.local',
      );
      expect(bj?.aliases).toEqual(['beijing.company.local']);
    }, 90_000);

    it('a crashed child stops everything, naming the child and its log, and exits 1', async () => {
      const victim =
        state.children.find((c) => c.name === 'router') ??
        state.children.find((c) => c.name === 'minio');
      expect(victim).toBeDefined();
      const v = victim as { name: string; pid: number };
      process.kill(v.pid, 'SIGKILL');
      const exit = await Promise.race([second.exited, sleep(90_000).then(() => undefined)]);
      expect(exit).toEqual({ code: 1, signal: null });
      expect(second.stderr).toMatch(
        new RegExp(
          `mailmesh dev: ${v.name} exited on SIGKILL \\(log: .*${v.name}\\.log\\); stopped everything`,
        ),
      );
      for (const c of state.children)
        expect(running(c.pid), `${c.name} (pid ${c.pid}) still running`).toBe(false);
    }, 120_000);
  });
});
