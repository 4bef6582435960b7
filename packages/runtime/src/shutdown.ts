import { ShutdownTimeoutError } from './errors.js';
import { createLogger, type Logger } from './logging.js';

export type ShutdownHook = () => Promise<void> | void;

export interface ShutdownOptions {
  readonly log: Logger;
  /** After this long the process exits 1 even if hooks are still running; default 25 s. */
  readonly timeoutMs?: number;
  readonly signals?: readonly NodeJS.Signals[];
  /** Default `process.exit`; tests replace it. */
  readonly exit?: (code: number) => void;
}

export interface Shutdown {
  /**
   * Registers a hook. Hooks run in reverse order of registration (last opened,
   * first closed): register the NATS drain before the consumers that use it.
   */
  onShutdown(hook: ShutdownHook): void;
  /**
   * Runs every hook once, then exits with `exitCode` (default 0; 1 if a hook failed
   * or the deadline passed). Later calls return the same promise.
   */
  shutdown(reason: string, exitCode?: number): Promise<void>;
  /** SIGTERM/SIGINT start `shutdown`; a second signal exits 1 at once. */
  installSignalHandlers(): void;
  readonly shuttingDown: boolean;
}

/**
 * Graceful shutdown: Kubernetes sends SIGTERM and waits `terminationGracePeriodSeconds`
 * (30 s by default) before SIGKILL, so the default 25 s deadline leaves time to exit.
 */
export function createShutdown(opts: ShutdownOptions): Shutdown {
  const hooks: ShutdownHook[] = [];
  const timeoutMs = opts.timeoutMs ?? 25_000;
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const log = opts.log;
  let running: Promise<void> | undefined;
  let exited = false;
  const exitOnce = (code: number): void => {
    if (exited) return;
    exited = true;
    exit(code);
  };

  const self: Shutdown = {
    get shuttingDown() {
      return running !== undefined;
    },
    onShutdown(hook) {
      hooks.push(hook);
    },
    shutdown(reason, exitCode = 0) {
      running ??= (async () => {
        log.info({ event: 'shutdown.start', reason, timeoutMs }, 'shutting down');
        const timer = setTimeout(() => {
          log.error(
            { event: 'shutdown.timeout', err: new ShutdownTimeoutError(timeoutMs) },
            'graceful shutdown timed out; exiting 1',
          );
          exitOnce(1);
        }, timeoutMs);
        timer.unref();
        let failed = false;
        for (const hook of [...hooks].reverse()) {
          try {
            await hook();
          } catch (err) {
            failed = true;
            log.error({ event: 'shutdown.hook_failed', err }, 'shutdown step failed');
          }
        }
        clearTimeout(timer);
        log.info({ event: 'shutdown.done', failed }, 'shutdown complete');
        exitOnce(failed ? 1 : exitCode);
      })();
      return running;
    },
    installSignalHandlers() {
      for (const sig of opts.signals ?? (['SIGTERM', 'SIGINT'] as const)) {
        process.on(sig, () => {
          if (running) {
            log.warn({ event: 'shutdown.forced', signal: sig }, 'second signal; exiting 1 now');
            exitOnce(1);
            return;
          }
          void self.shutdown(sig);
        });
      }
    },
  };
  return self;
}

export interface ServiceContext {
  readonly name: string;
  readonly log: Logger;
  /** Aborted when shutdown starts; pass it to long waits. */
  readonly signal: AbortSignal;
  /** Registers cleanup that runs after the service's own `stop()` (e.g. `bus.drain()`). */
  onShutdown(hook: ShutdownHook): void;
}

export interface RunningService {
  /** Stop taking work and finish what is in flight. */
  stop(): Promise<void>;
}

export interface RunServiceOptions {
  readonly name: string;
  readonly start: (ctx: ServiceContext) => Promise<RunningService>;
  readonly log?: Logger;
  readonly timeoutMs?: number;
  readonly exit?: (code: number) => void;
}

/**
 * Starts a service and owns its lifetime: on SIGTERM/SIGINT it calls the service's
 * `stop()` (stop consuming, finish in-flight work), then the hooks registered with
 * `ctx.onShutdown` in reverse order (drain NATS, close S3), then exits 0. A failing
 * start exits 1; a second signal or the deadline (default 25 s) exits 1.
 */
export async function runService(opts: RunServiceOptions): Promise<Shutdown> {
  const log = opts.log ?? createLogger(opts.name);
  const shutdown = createShutdown({
    log,
    ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
    ...(opts.exit === undefined ? {} : { exit: opts.exit }),
  });
  const ac = new AbortController();
  // Hooks the service registers run after its stop(); collect them separately.
  const serviceHooks: ShutdownHook[] = [];
  let service: RunningService | undefined;
  shutdown.onShutdown(async () => {
    for (const hook of [...serviceHooks].reverse()) {
      try {
        await hook();
      } catch (err) {
        log.error({ event: 'shutdown.hook_failed', err }, 'shutdown step failed');
      }
    }
  });
  shutdown.onShutdown(async () => {
    ac.abort();
    await service?.stop();
  });
  shutdown.installSignalHandlers();
  try {
    service = await opts.start({
      name: opts.name,
      log,
      signal: ac.signal,
      onShutdown: (hook) => serviceHooks.push(hook),
    });
    log.info({ event: 'service.started' }, `${opts.name} started`);
  } catch (err) {
    log.fatal({ event: 'service.start_failed', err }, `${opts.name} failed to start`);
    // Clean up whatever start() managed to open, then exit 1.
    await shutdown.shutdown('start failed', 1);
  }
  return shutdown;
}
