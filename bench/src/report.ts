import { median } from './proc.js';

/** One timed run: messages sent by the load generator and what they cost. */
export interface Run {
  readonly messages: number;
  readonly elapsedMs: number;
  /** CPU ms of the system's main process tree (e.g. the ingress process alone). */
  readonly mainCpuMs: number;
  /** CPU ms of every process of the system (e.g. ingress + nats-server + MinIO). */
  readonly allCpuMs: number;
}

export interface Cell {
  readonly system: string;
  readonly sessions: number;
  readonly runs: readonly Run[];
}

export interface Summary {
  readonly system: string;
  readonly sessions: number;
  readonly runs: number;
  /** Median msg/s over the runs. */
  readonly rate: number;
  readonly mainCpuMsPerMessage: number;
  readonly allCpuMsPerMessage: number;
}

export function summarize(cell: Cell): Summary | undefined {
  if (cell.runs.length === 0) return undefined;
  return {
    system: cell.system,
    sessions: cell.sessions,
    runs: cell.runs.length,
    rate: median(cell.runs.map((r) => (r.messages * 1000) / r.elapsedMs)),
    mainCpuMsPerMessage: median(cell.runs.map((r) => r.mainCpuMs / r.messages)),
    allCpuMsPerMessage: median(cell.runs.map((r) => r.allCpuMs / r.messages)),
  };
}

const fmtRate = (x: number): string => Math.round(x).toLocaleString('en-US');
const fmtRatio = (x: number): string => `${x.toFixed(2)}×`;
const fmtMs = (x: number): string => x.toFixed(2);

export interface TableOptions {
  /** Systems in row order. */
  readonly systems: readonly string[];
  readonly sessions: readonly number[];
  /** Ratio columns: each system's rate divided by this one's, at the same session count. */
  readonly baselines: readonly string[];
  /** Systems whose "main process" column means something (one process holds the work). */
  readonly mainProcess: Readonly<Record<string, string>>;
}

/**
 * The markdown results table: msg/s (median), ratios vs each baseline at the same
 * session count, CPU ms per message of the main process and of all processes.
 */
export function resultsTable(summaries: readonly Summary[], o: TableOptions): string {
  const find = (system: string, sessions: number): Summary | undefined =>
    summaries.find((s) => s.system === system && s.sessions === sessions);
  const header = [
    'system',
    'sessions',
    'msg/s (median)',
    ...o.baselines.map((b) => `vs ${b}`),
    'CPU ms/msg, main process',
    'CPU ms/msg, all processes',
    'runs',
  ];
  const lines = [
    `| ${header.join(' | ')} |`,
    `| ${header.map((_, i) => (i < 2 ? '---' : '---:')).join(' | ')} |`,
  ];
  for (const sessions of o.sessions) {
    for (const system of o.systems) {
      const s = find(system, sessions);
      if (!s) {
        const empty = [system, String(sessions), '—', ...o.baselines.map(() => '—'), '—', '—', '0'];
        lines.push(`| ${empty.join(' | ')} |`);
        continue;
      }
      const ratios = o.baselines.map((b) => {
        const base = find(b, sessions);
        return base ? fmtRatio(s.rate / base.rate) : '—';
      });
      const main = o.mainProcess[system];
      const cells = [
        system,
        String(sessions),
        fmtRate(s.rate),
        ...ratios,
        main === undefined ? '—' : `${fmtMs(s.mainCpuMsPerMessage)} (${main})`,
        fmtMs(s.allCpuMsPerMessage),
        String(s.runs),
      ];
      lines.push(`| ${cells.join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

/** Every run's raw figures, for the results file. */
export function runsTable(cells: readonly Cell[]): string {
  const lines = [
    '| system | sessions | run | messages | seconds | msg/s | main CPU ms | all CPU ms |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const c of cells) {
    c.runs.forEach((r, i) => {
      lines.push(
        `| ${c.system} | ${c.sessions} | ${i + 1} | ${r.messages} | ${(r.elapsedMs / 1000).toFixed(
          2,
        )} | ${fmtRate((r.messages * 1000) / r.elapsedMs)} | ${Math.round(r.mainCpuMs)} | ${Math.round(
          r.allCpuMs,
        )} |`,
      );
    });
  }
  return lines.join('\n');
}
