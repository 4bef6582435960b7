import { median, treeCpuMs } from './proc.js';

/** One timed run of a system under load. */
export interface Trial {
  readonly messages: number;
  readonly elapsedMs: number;
  /** CPU ms used by the system under test (its process trees), not the load generator. */
  readonly cpuMs: number;
}

export interface Measurement {
  readonly system: string;
  readonly sessions: number;
  readonly trials: readonly Trial[];
  readonly rate: number;
  readonly cpuMsPerMessage: number;
}

/**
 * Runs `trial` `runs` times after one warm-up and reports medians. `pids` are the
 * roots of the system under test's process trees, sampled before and after each run.
 */
export async function measure(
  system: string,
  sessions: number,
  pids: () => readonly number[],
  runs: number,
  warmup: () => Promise<void>,
  trial: () => Promise<{ messages: number; elapsedMs: number }>,
): Promise<Measurement> {
  await warmup();
  const trials: Trial[] = [];
  for (let i = 0; i < runs; i++) {
    const cpu0 = pids().reduce((s, p) => s + treeCpuMs(p), 0);
    const r = await trial();
    const cpu1 = pids().reduce((s, p) => s + treeCpuMs(p), 0);
    trials.push({ ...r, cpuMs: cpu1 - cpu0 });
  }
  return {
    system,
    sessions,
    trials,
    rate: median(trials.map((t) => (t.messages * 1000) / t.elapsedMs)),
    cpuMsPerMessage: median(trials.map((t) => t.cpuMs / t.messages)),
  };
}
