#!/usr/bin/env node
/**
 * Ingress acceptance benchmark: Mailmesh ingress (durable: S3 spool + JetStream
 * ack before 250) vs Haraka with `queue/discard` vs Postfix accepting into its
 * queue, in ONE run on the same machine with the same client:
 *
 *   smtp-source -s S -m N -l 5120 -r 1 -f load@bench.example -t sink@bench.local
 *
 * For each session count: a warm-up per system, then RUNS rounds in which every
 * system gets one run (the order rotates per round so drift of the shared machine
 * spreads evenly); medians. CPU per message is read from /proc for each system's
 * process trees (never the load generator's), sampled before the run and after
 * the system went idle again (Postfix's queue manager and the ingress's session
 * audit finish after the last reply). Every run is checked: smtp-source stops at
 * the first non-2xx reply, and the Mailmesh stream / Postfix queue must hold
 * exactly N messages afterwards.
 *
 *   npm run build -w @mailmesh/bench && npm run bench:ingress -w @mailmesh/bench
 *
 * Knobs (environment): BENCH_MESSAGES (2000), BENCH_WARMUP (500), BENCH_RUNS (3),
 * BENCH_SESSIONS ("10,50"), BENCH_MAX_SECONDS (1800, the whole run; what did not
 * fit is reported as missing), BENCH_SYSTEMS ("postfix,haraka,mailmesh"),
 * BENCH_INGRESS_NODE_ARGS (node flags for the ingress, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p"),
 * BENCH_OUT (results file; default bench/results/ingress-<date>.md).
 * Prints a markdown table and writes it, with every run's figures, to the results file.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binPath } from '@mailmesh/testkit';
import { run as runCmd, sleep, treeCpuMs } from './proc.js';
import { startHaraka } from './peers/haraka.js';
import { startMailmesh } from './peers/mailmesh.js';
import { startPostfix } from './peers/postfix.js';
import { resultsTable, runsTable, summarize, type Cell, type Run } from './report.js';
import { smtpSource } from './source.js';

const env = process.env;
const num = (name: string, dflt: number): number => {
  const v = Number(env[name] ?? dflt);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};
const MESSAGES = num('BENCH_MESSAGES', 2000);
const WARMUP = num('BENCH_WARMUP', 500);
const RUNS = num('BENCH_RUNS', 3);
const MAX_MS = num('BENCH_MAX_SECONDS', 1800) * 1000;
const SESSIONS = (env['BENCH_SESSIONS'] ?? '10,50').split(',').map(Number);
const WANTED = (env['BENCH_SYSTEMS'] ?? 'postfix,haraka,mailmesh').split(',');
const SIZE = 5120;
const DOMAIN = 'bench.local';
const MAILBOX = 'sink';
const FROM = 'load@bench.example';
const TO = `${MAILBOX}@${DOMAIN}`;

const NAMES = {
  postfix: 'Postfix (accept into queue)',
  haraka: 'Haraka queue/discard',
  mailmesh: 'Mailmesh ingress (durable)',
} as const;
type Key = keyof typeof NAMES;

interface Target {
  readonly key: Key;
  readonly port: number;
  /** Root pids: the main process tree, and every process of the system. */
  readonly main: () => readonly number[];
  readonly all: () => readonly number[];
  /** Untimed, before each run: empty queues/streams. */
  reset(): Promise<void>;
  /** Messages the system holds after a run; undefined when it keeps none (discard). */
  count(): Promise<number | undefined>;
  stop(): Promise<void>;
}

const cpuOf = (pids: readonly number[]): number => pids.reduce((s, p) => s + treeCpuMs(p), 0);

/** Waits until the system's processes are (nearly) idle: < 4% of a core over 250 ms, at most 10 s. */
async function settle(t: Target): Promise<void> {
  const until = Date.now() + 10_000;
  let prev = cpuOf(t.all());
  while (Date.now() < until) {
    await sleep(250);
    const now = cpuOf(t.all());
    if (now - prev <= 10) return;
    prev = now;
  }
}

const started = Date.now();
const deadline = started + MAX_MS;
const left = (): number => deadline - Date.now();

class TimeCapError extends Error {
  override readonly name = 'TimeCapError';
  constructor() {
    super(`BENCH_MAX_SECONDS (${MAX_MS / 1000}) reached`);
  }
}

async function send(port: number, sessions: number, messages: number): Promise<number> {
  const timeoutMs = Math.min(left(), 10 * 60_000);
  if (timeoutMs <= 1_000) throw new TimeCapError();
  const { elapsedMs } = await smtpSource({
    port,
    sessions,
    messages,
    size: SIZE,
    from: FROM,
    to: TO,
    timeoutMs,
  });
  return elapsedMs;
}

async function trial(t: Target, sessions: number): Promise<Run> {
  await t.reset();
  const main0 = cpuOf(t.main());
  const all0 = cpuOf(t.all());
  const elapsedMs = await send(t.port, sessions, MESSAGES);
  await settle(t);
  const main1 = cpuOf(t.main());
  const all1 = cpuOf(t.all());
  const held = await t.count();
  if (held !== undefined && held !== MESSAGES)
    throw new Error(`${NAMES[t.key]}: ${held} messages held after a run of ${MESSAGES}`);
  return { messages: MESSAGES, elapsedMs, mainCpuMs: main1 - main0, allCpuMs: all1 - all0 };
}

async function startTargets(): Promise<Target[]> {
  const targets: Target[] = [];
  try {
    if (WANTED.includes('postfix')) {
      const p = await startPostfix({ mode: 'accept' });
      targets.push({
        key: 'postfix',
        port: p.port,
        main: () => [p.masterPid()],
        all: () => [p.masterPid()],
        reset: () => p.purge(),
        count: () => p.queued(),
        stop: () => p.stop(),
      });
    }
    if (WANTED.includes('haraka')) {
      const h = await startHaraka({ domain: DOMAIN, logLevel: 'warn' });
      targets.push({
        key: 'haraka',
        port: h.port,
        main: () => [h.pid],
        all: () => [h.pid],
        reset: () => Promise.resolve(),
        count: () => Promise.resolve(undefined),
        stop: () => h.stop(),
      });
    }
    if (WANTED.includes('mailmesh')) {
      const m = await startMailmesh({
        domain: DOMAIN,
        mailbox: MAILBOX,
        senderDomain: 'bench.example',
        logLevel: 'warn',
        nodeArgs: (env['BENCH_INGRESS_NODE_ARGS'] ?? '').split(' ').filter(Boolean),
      });
      targets.push({
        key: 'mailmesh',
        port: m.port,
        main: () => m.pids().ingress,
        all: () => m.pids().all,
        reset: () => m.purge(),
        count: () => m.accepted(),
        stop: () => m.stop(),
      });
    }
  } catch (err) {
    await Promise.all(targets.map((t) => t.stop().catch(() => undefined)));
    throw err;
  }
  return targets;
}

async function versions(): Promise<string[]> {
  const out = async (cmd: string, args: string[]): Promise<string> => {
    try {
      const { stdout, stderr } = await runCmd(cmd, args, { timeoutMs: 10_000 });
      return (stdout || stderr).split('\n')[0]!.trim();
    } catch {
      return 'unknown';
    }
  };
  const require = createRequire(import.meta.url);
  const haraka = (
    JSON.parse(readFileSync(require.resolve('Haraka/package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
  return [
    `node ${process.version}`,
    `Postfix ${(await out('postconf', ['-d', '-h', 'mail_version'])) || 'unknown'}`,
    `Haraka ${haraka}`,
    await out(binPath('nats-server'), ['--version']),
    await out(binPath('minio'), ['--version']),
  ];
}

async function main(): Promise<void> {
  const load0 = loadavg();
  const targets = await startTargets();
  // Ctrl-C: stop every peer (their temp dirs go too) instead of leaving them behind.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      void Promise.all(targets.map((t) => t.stop().catch(() => undefined))).finally(() =>
        process.exit(130),
      );
    });
  }
  const cells: Cell[] = [];
  let note = '';
  try {
    outer: for (const sessions of SESSIONS) {
      const runs = new Map<Key, Run[]>(targets.map((t) => [t.key, []]));
      for (const t of targets)
        cells.push({ system: NAMES[t.key], sessions, runs: runs.get(t.key)! });
      try {
        for (const t of targets) {
          await t.reset();
          await send(t.port, sessions, WARMUP);
          await settle(t);
          console.error(`warm-up done: ${t.key} at ${sessions} sessions`);
        }
        for (let r = 0; r < RUNS; r++) {
          for (let i = 0; i < targets.length; i++) {
            const t = targets[(r + i) % targets.length]!;
            const result = await trial(t, sessions);
            runs.get(t.key)!.push(result);
            console.error(
              `${t.key} s=${sessions} run ${r + 1}: ${Math.round(
                (result.messages * 1000) / result.elapsedMs,
              )} msg/s, ${(result.allCpuMs / result.messages).toFixed(2)} CPU ms/msg`,
            );
          }
        }
      } catch (err) {
        if (!(err instanceof TimeCapError)) throw err;
        note = `Stopped early: ${err.message}; missing cells had no time left.`;
        break outer;
      }
    }
  } finally {
    await Promise.all(targets.map((t) => t.stop().catch(() => undefined)));
  }
  const load1 = loadavg();

  const summaries = cells.map(summarize).filter((s) => s !== undefined);
  const table = resultsTable(summaries, {
    systems: targets.map((t) => NAMES[t.key]),
    sessions: SESSIONS,
    baselines: [NAMES.postfix, NAMES.haraka].filter((b) => targets.some((t) => NAMES[t.key] === b)),
    mainProcess: { [NAMES.mailmesh]: 'ingress process', [NAMES.haraka]: 'haraka process' },
  });
  const date = new Date().toISOString().slice(0, 10);
  const cpu = cpus();
  const doc = [
    `# Ingress acceptance benchmark, ${date}`,
    '',
    `Command: \`npm run bench:ingress -w @mailmesh/bench\` (BENCH_MESSAGES=${MESSAGES}, ` +
      `BENCH_WARMUP=${WARMUP}, BENCH_RUNS=${RUNS}, BENCH_SESSIONS=${SESSIONS.join(',')}).`,
    `Load: \`smtp-source -s S -m ${MESSAGES} -l ${SIZE} -r 1 -f ${FROM} -t ${TO}\`, one message ` +
      `per connection; warm-up ${WARMUP} messages per system and session count, then ${RUNS} ` +
      'rounds (one run per system each, order rotating); medians.',
    '',
    table,
    '',
    'Main process: the Mailmesh ingress process alone (all processes adds nats-server and ' +
      "MinIO); Haraka runs in one process; Postfix's work is spread over master, smtpd, cleanup, " +
      'trivial-rewrite and qmgr, so only its whole tree is given. CPU is read from /proc ' +
      '(utime+stime, reaped children included) before each run and after the system is idle ' +
      'again; the load generator is not counted.',
    '',
    '## Setup',
    '',
    `- Machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, shared with other jobs ` +
      `(load average ${load0.map((x) => x.toFixed(1)).join(' ')} at start, ` +
      `${load1.map((x) => x.toFixed(1)).join(' ')} at the end): compare the ratios, not the ` +
      'absolute figures.',
    `- Versions: ${(await versions()).join('; ')}.`,
    '- Mailmesh: `services/ingress/dist/main.js` as its own process, log level warn, config ' +
      'from the KV bucket; per mail: body stored in the MinIO spool with SHA-256 (small bodies ' +
      'through the group commit of services/ingress/SPOOL.md: alone or in a segment shared with ' +
      'the mails that queued behind a write), SPF from a DNS table (pass, verdicts reused for ' +
      '30 s), protobuf envelope with the inline body copy published to `mail.accepted` and the ' +
      'JetStream ack awaited before `250`; one hash-chained session audit record per ' +
      'connection. nats-server and MinIO from @mailmesh/testkit (single node, file store / ' +
      'single drive).',
    '- Haraka: its own bin, `nodes=0`, `public_ip` set, a local `lookup_rdns` answer (no DNS), ' +
      '`rcpt_to.in_host_list` + `queue/discard` with `YES_REALLY_DO_DISCARD=1`, log level warn.',
    "- Postfix: the harness's temp-dir instance (`startPostfix({ mode: 'accept' })`, stock " +
      'process limits, `defer_transports` so mail stays queued), queue purged between runs.',
    ...(note ? ['', `**${note}**`] : []),
    '',
    '## Every run',
    '',
    runsTable(cells),
    '',
  ].join('\n');
  const file =
    env['BENCH_OUT'] ?? fileURLToPath(new URL(`../results/ingress-${date}.md`, import.meta.url));
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, doc);
  console.log(table);
  console.log(`\nwritten to ${file}`);
}

await main();
