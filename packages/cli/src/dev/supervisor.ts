/**
 * Runs the children of `mailmesh dev`: each in its own process group with its output
 * in a log file, started one after another (each must be ready before the next one
 * starts) and stopped in reverse order — SIGTERM, a grace period, then SIGKILL. A
 * child that exits on its own is a crash: the supervisor reports it once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { ChildStartError } from '../errors.js';
import { alive, signalGroup, Watchdog } from './watchdog.js';

export interface ChildSpec {
  /** Shown in messages: `nats-server`, `minio`, `ingress`. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** stdout and stderr are appended here. */
  readonly logFile: string;
  /** Polled until it resolves true; the child counts as started then. */
  readonly ready: () => Promise<boolean>;
  /** Default 60 s. */
  readonly readyTimeoutMs?: number;
  /** Time between SIGTERM and SIGKILL when stopping; default 10 s. */
  readonly stopGraceMs?: number;
}

export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface RunningChild {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves when the process has exited (for any reason). */
  readonly exited: Promise<ChildExit>;
}

interface Entry extends RunningChild {
  readonly spec: ChildSpec;
  readonly proc: ChildProcess;
  exit: ChildExit | undefined;
}

export interface StopReport {
  readonly name: string;
  readonly ms: number;
  /** It did not exit within its grace period and was killed. */
  readonly killed: boolean;
}

export type CrashHandler = (child: RunningChild, exit: ChildExit) => void;

/** The last `n` lines of a log file, for error messages. */
export function tailOf(file: string, n = 20): string[] {
  try {
    const lines = readFileSync(file, 'utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    return lines.slice(-n);
  } catch {
    return [];
  }
}

export class Supervisor {
  private readonly children: Entry[] = [];
  private readonly watchdog = new Watchdog();
  private stopping = false;
  private stopped: Promise<void> | undefined;

  constructor(private readonly onCrash: CrashHandler) {}

  /** Pids of the children still running (for tests and the endpoint table). */
  pids(): { name: string; pid: number }[] {
    return this.children
      .filter((c) => c.exit === undefined)
      .map((c) => ({ name: c.name, pid: c.pid }));
  }

  get watchdogPid(): number | undefined {
    return this.watchdog.pid;
  }

  /**
   * Spawns the child and waits until `ready()` is true. Throws `ChildStartError` (with
   * the log's last lines) when it exits first or the timeout passes; the child is
   * killed in that case.
   */
  async start(spec: ChildSpec): Promise<RunningChild> {
    if (this.stopping) throw new ChildStartError(spec.name, 'mailmesh is stopping', spec.logFile);
    mkdirSync(dirname(spec.logFile), { recursive: true });
    const fd = openSync(spec.logFile, 'a');
    let proc: ChildProcess;
    try {
      proc = spawn(spec.command, [...spec.args], {
        cwd: spec.cwd,
        env: spec.env ?? process.env,
        detached: true,
        stdio: ['ignore', fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    const spawned = await new Promise<Error | undefined>((resolve) => {
      proc.once('spawn', () => resolve(undefined));
      proc.once('error', (err) => resolve(err));
    });
    if (spawned !== undefined || proc.pid === undefined) {
      throw new ChildStartError(
        spec.name,
        `cannot run ${spec.command}: ${spawned?.message ?? 'no pid'}`,
        spec.logFile,
        {
          cause: spawned,
        },
      );
    }
    const pid = proc.pid;
    this.watchdog.watch(pid);
    let resolveExit!: (e: ChildExit) => void;
    const exited = new Promise<ChildExit>((r) => (resolveExit = r));
    const entry: Entry = {
      name: spec.name,
      pid,
      logFile: spec.logFile,
      spec,
      proc,
      exited,
      exit: undefined,
    };
    let started = false;
    proc.once('exit', (code, signal) => {
      entry.exit = { code, signal };
      this.watchdog.forget(pid);
      // Forked helpers of the child may still hold the group; they go with it.
      signalGroup(pid, 'SIGKILL');
      resolveExit(entry.exit);
      if (!this.stopping && started) this.onCrash(entry, entry.exit);
    });
    this.children.push(entry);

    const deadline = Date.now() + (spec.readyTimeoutMs ?? 60_000);
    while (!started) {
      if (entry.exit !== undefined) {
        const how =
          entry.exit.signal !== null
            ? `killed by ${entry.exit.signal}`
            : `exited with code ${entry.exit.code}`;
        throw new ChildStartError(
          spec.name,
          `${how} before it was ready${lastLines(spec.logFile)}`,
          spec.logFile,
        );
      }
      if (Date.now() > deadline) {
        await this.stopOne(entry);
        throw new ChildStartError(
          spec.name,
          `not ready after ${Math.round((spec.readyTimeoutMs ?? 60_000) / 1000)} s${lastLines(spec.logFile)}`,
          spec.logFile,
        );
      }
      if (this.stopping) {
        throw new ChildStartError(spec.name, 'mailmesh is stopping', spec.logFile);
      }
      started = await spec.ready().catch(() => false);
      if (!started) await sleep(200);
    }
    // A crash between the last probe and here is still reported.
    if (entry.exit !== undefined && !this.stopping) this.onCrash(entry, entry.exit);
    return entry;
  }

  private async stopOne(entry: Entry): Promise<StopReport | undefined> {
    if (entry.exit !== undefined) return undefined;
    const t0 = Date.now();
    signalGroup(entry.pid, 'SIGTERM');
    const grace = entry.spec.stopGraceMs ?? 10_000;
    const timedOut = await Promise.race([
      entry.exited.then(() => false),
      sleep(grace, true, { ref: false }),
    ]);
    if (timedOut) {
      signalGroup(entry.pid, 'SIGKILL');
      await Promise.race([entry.exited, sleep(5_000, undefined, { ref: false })]);
    }
    return { name: entry.name, ms: Date.now() - t0, killed: timedOut };
  }

  /**
   * Stops every child, last started first: SIGTERM to its process group, then SIGKILL
   * after its grace period. Idempotent; later calls share the first one.
   */
  stopAll(onStopped?: (r: StopReport) => void): Promise<void> {
    this.stopping = true;
    this.stopped ??= (async () => {
      for (const entry of [...this.children].reverse()) {
        const r = await this.stopOne(entry);
        if (r !== undefined) onStopped?.(r);
      }
      if (this.children.every((c) => c.exit !== undefined || !alive(c.pid))) this.watchdog.close();
    })();
    return this.stopped;
  }
}

function lastLines(file: string): string {
  const tail = tailOf(file, 15);
  return tail.length === 0
    ? ''
    : `; last lines of its log:\n${tail.map((l) => `    | ${l}`).join('\n')}`;
}
