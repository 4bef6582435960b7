import { sleep, treeCpuMs } from '../proc.js';
import { smtpSource } from '../source.js';
import type { OpsSnapshot, Platform } from './platform.js';
import type { DumpSink } from './sink.js';

/** What one timed run measured. */
export interface TrialResult {
  readonly messages: number;
  /** From the first connection of the load generator to the Nth delivered message. */
  readonly elapsedMs: number;
  /** CPU ms per process (tree) over the run, until the system was idle again. */
  readonly cpuMs: Readonly<Record<string, number>>;
  /** Per mail: delivered (sink arrival / mailbox append) minus accepted (the 250). */
  readonly latenciesMs: readonly number[];
  /** Mails counted delivered for which no latency could be computed. */
  readonly latencyMissing: number;
  /** Anything odd the run noticed (duplicates, a pipeline that did not drain). */
  readonly notes: readonly string[];
  /** Mailmesh only: NATS messages and S3 requests per mail over the run. */
  readonly opsPerMail?: OpsSnapshot;
}

type Pids = Readonly<Record<string, number | undefined>>;

function opsDelta(a: OpsSnapshot, b: OpsSnapshot, messages: number): OpsSnapshot {
  const per = <K extends string>(
    x: Readonly<Partial<Record<K, number>>>,
    y: Readonly<Partial<Record<K, number>>>,
  ): Partial<Record<K, number>> => {
    const out: Partial<Record<K, number>> = {};
    for (const k of Object.keys(y) as K[]) out[k] = ((y[k] ?? 0) - (x[k] ?? 0)) / messages;
    return out;
  };
  return {
    natsSent: per(a.natsSent, b.natsSent),
    natsReceived: per(a.natsReceived, b.natsReceived),
    s3: per(a.s3, b.s3) as Record<string, number>,
  };
}

/**
 * One system under test, driven by `smtp-source` and watched until every message
 * is delivered: Postfix relaying to the sink, Mailmesh relaying to the sink through
 * the smart host, or Mailmesh delivering into a local mailbox.
 */
export interface Target {
  readonly key: string;
  readonly label: string;
  /** Roots of the process trees whose CPU counts, by name. */
  processes(): Pids;
  trial(sessions: number, messages: number, timeoutMs: number): Promise<TrialResult>;
  /**
   * Latency without load: `count` mails one at a time, each sent only once the
   * previous one was delivered; the latency of each (Mailmesh targets only).
   */
  probe?(count: number, timeoutMs: number): Promise<number[]>;
}

/** Sends `count` single mails in sequence, each after the previous one was delivered. */
async function oneByOne(
  port: number,
  from: string,
  to: string,
  delivered: () => Promise<number> | number,
  count: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < count; i++) {
    const base = await delivered();
    await smtpSource({ port, sessions: 1, messages: 1, size: SIZE, from, to, timeoutMs });
    while ((await delivered()) <= base) {
      if (Date.now() > deadline) throw new Error(`probe: mail ${i + 1} of ${count} not delivered`);
      await sleep(5);
    }
    await sleep(50);
  }
}

const SIZE = 5120;
/** BENCH_E2E_VERBOSE=1: how long each step of a run takes, on stderr. */
const verbose = process.env['BENCH_E2E_VERBOSE'] === '1';
const step = (what: string, t0: number): void => {
  if (verbose) process.stderr.write(`  ${what}: ${Math.round(performance.now() - t0)} ms\n`);
};
/** Poll interval for completion; the mailbox count costs a KV get per poll. */
const POLL_MS = 20;

const cpuOf = (pids: Pids): Record<string, number> =>
  Object.fromEntries(
    Object.entries(pids).map(([k, p]) => [k, p !== undefined && p > 0 ? treeCpuMs(p) : 0]),
  );
const total = (cpu: Readonly<Record<string, number>>): number =>
  Object.values(cpu).reduce((s, x) => s + x, 0);

/**
 * Waits (bounded) until `idle()` holds and the processes use less than ~6% of a core
 * over 250 ms: queue managers and ack/record updates finish after the last delivery.
 */
async function settle(
  pids: () => Pids,
  idle: () => Promise<boolean>,
  timeoutMs: number,
): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  let drained = false;
  while (Date.now() < until && !(drained = await idle())) await sleep(100);
  let prev = total(cpuOf(pids()));
  while (Date.now() < until) {
    await sleep(250);
    const now = total(cpuOf(pids()));
    if (now - prev <= 15) break;
    prev = now;
  }
  return drained;
}

interface TimedSpec {
  readonly port: number;
  readonly from: string;
  readonly to: string;
  readonly pids: () => Pids;
  /** Messages delivered so far at the destination (sink counter, mailbox count). */
  readonly delivered: () => Promise<number> | number;
  /** True once the system holds no more work (queue empty, stream drained). */
  readonly idle: () => Promise<boolean>;
}

async function timed(
  spec: TimedSpec,
  sessions: number,
  messages: number,
  timeoutMs: number,
): Promise<{ elapsedMs: number; cpuMs: Record<string, number>; notes: string[] }> {
  const notes: string[] = [];
  const s0 = performance.now();
  if (!(await settle(spec.pids, spec.idle, 30_000))) notes.push('not idle before the run');
  step('settle before', s0);
  const base = await spec.delivered();
  const cpu0 = cpuOf(spec.pids());
  const t0 = performance.now();
  const deadline = Date.now() + timeoutMs;
  const source = smtpSource({
    port: spec.port,
    sessions,
    messages,
    size: SIZE,
    from: spec.from,
    to: spec.to,
    timeoutMs,
  });
  let sourceError: Error | undefined;
  source.catch((err: unknown) => {
    sourceError = err instanceof Error ? err : new Error(String(err));
  });
  let seen = base;
  while ((seen = await spec.delivered()) < base + messages) {
    if (sourceError !== undefined) throw sourceError;
    if (Date.now() > deadline)
      throw new Error(`${seen - base} of ${messages} delivered after ${timeoutMs} ms`);
    await sleep(POLL_MS);
  }
  const elapsedMs = performance.now() - t0;
  step('delivered', t0);
  await source;
  if (seen > base + messages) notes.push(`${seen - base - messages} more than sent delivered`);
  const s1 = performance.now();
  if (!(await settle(spec.pids, spec.idle, 30_000))) notes.push('work left after the run');
  step('settle after', s1);
  const cpu1 = cpuOf(spec.pids());
  const cpuMs = Object.fromEntries(Object.keys(cpu1).map((k) => [k, cpu1[k]! - (cpu0[k] ?? 0)]));
  return { elapsedMs, cpuMs, notes };
}

/** Postfix relaying everything to the sink (`relayhost = [127.0.0.1]:SINK`). */
export function postfixTarget(
  postfix: { port: number; masterPid(): number; queueEmpty(): Promise<boolean> },
  sink: DumpSink,
): Target {
  const pids = (): Record<string, number> => ({ postfix: postfix.masterPid() });
  return {
    key: 'postfix',
    label: 'Postfix relay -> smtp-sink',
    processes: pids,
    async trial(sessions, messages, timeoutMs) {
      await sink.collect(); // forget earlier dumps
      const r = await timed(
        {
          port: postfix.port,
          from: 'load@bench.local',
          to: 'sink@example.com',
          pids,
          delivered: () => sink.messages(),
          idle: () => postfix.queueEmpty(),
        },
        sessions,
        messages,
        timeoutMs,
      );
      const { files } = await sink.collect();
      const notes = files === messages ? r.notes : [...r.notes, `sink dumped ${files} mails`];
      // Postfix's 250 is not timestamped anywhere finer than a second: no latency.
      return { messages, ...r, notes, latenciesMs: [], latencyMissing: 0 };
    },
  };
}

/** Mailmesh relaying outbound mail of bench.local through its smart host (the sink). */
export function mailmeshSinkTarget(platform: Platform, sink: DumpSink): Target {
  return {
    key: 'mailmesh-sink',
    label: 'Mailmesh relay -> smtp-sink',
    processes: () => platform.pids(),
    async trial(sessions, messages, timeoutMs) {
      await sink.collect();
      const ops0 = await platform.ops();
      const r = await timed(
        {
          port: platform.port,
          from: 'load@bench.local',
          to: 'sink@example.com',
          pids: () => platform.pids(),
          delivered: () => sink.messages(),
          idle: async () => (await platform.inFlight()) === 0,
        },
        sessions,
        messages,
        timeoutMs,
      );
      const opsPerMail = opsDelta(ops0, await platform.ops(), messages);
      const { files, arrivals } = await sink.collect();
      const notes = [...r.notes];
      if (files !== messages) notes.push(`sink dumped ${files} mails`);
      if (arrivals.size !== files) notes.push(`${files - arrivals.size} dumps without a mail id`);
      const records = await platform.queueRecords([...arrivals.keys()]);
      const latenciesMs: number[] = [];
      for (const [mailId, at] of arrivals) {
        const received = records.get(mailId)?.receivedAt;
        if (received !== undefined) latenciesMs.push(at - Date.parse(received));
      }
      return {
        messages,
        ...r,
        notes,
        latenciesMs,
        latencyMissing: messages - latenciesMs.length,
        opsPerMail,
      };
    },
    async probe(count, timeoutMs) {
      await sink.collect();
      const to = 'sink@example.com';
      await oneByOne(
        platform.port,
        'load@bench.local',
        to,
        () => sink.messages(),
        count,
        timeoutMs,
      );
      const { arrivals } = await sink.collect();
      const records = await platform.queueRecords([...arrivals.keys()]);
      return [...arrivals].flatMap(([id, at]) => {
        const received = records.get(id)?.receivedAt;
        return received === undefined ? [] : [at - Date.parse(received)];
      });
    },
  };
}

/**
 * Mailmesh delivering inbound mail (from bench.example) into a local mailbox; each
 * run gets a fresh mailbox from `mailboxes`, so its INBOX count is the run's count;
 * `probeBox` is the mailbox of the unloaded-latency probe.
 */
export function mailmeshMailboxTarget(
  platform: Platform,
  mailboxes: readonly string[],
  probeBox?: string,
): Target {
  let next = 0;
  return {
    key: 'mailmesh-mailbox',
    label: 'Mailmesh -> local mailbox',
    processes: () => platform.pids(),
    async trial(sessions, messages, timeoutMs) {
      const box = mailboxes[next++];
      if (box === undefined) throw new Error('no fresh mailbox left for this run');
      const ops0 = await platform.ops();
      const r = await timed(
        {
          port: platform.port,
          from: 'load@bench.example',
          to: `${box}@bench.local`,
          pids: () => platform.pids(),
          delivered: () => platform.inboxCount(box),
          idle: async () => (await platform.inFlight()) === 0,
        },
        sessions,
        messages,
        timeoutMs,
      );
      const opsPerMail = opsDelta(ops0, await platform.ops(), messages);
      const entries = await platform.inboxEntries(box);
      const notes = [...r.notes];
      const ids = new Set(entries.map((e) => e.mailId));
      if (entries.length !== messages) notes.push(`mailbox holds ${entries.length} entries`);
      if (ids.size !== entries.length) notes.push(`${entries.length - ids.size} duplicate entries`);
      const records = await platform.queueRecords([...ids]);
      const latenciesMs: number[] = [];
      for (const e of entries) {
        const received = records.get(e.mailId)?.receivedAt;
        if (received !== undefined)
          latenciesMs.push(Date.parse(e.internalDate) - Date.parse(received));
      }
      return {
        messages,
        ...r,
        notes,
        latenciesMs,
        latencyMissing: messages - latenciesMs.length,
        opsPerMail,
      };
    },
    ...(probeBox === undefined
      ? {}
      : {
          async probe(count: number, timeoutMs: number): Promise<number[]> {
            const before = new Set((await platform.inboxEntries(probeBox)).map((e) => e.mailId));
            const to = `${probeBox}@bench.local`;
            const delivered = (): Promise<number> => platform.inboxCount(probeBox);
            await oneByOne(platform.port, 'load@bench.example', to, delivered, count, timeoutMs);
            const fresh = (await platform.inboxEntries(probeBox)).filter(
              (e) => !before.has(e.mailId),
            );
            const records = await platform.queueRecords(fresh.map((e) => e.mailId));
            return fresh.flatMap((e) => {
              const received = records.get(e.mailId)?.receivedAt;
              return received === undefined
                ? []
                : [Date.parse(e.internalDate) - Date.parse(received)];
            });
          },
        }),
  };
}
