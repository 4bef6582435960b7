import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { PeerStartError, PeerStateError } from './errors.js';
import { signalGroup, track, untrack } from './reaper.js';

export const KEEP_ENV = 'MAILMESH_KEEP_PEERS';

export function keepPeers(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[KEEP_ENV] === '1';
}

/** A fresh private directory for one peer: `$TMPDIR/mailmesh-<name>-XXXXXX`. */
export function makePeerDir(name: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `mailmesh-${name}-`));
}

export function tail(file: string, lines = 40): string {
  try {
    const text = readFileSync(file, 'utf8');
    const all = text.split('\n');
    if (all.at(-1) === '') all.pop();
    return all.slice(-lines).join('\n');
  } catch {
    return '(no log written)';
  }
}

export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  return typeof error === 'string' ? error : JSON.stringify(error);
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

export function commandLine(command: string, args: readonly string[]): string {
  return [command, ...args].map(quote).join(' ');
}

/** Throws (or returns false) until the peer answers; called repeatedly until the start timeout. */
export type ReadyCheck = (signal: AbortSignal) => Promise<boolean>;

export interface ProcessSpec {
  /** Peer name for messages and the log file (`<dir>/<name>.log`). */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly ready: ReadyCheck;
  /** Default 30 s. */
  readonly readyTimeoutMs?: number;
  /** Grace between SIGTERM and SIGKILL on stop. Default 10 s. */
  readonly stopGraceMs?: number;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** True when a start failure looks like a lost race for a port another process took first. */
export function isPortClash(error: unknown): boolean {
  return (
    error instanceof PeerStartError && /address already in use|EADDRINUSE/i.test(error.logTail)
  );
}

/**
 * Runs a start attempt with fresh ports when the previous one lost the race for a port that
 * freePort() reported free (another test process may bind it in between).
 */
export async function withPortRetry<T>(attempt: () => Promise<T>, tries = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (error) {
      if (i >= tries || !isPortClash(error)) throw error;
    }
  }
}

/**
 * One supervised child process living in `dir`: start with readiness, crash detection,
 * kill/restart keeping the data, stop with grace and cleanup.
 */
export class ManagedProcess {
  readonly dir: string;
  readonly logFile: string;
  readonly spec: ProcessSpec;
  private child: ChildProcess | undefined;
  private exited: Promise<Exit> | undefined;
  private expectingExit = false;
  private ready = false;
  private crashedWith: Exit | undefined;
  private stopping: Promise<void> | undefined;

  constructor(dir: string, spec: ProcessSpec) {
    this.dir = dir;
    this.spec = spec;
    this.logFile = join(dir, `${spec.name}.log`);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /**
   * Set once the process exited without being asked to (by stop/kill/restart); stays set after
   * a restart so the crash's log survives stop().
   */
  get crashed(): Exit | undefined {
    return this.crashedWith;
  }

  get commandLine(): string {
    return commandLine(this.spec.command, this.spec.args);
  }

  async start(): Promise<void> {
    if (this.stopping !== undefined) throw new PeerStateError(this.spec.name, 'already stopped');
    if (this.child !== undefined) throw new PeerStateError(this.spec.name, 'already running');
    const fd = openSync(this.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(this.spec.command, [...this.spec.args], {
        cwd: this.spec.cwd ?? this.dir,
        env: this.spec.env ?? process.env,
        stdio: ['ignore', fd, fd],
        detached: true,
      });
    } finally {
      closeSync(fd);
    }
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    this.expectingExit = false;
    this.child = child;
    this.exited = new Promise<Exit>((resolve) => {
      child.once('exit', (code, signal) => {
        if (child.pid !== undefined) untrack(child.pid);
        if (this.child === child) this.child = undefined;
        const exit = { code, signal };
        if (!this.expectingExit) {
          this.crashedWith = exit;
          // Said at once: a peer dying mid-test otherwise shows up only as client errors.
          if (this.ready) {
            process.stderr.write(
              `[mailmesh/testkit] ${this.spec.name} exited unexpectedly (code ${exit.code}, signal ${exit.signal}); log: ${this.logFile}\n`,
            );
          }
        }
        this.ready = false;
        resolve(exit);
      });
    });
    try {
      await spawned;
    } catch (error) {
      this.child = undefined;
      throw this.startError(`spawn failed: ${errorText(error)}`, undefined, error);
    }
    if (child.pid !== undefined) track(child.pid);
    // Even the parent's own exit hooks can't be relied on if it dies of SIGKILL; that's the
    // reaper's watchdog. Here: don't let the child's handle keep the test process alive.
    child.unref();
    await this.waitReady(child);
  }

  private startError(reason: string, exit?: Exit, cause?: unknown): PeerStartError {
    return new PeerStartError(
      {
        peer: this.spec.name,
        reason,
        commandLine: this.commandLine,
        logFile: this.logFile,
        logTail: tail(this.logFile),
        ...(exit !== undefined ? { exit } : {}),
      },
      cause !== undefined ? { cause } : undefined,
    );
  }

  private async waitReady(child: ChildProcess): Promise<void> {
    const timeoutMs = this.spec.readyTimeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    const exited = this.exited ?? Promise.resolve({ code: null, signal: null });
    let exit: Exit | undefined;
    void exited.then((e) => {
      exit = e;
    });
    let lastError: unknown;
    for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
      if (exit !== undefined) {
        throw this.startError(
          `process exited during startup (code ${exit.code}, signal ${exit.signal})`,
          exit,
        );
      }
      const abort = AbortSignal.timeout(Math.max(1_000, Math.min(5_000, deadline - Date.now())));
      try {
        if (await this.spec.ready(abort)) {
          this.ready = true;
          return;
        }
        lastError = undefined;
      } catch (error) {
        lastError = error;
      }
      if (Date.now() >= deadline) {
        await this.terminate(child, 'SIGKILL');
        throw this.startError(
          `not ready after ${timeoutMs} ms` +
            (lastError !== undefined ? ` (last check: ${errorText(lastError)})` : ''),
          undefined,
          lastError,
        );
      }
      await Promise.race([sleep(delay), exited]);
    }
  }

  private async terminate(child: ChildProcess, signal: NodeJS.Signals, graceMs = 0): Promise<void> {
    const exited = this.exited;
    if (
      child.pid === undefined ||
      exited === undefined ||
      child.exitCode !== null ||
      child.signalCode !== null
    ) {
      return;
    }
    this.expectingExit = true;
    signalGroup(child.pid, signal);
    if (signal === 'SIGKILL' || graceMs <= 0) {
      await exited;
      return;
    }
    const timer = sleep(graceMs).then(() => 'timeout' as const);
    if ((await Promise.race([exited, timer])) === 'timeout') {
      signalGroup(child.pid, 'SIGKILL');
      await exited;
    }
    // Graceful or not, forked workers in the group must not outlive their parent.
    signalGroup(child.pid, 'SIGKILL');
  }

  /** Ends the process (kill -9 by default) and waits for its exit; the data dir stays. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    await this.terminate(
      child,
      signal,
      signal === 'SIGKILL' ? 0 : (this.spec.stopGraceMs ?? 10_000),
    );
  }

  /** Stops the process if it runs (gracefully) and starts it again with the same arguments and data. */
  async restart(): Promise<void> {
    if (this.stopping !== undefined)
      throw new PeerStateError(this.spec.name, 'restart() after stop()');
    await this.kill('SIGTERM');
    await this.start();
  }

  /** Ends the process; idempotent. Cleanup of the dir is the owner's (a peer may hold several processes). */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const child = this.child;
      if (child !== undefined)
        await this.terminate(child, 'SIGTERM', this.spec.stopGraceMs ?? 10_000);
    })();
    return this.stopping;
  }
}

/**
 * Removes a peer's dir unless MAILMESH_KEEP_PEERS=1 or one of its processes crashed; then the
 * dir stays and its path is printed so the logs can be read.
 */
export async function cleanupDir(name: string, dir: string, crashed: boolean): Promise<void> {
  if (crashed || keepPeers()) {
    process.stderr.write(
      `[mailmesh/testkit] kept ${name} dir ${dir}` +
        (crashed ? ' (peer crashed; see its .log)\n' : '\n'),
    );
    return;
  }
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}
