import { spawn, type ChildProcess } from 'node:child_process';

/**
 * Kills peer processes when the test process goes away, however it goes.
 *
 * Peers are spawned detached (own process group, so a stop also reaches forked workers such
 * as spamd's children). That also means they would outlive the test process, so two layers:
 *  - exit/SIGINT/SIGTERM/SIGHUP/uncaught-exception hooks kill every live group synchronously;
 *  - a tiny `sh` watchdog holds the read end of a pipe. It learns each group id as a line; when
 *    the test process dies in any way, even SIGKILL, the pipe closes, `read` hits EOF and the
 *    watchdog SIGKILLs every group it still knows of.
 */

const live = new Set<number>();
let hooked = false;
let watchdog: ChildProcess | undefined;

const WATCHDOG = `
pids=""
while IFS= read -r line; do
  case "$line" in
    +*) pids="$pids \${line#+}" ;;
    -*) p="\${line#-}"; keep=""; for x in $pids; do [ "$x" = "$p" ] || keep="$keep $x"; done; pids="$keep" ;;
  esac
done
for x in $pids; do kill -KILL -- "-$x" 2>/dev/null; kill -KILL "$x" 2>/dev/null; done
exit 0
`;

function tell(line: string): void {
  if (watchdog === undefined) {
    try {
      watchdog = spawn('/bin/sh', ['-c', WATCHDOG], {
        detached: true,
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      watchdog.on('error', () => {
        watchdog = undefined;
      });
      watchdog.stdin?.on('error', () => {});
      watchdog.unref();
      // The pipe must not keep the test process alive: an idle write end is just a handle.
      (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    } catch {
      watchdog = undefined;
      return;
    }
  }
  watchdog.stdin?.write(`${line}\n`);
}

/** Sends `signal` to the process group led by `pid`, falling back to the process alone. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

export function killAllSync(): void {
  for (const pid of live) signalGroup(pid, 'SIGKILL');
  live.clear();
}

function installHooks(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAllSync);
  // Monitor, not handler: adding an 'uncaughtException' listener would swallow the crash.
  process.on('uncaughtExceptionMonitor', killAllSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAllSync();
      // Keep the default "die of this signal" unless someone else has taken charge of it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.once(signal, onSignal);
  }
}

export function track(pid: number): void {
  installHooks();
  live.add(pid);
  tell(`+${pid}`);
}

export function untrack(pid: number): void {
  live.delete(pid);
  tell(`-${pid}`);
}
