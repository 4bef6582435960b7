/**
 * Children of `mailmesh dev` run in their own process groups (so a Ctrl-C in the
 * terminal reaches only `mailmesh`, which then stops them in order). That also means
 * they would outlive a `mailmesh` killed with SIGKILL. A tiny `sh` watchdog holds the
 * read end of a pipe and learns each group id as a line; when this process dies in any
 * way the pipe closes, `read` hits EOF, and the watchdog SIGKILLs every group it knows.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const SCRIPT = `
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

export class Watchdog {
  private proc: ChildProcess | undefined;

  private tell(line: string): void {
    if (this.proc === undefined) {
      const proc = spawn('/bin/sh', ['-c', SCRIPT], {
        detached: true,
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      proc.on('error', () => {
        this.proc = undefined;
      });
      proc.stdin?.on('error', () => undefined);
      proc.unref();
      // An idle pipe must not keep `mailmesh` alive.
      (proc.stdin as unknown as { unref?: () => void } | null)?.unref?.();
      this.proc = proc;
    }
    this.proc.stdin?.write(`${line}\n`);
  }

  watch(pid: number): void {
    this.tell(`+${pid}`);
  }

  forget(pid: number): void {
    this.tell(`-${pid}`);
  }

  /** Ends the watchdog without killing anything (every child is already gone). */
  close(): void {
    this.proc?.stdin?.end();
    this.proc = undefined;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }
}

/** Sends `signal` to the process group led by `pid`, else to the process alone. */
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

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
