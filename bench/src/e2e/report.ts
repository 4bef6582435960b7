import { median } from '../proc.js';
import type { TrialResult } from './trial.js';

/** Nearest-rank percentile (p in 0..100) of unsorted values; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length)));
  return s[rank - 1]!;
}

/** The runs of one system at one session count, within one phase of the benchmark. */
export interface Cell {
  readonly phase: string;
  readonly target: string;
  readonly label: string;
  readonly sessions: number;
  readonly runs: TrialResult[];
  readonly errors: string[];
}

export interface CellSummary {
  readonly rate: number;
  /** Median over runs of each process's CPU ms per message. */
  readonly cpuPerMessage: Readonly<Record<string, number>>;
  readonly cpuTotalPerMessage: number;
  /** Over the latencies of every run pooled. */
  readonly p50: number;
  readonly p99: number;
  readonly latencyCount: number;
}

export function summarize(cell: Cell): CellSummary | undefined {
  if (cell.runs.length === 0) return undefined;
  const names = Object.keys(cell.runs[0]!.cpuMs);
  const per = (r: TrialResult, k: string): number => (r.cpuMs[k] ?? 0) / r.messages;
  const all = cell.runs.flatMap((r) => r.latenciesMs);
  return {
    rate: median(cell.runs.map((r) => (r.messages * 1000) / r.elapsedMs)),
    cpuPerMessage: Object.fromEntries(
      names.map((k) => [k, median(cell.runs.map((r) => per(r, k)))]),
    ),
    cpuTotalPerMessage: median(
      cell.runs.map((r) => Object.values(r.cpuMs).reduce((s, x) => s + x, 0) / r.messages),
    ),
    p50: percentile(all, 50),
    p99: percentile(all, 99),
    latencyCount: all.length,
  };
}

const fmtRate = (x: number): string => Math.round(x).toLocaleString('en-US');
const fmt = (x: number | undefined, digits = 2): string =>
  x === undefined || Number.isNaN(x) ? '—' : x.toFixed(digits);
const fmtMs = (x: number): string =>
  Number.isNaN(x) ? '—' : Math.round(x).toLocaleString('en-US');

/**
 * Throughput table: msg/s (median of runs), ratio vs the baseline target at the
 * same session count (looked up in any phase), CPU per message over all processes
 * of the system, latency p50/p99 from the 250 to delivered.
 */
export function throughputTable(cells: readonly Cell[], baseline: string): string {
  const lines = [
    '| phase | system | sessions | msg/s (median) | vs Postfix | CPU ms/msg (all processes) | latency p50 ms | latency p99 ms | runs |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const c of cells) {
    const s = summarize(c);
    const base = cells.find((b) => b.target === baseline && b.sessions === c.sessions);
    const bs = base ? summarize(base) : undefined;
    if (!s) {
      lines.push(`| ${c.phase} | ${c.label} | ${c.sessions} | — | — | — | — | — | 0 |`);
      continue;
    }
    const ratio = bs && c.target !== baseline ? `${(s.rate / bs.rate).toFixed(2)}×` : '—';
    const lat = s.latencyCount > 0;
    lines.push(
      `| ${c.phase} | ${c.label} | ${c.sessions} | ${fmtRate(s.rate)} | ${ratio} | ${fmt(
        s.cpuTotalPerMessage,
      )} | ${lat ? fmtMs(s.p50) : 'n/a'} | ${lat ? fmtMs(s.p99) : 'n/a'} | ${c.runs.length} |`,
    );
  }
  return lines.join('\n');
}

/** CPU ms per message of each process (median of runs), one row per Mailmesh cell. */
export function cpuTable(cells: readonly Cell[], known: readonly string[]): string {
  const processes = known.filter((p) => cells.some((c) => c.runs[0]?.cpuMs[p] !== undefined));
  const lines = [
    `| phase | system | sessions | ${processes.join(' | ')} | total |`,
    `| --- | --- | ---: | ${processes.map(() => '---:').join(' | ')} | ---: |`,
  ];
  for (const c of cells) {
    const s = summarize(c);
    if (!s) continue;
    if (!processes.some((p) => p in s.cpuPerMessage)) continue;
    lines.push(
      `| ${c.phase} | ${c.label} | ${c.sessions} | ${processes
        .map((p) => fmt(s.cpuPerMessage[p]))
        .join(' | ')} | ${fmt(s.cpuTotalPerMessage)} |`,
    );
  }
  return lines.join('\n');
}

/** Every run's raw figures. */
export function runsTable(cells: readonly Cell[]): string {
  const lines = [
    '| phase | system | sessions | run | messages | seconds | msg/s | CPU ms (all) | p50 ms | p99 ms | notes |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const c of cells) {
    c.runs.forEach((r, i) => {
      const cpu = Object.values(r.cpuMs).reduce((s, x) => s + x, 0);
      const lat = r.latenciesMs.length > 0;
      const notes = [
        ...r.notes,
        ...(r.latencyMissing > 0 && lat ? [`${r.latencyMissing} without latency`] : []),
      ];
      lines.push(
        `| ${c.phase} | ${c.label} | ${c.sessions} | ${i + 1} | ${r.messages} | ${(
          r.elapsedMs / 1000
        ).toFixed(2)} | ${fmtRate((r.messages * 1000) / r.elapsedMs)} | ${Math.round(cpu)} | ${
          lat ? fmtMs(percentile(r.latenciesMs, 50)) : 'n/a'
        } | ${lat ? fmtMs(percentile(r.latenciesMs, 99)) : 'n/a'} | ${notes.join('; ')} |`,
      );
    });
    for (const e of c.errors)
      lines.push(`| ${c.phase} | ${c.label} | ${c.sessions} | — | — | — | — | — | — | — | ${e} |`);
  }
  return lines.join('\n');
}

const median0 = (xs: readonly number[]): number => (xs.length === 0 ? NaN : median(xs));

/**
 * NATS messages and S3 requests per mail (median of runs): what each service costs
 * the bus and the object store, the levers behind nats-server's and MinIO's CPU.
 */
export function opsTable(cells: readonly Cell[], services: readonly string[]): string {
  const withOps = cells.filter((c) => c.runs.some((r) => r.opsPerMail));
  const apis = [
    ...new Set(withOps.flatMap((c) => c.runs.flatMap((r) => Object.keys(r.opsPerMail?.s3 ?? {})))),
  ]
    .filter((api) => withOps.some((c) => c.runs.some((r) => (r.opsPerMail?.s3[api] ?? 0) >= 0.05)))
    .sort();
  const lines = [
    `| phase | system | sessions | ${services.map((s) => `NATS msgs sent: ${s}`).join(' | ')} | NATS msgs received (all services) | ${apis
      .map((a) => `S3 ${a}`)
      .join(' | ')} |`,
    `| --- | --- | ---: | ${services.map(() => '---:').join(' | ')} | ---: | ${apis
      .map(() => '---:')
      .join(' | ')} |`,
  ];
  for (const c of withOps) {
    const runs = c.runs.filter((r) => r.opsPerMail);
    const m = (f: (r: TrialResult) => number): string => fmt(median0(runs.map(f)), 1);
    const sent = services.map((s) =>
      m((r) => (r.opsPerMail?.natsSent as Record<string, number> | undefined)?.[s] ?? 0),
    );
    const received = m((r) =>
      Object.values(r.opsPerMail?.natsReceived ?? {}).reduce((a, b) => a + (b ?? 0), 0),
    );
    const s3 = apis.map((a) => m((r) => r.opsPerMail?.s3[a] ?? 0));
    lines.push(
      `| ${c.phase} | ${c.label} | ${c.sessions} | ${sent.join(' | ')} | ${received} | ${s3.join(' | ')} |`,
    );
  }
  return lines.join('\n');
}
