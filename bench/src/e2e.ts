#!/usr/bin/env node
/**
 * End-to-end benchmark (issue 5): SMTP in -> delivered, Mailmesh vs Postfix in ONE
 * run on the same machine, with the same client and the same sink:
 *
 *   smtp-source -s S -m N -l 5120 -r 1  ->  system  ->  smtp-sink (or a mailbox)
 *
 * Systems: Postfix relaying to the sink (ANCHORS.md settings); Mailmesh (ingress,
 * scanner, router, delivery as child processes over real nats-server + MinIO)
 * relaying outbound mail of bench.local through its smart host = the sink; the
 * same Mailmesh delivering inbound mail into a local mailbox. Completion = the
 * sink's counter (or the mailbox's INBOX count) reaches N. Per session count: one
 * warm-up per system, then RUNS rounds, each system once per round, the order
 * rotating; medians. CPU per message per process from /proc (the load generator
 * and the sink are not counted). Latency = delivered (sink dump file mtime, mailbox
 * entry INTERNALDATE) minus accepted (the queue record's receivedAt, set when the
 * body is stored, just before the publish ack and the 250).
 *
 * Phase 2 (smaller): the same Mailmesh with clamd + spamd (testkit) in the policy.
 *
 *   npx turbo run build --filter=@mailmesh/bench... && npm run bench:e2e -w @mailmesh/bench
 *
 * Knobs (environment): BENCH_MESSAGES (1000), BENCH_WARMUP (500), BENCH_RUNS (3),
 * BENCH_SESSIONS ("10,50"), BENCH_MAX_SECONDS (1500, whole run; what does not fit is
 * reported missing), BENCH_DAEMON_MESSAGES (150; 0 skips phase 2),
 * BENCH_DAEMON_SESSIONS ("10"), BENCH_DAEMON_RUNS (1), BENCH_E2E_PROFILE (services to
 * run under node --cpu-prof, e.g. "delivery,scanner"; profiles are kept in a temp dir),
 * BENCH_SYSTEMS ("postfix,mailmesh-sink,mailmesh-mailbox"), BENCH_PROBE (30 mails sent one at a
 * time for the latency without load; 0 skips), BENCH_OUT (results file; default
 * bench/results/e2e-<date>.md).
 * Writes the results file and prints it.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { sleep, treeCpuMs } from './proc.js';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startClamd, startSpamd, type TcpServicePeer } from '@mailmesh/testkit';
import { startPostfix, type PostfixPeer } from './peers/postfix.js';
import {
  processNames,
  serviceNames,
  startPlatform,
  type Platform,
  type ServiceName,
} from './e2e/platform.js';
import {
  cpuTable,
  opsTable,
  percentile,
  runsTable,
  throughputTable,
  type Cell,
} from './e2e/report.js';
import { startDumpSink, type DumpSink } from './e2e/sink.js';
import {
  mailmeshMailboxTarget,
  mailmeshSinkTarget,
  postfixTarget,
  type Target,
} from './e2e/trial.js';

const env = process.env;
const num = (name: string, dflt: number, min = 1): number => {
  const v = Number(env[name] ?? dflt);
  if (!Number.isFinite(v) || v < min) throw new Error(`${name} must be a number >= ${min}`);
  return v;
};
const list = (name: string, dflt: string): number[] =>
  (env[name] ?? dflt)
    .split(',')
    .filter((s) => s.trim() !== '')
    .map(Number);

const MESSAGES = num('BENCH_MESSAGES', 1000);
const WARMUP = num('BENCH_WARMUP', 500);
const RUNS = num('BENCH_RUNS', 3);
const SESSIONS = list('BENCH_SESSIONS', '10,50');
const MAX_MS = num('BENCH_MAX_SECONDS', 1500) * 1000;
const DAEMON_MESSAGES = num('BENCH_DAEMON_MESSAGES', 150, 0);
const DAEMON_SESSIONS = list('BENCH_DAEMON_SESSIONS', '10');
const DAEMON_RUNS = num('BENCH_DAEMON_RUNS', 1);
const PROFILE = (env['BENCH_E2E_PROFILE'] ?? '')
  .split(',')
  .map((s) => s.trim())
  .filter((s): s is ServiceName => (serviceNames as readonly string[]).includes(s));
const SYSTEMS = (env['BENCH_SYSTEMS'] ?? 'postfix,mailmesh-sink,mailmesh-mailbox').split(',');
const PROBE = num('BENCH_PROBE', 30, 0);
const RUN_BOXES = Array.from({ length: 64 }, (_, i) => `box${String(i + 1).padStart(2, '0')}`);
const PROBE_BOX = 'probe';
const MAILBOXES = [...RUN_BOXES, PROBE_BOX];

const started = Date.now();
const deadline = started + MAX_MS;
const left = (): number => deadline - Date.now();
const log = (msg: string): void => {
  process.stderr.write(`[e2e +${Math.round((Date.now() - started) / 1000)}s] ${msg}\n`);
};

let sink: DumpSink | undefined;
let postfix: PostfixPeer | undefined;
let platform: Platform | undefined;
let daemons: { clamd: TcpServicePeer; spamd: TcpServicePeer } | undefined;
const profileDir = PROFILE.length > 0 ? mkdtempSync(join(tmpdir(), 'mm-bench-prof-')) : undefined;

async function cleanup(): Promise<void> {
  await platform?.stop().catch((e: unknown) => log(`platform stop: ${String(e)}`));
  platform = undefined;
  await Promise.all([daemons?.clamd.stop(), daemons?.spamd.stop()]).catch(() => undefined);
  daemons = undefined;
  await postfix?.stop().catch(() => undefined);
  postfix = undefined;
  await sink?.stop().catch(() => undefined);
  sink = undefined;
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`${sig}: stopping every peer`);
    void cleanup().finally(() => process.exit(130));
  });
}

const cells: Cell[] = [];
const idleLines: string[] = [];
const probes: { phase: string; label: string; latencies: number[] }[] = [];

/** Background CPU of the idle system (timers, heartbeats, MinIO's scanner): ms per second. */
async function idleCpu(
  phase: string,
  pids: Readonly<Record<string, number | undefined>>,
): Promise<void> {
  const sample = (): Record<string, number> =>
    Object.fromEntries(
      Object.entries(pids).map(([k, p]) => [k, p !== undefined && p > 0 ? treeCpuMs(p) : 0]),
    );
  const a = sample();
  const t0 = performance.now();
  await sleep(5_000);
  const b = sample();
  const secs = (performance.now() - t0) / 1000;
  idleLines.push(
    `- ${phase}: ${Object.keys(b)
      .map((k) => `${k} ${((b[k]! - (a[k] ?? 0)) / secs).toFixed(1)}`)
      .join(', ')} (CPU ms per second, idle, 5 s)`,
  );
}
const cellOf = (phase: string, t: Target, sessions: number): Cell => {
  let c = cells.find((x) => x.phase === phase && x.target === t.key && x.sessions === sessions);
  if (!c) {
    c = { phase, target: t.key, label: t.label, sessions, runs: [], errors: [] };
    cells.push(c);
  }
  return c;
};

/** Warm-up, then `runs` rounds per session count with the order of targets rotating. */
async function measurePhase(
  phase: string,
  targets: readonly Target[],
  sessions: readonly number[],
  messages: number,
  warmup: number,
  runs: number,
): Promise<void> {
  for (const t of targets) {
    if (left() < 10_000) return;
    log(`${phase}: warm-up ${t.label}, ${warmup} messages`);
    try {
      await t.trial(sessions[0] ?? 10, warmup, Math.min(left(), 10 * 60_000));
    } catch (err) {
      log(`${phase}: warm-up of ${t.label} failed: ${(err as Error).message}`);
    }
  }
  for (const t of targets) {
    if (!t.probe || PROBE === 0 || left() < 60_000) continue;
    log(`${phase}: unloaded latency of ${t.label}, ${PROBE} mails one at a time`);
    try {
      probes.push({ phase, label: t.label, latencies: await t.probe(PROBE, 120_000) });
    } catch (err) {
      log(`${phase}: probe of ${t.label} failed: ${(err as Error).message}`);
    }
  }
  for (const s of sessions) {
    for (let round = 0; round < runs; round++) {
      for (let i = 0; i < targets.length; i++) {
        const t = targets[(i + round) % targets.length]!;
        const cell = cellOf(phase, t, s);
        if (left() < 10_000) {
          cell.errors.push('skipped: BENCH_MAX_SECONDS reached');
          continue;
        }
        try {
          const r = await t.trial(s, messages, Math.min(left(), 10 * 60_000));
          cell.runs.push(r);
          log(
            `${phase}: ${t.label} s=${s} run ${round + 1}: ${Math.round((r.messages * 1000) / r.elapsedMs)} msg/s` +
              (r.notes.length > 0 ? ` (${r.notes.join('; ')})` : ''),
          );
        } catch (err) {
          cell.errors.push(`run ${round + 1} failed: ${(err as Error).message.slice(0, 300)}`);
          log(`${phase}: ${t.label} s=${s} run ${round + 1} failed: ${(err as Error).message}`);
        }
      }
    }
  }
}

const load0 = loadavg();
try {
  sink = await startDumpSink();
  postfix = await startPostfix({ mode: 'relay', sinkPort: sink.port });
  log(`sink on ${sink.port}, Postfix on ${postfix.port}; starting Mailmesh`);
  platform = await startPlatform({
    sinkPort: sink.port,
    mailboxes: MAILBOXES,
    ...(profileDir ? { profile: PROFILE, profileDir } : {}),
  });
  log(`Mailmesh ingress on ${platform.port}`);
  await idleCpu('no AV/spam', platform.pids());
  const all: Target[] = [
    postfixTarget(postfix, sink),
    mailmeshSinkTarget(platform, sink),
    mailmeshMailboxTarget(platform, RUN_BOXES, PROBE_BOX),
  ];
  await measurePhase(
    'no AV/spam',
    all.filter((t) => SYSTEMS.includes(t.key)),
    SESSIONS,
    MESSAGES,
    WARMUP,
    RUNS,
  );
  for (const s of serviceNames) {
    const out = platform.output(s).trim();
    if (out !== '') log(`${s} said: ${out.slice(-1500)}`);
  }
  await platform.stop();
  platform = undefined;

  if (DAEMON_MESSAGES > 0 && left() > 120_000) {
    log('phase 2: starting clamd and spamd');
    const [clamd, spamd] = await Promise.all([startClamd(), startSpamd()]);
    daemons = { clamd, spamd };
    platform = await startPlatform({ sinkPort: sink.port, mailboxes: MAILBOXES, daemons });
    await idleCpu('clamd+spamd', platform.pids());
    await measurePhase(
      'clamd+spamd',
      [
        mailmeshSinkTarget(platform, sink),
        mailmeshMailboxTarget(platform, RUN_BOXES, PROBE_BOX),
      ].filter((t) => SYSTEMS.includes(t.key)),
      DAEMON_SESSIONS,
      DAEMON_MESSAGES,
      Math.min(WARMUP, 20),
      DAEMON_RUNS,
    );
  }
} finally {
  await cleanup();
}

const date = new Date().toISOString().slice(0, 10);
const md = [
  `# End-to-end benchmark, ${date}`,
  '',
  `SMTP in -> delivered. \`smtp-source -s S -m ${MESSAGES} -l 5120 -r 1\` (one message per connection),` +
    ` ${WARMUP} warm-up messages per system, ${RUNS} runs per cell, medians; the order of systems rotates` +
    ' per round. Completion = the sink counted N (or the mailbox holds N). Postfix and Mailmesh relay to the' +
    ' same `smtp-sink -c -d` (each mail dumped to a file whose mtime is its arrival time).',
  '',
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, node ${process.version}; load average` +
    ` ${load0.map((x) => x.toFixed(1)).join(' ')} at start, ${loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')} at end (shared machine: compare within this run). Total ${Math.round(
      (Date.now() - started) / 1000,
    )} s.`,
  '',
  '## Throughput, CPU, latency',
  '',
  throughputTable(cells, 'postfix'),
  '',
  'CPU = user+system of every process of the system (Mailmesh: 4 services + nats-server + MinIO;' +
    ' Postfix: the master and its children), from before the run until it was idle again; not the load' +
    ' generator, not the sink. Latency = delivered minus the queue record `receivedAt` (ingress, once the' +
    ' body is stored, just before the JetStream ack and the 250), all runs of a cell pooled. Postfix logs' +
    ' no sub-second times: no latency.',
  '',
  '## Latency without load',
  '',
  `${PROBE} mails one at a time, each sent once the previous one was delivered (\`smtp-source -s 1 -m 1\`):` +
    ' the time a mail spends in the pipeline when nothing queues. Under the loads above, mail waits' +
    ' in the MAIL stream whenever ingress accepts faster than the stages drain, and latency grows with' +
    ' the backlog.',
  '',
  '| phase | system | mails | p50 ms | p99 ms | max ms |',
  '| --- | --- | ---: | ---: | ---: | ---: |',
  ...probes.map(
    (p) =>
      `| ${p.phase} | ${p.label} | ${p.latencies.length} | ${Math.round(percentile(p.latencies, 50))} | ${Math.round(
        percentile(p.latencies, 99),
      )} | ${Math.round(Math.max(...p.latencies))} |`,
  ),
  '',
  '## CPU ms per message per process (median of runs)',
  '',
  cpuTable(cells, processNames),
  '',
  'Background CPU of the idle platform, included in the figures above for the length of each run:',
  '',
  ...idleLines,
  '',
  '## Bus and object-store operations per mail (median of runs)',
  '',
  opsTable(cells, serviceNames),
  '',
  'NATS messages a service sent to nats-server (publishes, KV/JetStream API requests, acks, pull' +
    ' requests) and messages nats-server sent to the services (deliveries, replies, acks), from' +
    " `/connz`; S3 requests by API from MinIO's `minio_api_requests_total`.",
  '',
  '## Every run',
  '',
  runsTable(cells),
  '',
  '## Settings',
  '',
  '- Mailmesh: one process per service, `MAILMESH_LOG_LEVEL=warn`; defaults: scanner concurrency 4,' +
    ' router 16, delivery local 32 / remote 64 jobs, 5 pooled SMTP connections per destination' +
    ' (`MAILMESH_SMTP_MAX_CONNECTIONS`). Smart host `127.0.0.1:<sink>` with `tls: none`, no AUTH, no DKIM key.' +
    ' Policy: DLP (503 keywords + a pattern, id-card/bank-card/mobile detectors), attachment blocking' +
    ' with archive inspection, SPF/DKIM/DMARC enforce (inbound), recipient allow-list; phase 2 adds' +
    ' antivirus (clamd, test database) and spam (spamd `--max-children=2`, no network tests).' +
    ' nats-server file store (default sync), single-drive MinIO.',
  '- Postfix: stock 3.7 settings apart from the loopback relay of ANCHORS.md (`relayhost=[127.0.0.1]:SINK`,' +
    ' `default_destination_concurrency_limit` 20, fsync per queue file).',
  ...(profileDir ? [`- CPU profiles (${PROFILE.join(', ')}): ${profileDir}`] : []),
  '',
].join('\n');

const file =
  env['BENCH_OUT'] ??
  join(dirname(fileURLToPath(import.meta.url)), '..', 'results', `e2e-${date}.md`);
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, md);
process.stdout.write(md + `\nwritten to ${file}\n`);
