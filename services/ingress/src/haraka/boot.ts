/**
 * Starts Haraka in this process the way its own bin does with `nodes=0`: write the
 * config directory, point HARAKA at it, load the plugins, bind the listeners. Haraka
 * keeps module-level state, so there is one Haraka per process.
 */
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { SecureContext } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { NetworkList, type PlatformConfig } from '@mailmesh/config';
import { deepFreeze } from '@mailmesh/runtime';
import type { ProxyV2Header } from '../proxy/v2.js';
import type { KeyPair } from '../tls.js';
import { harakaFiles } from './files.js';
import { interceptProxyV2 } from './proxy-shim.js';
import type { HarakaConnection, HarakaConstants } from './types.js';

/** Where the CommonJS shims live: <package>/haraka/plugins. */
export const pluginsDir = fileURLToPath(new URL('../../haraka/plugins', import.meta.url));

export class HarakaAlreadyStartedError extends Error {
  override readonly name = 'HarakaAlreadyStartedError';
  constructor() {
    super('Haraka is already running in this process (its modules keep global state)');
  }
}

interface HarakaServer {
  cfg: { main: Record<string, unknown> };
  notes: Record<string, unknown>;
  listeners: Array<{
    has_tls?: boolean;
    tlsServer?: { setSecureContext(o: object): void };
    setSecureContext?(o: object): void;
    close(cb?: () => void): void;
  }>;
  plugins: {
    server: unknown;
    load_plugins(): void;
    run_hooks(hook: string, obj: unknown, params?: unknown): void;
  };
  setup_smtp_listeners(plugins: unknown, type: string, inactivityMs: number): Promise<void>;
  get_smtp_server(ep: unknown, inactivityMs: number): Promise<EventEmitter>;
  stopListeners(): void;
}

interface TlsSocketModule {
  certsByHost: { set(path: string, value: unknown): void; '*'?: Record<string, unknown> };
}

interface ConnectionModule {
  Connection: {
    prototype: {
      queue_respond: (this: HarakaConnection, retval: number, msg: unknown) => void;
      queue_outbound_respond: (this: HarakaConnection, retval: number, msg: unknown) => void;
      store_queue_result: (this: HarakaConnection, retval: number, msg: string) => void;
    };
  };
}

export interface HarakaHandle {
  readonly dir: string;
  readonly constants: HarakaConstants;
  /** Applies a reloaded certificate to STARTTLS and to the implicit-TLS listeners. */
  applyKeyPair(pair: KeyPair): void;
  stopListening(): void;
}

let started = false;

export interface BootOptions {
  readonly dir: string;
  readonly platform: PlatformConfig;
  readonly logLevel: string;
  readonly keyPair: KeyPair;
  /** Installs the host object the shims call, before any plugin runs. */
  readonly install: (constants: HarakaConstants) => void;
  /** Reply marker class whose queue replies go out without Haraka's uuid suffix. */
  readonly queuedReply: abstract new (...args: never[]) => { readonly text: string };
  readonly spoolAfterBytes?: number;
  /** A load balancer's PROXY v2 header was refused (the connection got 421). */
  readonly onProxyRefused?: (ip: string, reason: string) => void;
  readonly onProxyHeader?: (ip: string, header: ProxyV2Header) => void;
}

export async function bootHaraka(opts: BootOptions): Promise<HarakaHandle> {
  if (started) throw new HarakaAlreadyStartedError();
  started = true;
  const configDir = join(opts.dir, 'config');
  const spoolDir = join(opts.dir, 'spool');
  await mkdir(configDir, { recursive: true });
  await mkdir(spoolDir, { recursive: true });
  const files = harakaFiles(opts.platform, {
    spoolDir,
    spoolAfterBytes: opts.spoolAfterBytes ?? 512 * 1024,
    logLevel: opts.logLevel,
    internalCmdKey: randomBytes(24).toString('hex'),
  });
  for (const [name, content] of files) await writeFile(join(configDir, name), content);
  const link = join(opts.dir, 'plugins');
  await rm(link, { force: true, recursive: true });
  await symlink(pluginsDir, link, 'dir');

  // haraka-config reads HARAKA when first loaded: set it before any Haraka module.
  process.env['HARAKA'] = opts.dir;
  const harakaRequire = createRequire(
    createRequire(import.meta.url).resolve('Haraka/package.json'),
  );
  const constants = harakaRequire('haraka-constants') as HarakaConstants;
  opts.install(constants);

  const conn = harakaRequire('./connection.js') as ConnectionModule;
  const plugins = harakaRequire('./plugins.js') as HarakaServer['plugins'];
  patchQueueReplies(conn, plugins, constants, opts.queuedReply);
  const tlsSocket = harakaRequire('./tls_socket.js') as TlsSocketModule;
  const server = harakaRequire('./server.js') as HarakaServer;
  patchProxyV2(server, opts);
  trimHotPaths(harakaRequire);

  let context: SecureContext = opts.keyPair.context;
  const sni = (_name: string, cb: (err: Error | null, ctx: SecureContext) => void): void =>
    cb(null, context);
  const applyKeyPair = (pair: KeyPair): void => {
    context = pair.context;
    tlsSocket.certsByHost.set('*.key', [pair.key]);
    tlsSocket.certsByHost.set('*.cert', [pair.cert]);
    tlsSocket.certsByHost.set('*.SNICallback', sni);
    for (const l of server.listeners) {
      if (!l.has_tls) continue;
      const target = l.tlsServer ?? l;
      target.setSecureContext?.({ key: pair.key, cert: pair.cert, minVersion: 'TLSv1.2' });
    }
  };

  // What Server.createServer() does for nodes=0, with the listener promise kept.
  server.notes = {};
  server.plugins.server = server;
  server.plugins.load_plugins();
  applyKeyPair(opts.keyPair);
  const inactivityMs = Number(server.cfg.main['inactivity_timeout'] ?? 300) * 1000;
  await server.setup_smtp_listeners(server.plugins, 'master', inactivityMs);
  applyKeyPair(opts.keyPair);

  return {
    dir: opts.dir,
    constants,
    applyKeyPair,
    stopListening: () => server.stopListeners(),
  };
}

interface MessageStreamModule {
  prototype: { spooling: boolean; destroy: (this: { spooling: boolean }) => void };
}

interface HarakaConfigModule {
  get: (...args: unknown[]) => unknown;
}

/**
 * The Haraka config files read for every connection or transaction: `results.ini`
 * (haraka-results, twice per session), `connection.ini` (the PROXY check) and `me`.
 */
const PER_CONNECTION_FILES = new Set(['results.ini', 'connection.ini', 'me']);

let trimmed = false;

/**
 * Costs stock Haraka pays for every mail that buy nothing here, measured with
 * `bench:ingress` under node --cpu-prof:
 *
 * - `Connection.respond` calls `os.hostname()` (a uname(2)) for every reply, to
 *   tag refusals with `[uuid@host]`. A pod keeps its host name while it runs, so
 *   the name is read once; this applies to the whole process. (~1.5%)
 * - On every transaction reset the message stream unlinks its spool file even if
 *   it never spooled to disk (the `spooling` flag stayed false), which queues an
 *   `fs.unlink` that fails with ENOENT. Such a stream has no file, fd or pending
 *   open, so it is left to the garbage collector. (~1.5%)
 * - Every `config.get` of haraka-config resolves and checks the path, builds a
 *   cache key, merges the override directory's copy into the default one and
 *   deep-clones the result; four per session (~5%). The per-connection files are
 *   written once by bootHaraka and never change while the process runs, so each
 *   (file, options) is read once and the value shared, frozen: a caller that
 *   wrote to it would fail loudly instead of changing it for every other.
 *   Reads with a reload callback, and every other file, go to haraka-config.
 */
function trimHotPaths(harakaRequire: NodeJS.Require): void {
  if (trimmed) return;
  trimmed = true;
  const os = harakaRequire('node:os') as { hostname: () => string };
  const name = os.hostname();
  os.hostname = () => name;
  const stream = harakaRequire('haraka-message-stream') as MessageStreamModule;
  const destroy = stream.prototype.destroy;
  stream.prototype.destroy = function (this: { spooling: boolean }): void {
    if (this.spooling) destroy.call(this);
  };
  const config = harakaRequire('haraka-config') as HarakaConfigModule;
  const get = config.get.bind(config);
  const read = new Map<string, unknown>();
  config.get = (...args: unknown[]): unknown => {
    const file = args[0];
    if (typeof file !== 'string' || !PER_CONNECTION_FILES.has(file)) return get(...args);
    if (args.some((a) => typeof a === 'function')) return get(...args);
    const key = JSON.stringify(args);
    if (read.has(key)) return read.get(key);
    const value = deepFreeze(get(...args));
    read.set(key, value);
    return value;
  };
}

/**
 * Haraka parses PROXY v1 only: every listener it creates gets the v2 shim in front
 * of its connection handler, before it is bound. The load balancers are the same
 * hosts Haraka trusts for v1 (connection.ini [haproxy], from `proxyProtocolFrom`).
 */
function patchProxyV2(server: HarakaServer, opts: BootOptions): void {
  const blocks = [...new Set(opts.platform.listeners.flatMap((l) => l.proxyProtocolFrom))];
  if (blocks.length === 0) return;
  const balancers = new NetworkList(blocks, 'proxyProtocolFrom');
  const original = server.get_smtp_server.bind(server);
  server.get_smtp_server = async (ep, inactivityMs) => {
    const listener = await original(ep, inactivityMs);
    interceptProxyV2(listener, {
      isLoadBalancer: (ip) => balancers.has(ip),
      ...(opts.onProxyRefused ? { onRefused: opts.onProxyRefused } : {}),
      ...(opts.onProxyHeader ? { onHeader: opts.onProxyHeader } : {}),
    });
    return listener;
  };
}

/**
 * Haraka appends its transaction uuid to every queue reply (`... (UUID)`), and maps
 * any queue refusal to 450. Mailmesh promises `250 2.0.0 Ok: queued as <mailId>`
 * (refusals are answered earlier, in data_post), so a QueuedReply goes out as is.
 */
function patchQueueReplies(
  conn: ConnectionModule,
  plugins: HarakaServer['plugins'],
  constants: HarakaConstants,
  marker: BootOptions['queuedReply'],
): void {
  const proto = conn.Connection.prototype;
  for (const method of ['queue_respond', 'queue_outbound_respond'] as const) {
    const original = proto[method];
    proto[method] = function (this: HarakaConnection, retval: number, msg: unknown): void {
      if (retval === constants.ok && msg instanceof marker) {
        proto.store_queue_result.call(this, retval, msg.text);
        plugins.run_hooks('queue_ok', this, msg.text);
        return;
      }
      original.call(this, retval, msg);
    };
  }
}

export const harakaDirOf = (workDir: string): string => join(workDir, 'haraka');
