/**
 * `mailmesh dev`: the whole platform on this machine. Validates the config first (an
 * invalid file starts nothing), then starts nats-server and MinIO with their data in
 * the data dir, provisions streams, consumers and buckets, publishes the config with
 * the same code as `mailmesh apply`, starts one process of every built service, prints
 * the endpoints and `mailmesh ready`. It then watches the config files: a valid edit is
 * published, an invalid one is refused and the live config stays.
 *
 * SIGINT/SIGTERM stop every child, last started first, and exit 0. A child that exits
 * on its own stops everything and exits 1, naming the child and its log.
 */
import { spawn } from 'node:child_process';
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';

import type { KV } from '@nats-io/kv';
import { configKeys, objectBuckets } from '@mailmesh/proto';
import {
  connectBus,
  connectObjectStore,
  provision,
  type Bus,
  type ObjectStore,
} from '@mailmesh/runtime';

import { applyConfig } from '../apply/apply.js';
import { compileSources } from '../apply/compile.js';
import { readSources } from '../apply/files.js';
import { summarize } from '../apply/plan.js';
import { openConfigBucket } from '../apply/publish.js';
import {
  ChildCrashedError,
  CliError,
  ConfigInvalidError,
  formatIssue,
  PeerMissingError,
  PortInUseError,
  UsageError,
} from '../errors.js';
import type { Output } from '../output.js';
import { portFree } from './checks.js';
import { devDnsTable } from './dns-table.js';
import {
  clamdChild,
  dataLayout,
  minioChild,
  minioCredentials,
  natsChild,
  spamdChild,
  type DataLayout,
  type S3Credentials,
} from './peers.js';
import { devPlatform } from './platform.js';
import { allPorts, devPorts, type DevPorts } from './ports.js';
import { endpointsOf, serviceChild } from './services.js';
import { Supervisor, tailOf, type ChildExit, type RunningChild } from './supervisor.js';
import { ensureDevCertificate } from './tls.js';
import { alive, signalGroup } from './watchdog.js';
import {
  binDir,
  discoverServices,
  findBinary,
  findWorkspaceRoot,
  type ServiceInfo,
} from './workspace.js';

export interface DevOptions {
  /** Config files or directories; default `<repo>/examples/company`. */
  readonly configs: readonly string[];
  /** Default `./.mailmesh`. */
  readonly dataDir?: string;
  readonly portBase?: number;
  /** Run scripts/setup.sh when a peer binary is missing; default true. */
  readonly setup?: boolean;
  /** Watch the config files and re-apply on change; default true. */
  readonly watch?: boolean;
  readonly out: Output;
}

/** Written to `<data>/dev.json` while running, for `mailmesh apply` and for tests. */
export interface DevState {
  readonly pid: number;
  readonly natsUrl: string;
  readonly s3Endpoint: string;
  readonly credentialsFile: string;
  readonly children: readonly { name: string; pid: number }[];
  readonly watchdogPid?: number;
}

/** The platform's host name in dev (greetings, Received, DSNs). */
const DEV_HOSTNAME = 'localhost';

const display = (p: string): string => {
  const r = relative(process.cwd(), p);
  return r === '' ? '.' : r.startsWith('..') ? p : r;
};

async function runSetup(root: string, out: Output): Promise<void> {
  const script = join(root, 'scripts', 'setup.sh');
  if (!existsSync(script)) {
    throw new PeerMissingError(
      'nats-server/minio',
      `install them into ${binDir()} (no scripts/setup.sh here)`,
    );
  }
  out.info(
    `peer binaries missing: running ${display(script)} (first run builds them; this takes a while)`,
  );
  const code = await new Promise<number>((resolveExit) => {
    // Inherit stdio: the script's own progress lines are the progress shown.
    const child = spawn('bash', [script], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('error', () => resolveExit(127));
    child.once('exit', (c) => resolveExit(c ?? 1));
  });
  if (code !== 0)
    throw new PeerMissingError(
      'nats-server/minio',
      `scripts/setup.sh failed (exit ${code}); see its output above`,
    );
}

export class DevSession {
  private readonly supervisor: Supervisor;
  private readonly layout: DataLayout;
  private readonly ports: DevPorts;
  private bus: Bus | undefined;
  private store: ObjectStore | undefined;
  private kv: KV | undefined;
  private watchers: FSWatcher[] = [];
  private reloadTimer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> = Promise.resolve();
  private finish!: (code: number) => void;
  private readonly finished: Promise<number>;
  private stopping: Promise<number> | undefined;
  private configFiles: string[];
  private s3: S3Credentials | undefined;
  private lockHeld = false;
  /** Removed on stop. */
  private readonly tempDirs: string[] = [];

  constructor(private readonly opts: DevOptions) {
    this.layout = dataLayout(resolve(opts.dataDir ?? '.mailmesh'));
    this.ports = devPorts(opts.portBase);
    this.configFiles = [...opts.configs];
    this.finished = new Promise((r) => (this.finish = r));
    this.supervisor = new Supervisor((child, exit) => this.onCrash(child, exit));
  }

  private get out(): Output {
    return this.opts.out;
  }

  /** Runs until stopped; resolves with the exit code. */
  async run(): Promise<number> {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (this.stopping !== undefined) {
        this.out.warn(`${signal} again: killing every child now`);
        for (const c of this.supervisor.pids()) signalGroup(c.pid, 'SIGKILL');
        this.finish(1);
        return;
      }
      this.out.info(`${signal}: stopping`);
      void this.stop(0);
    };
    const onHup = (): void => this.scheduleReload('SIGHUP');
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('SIGHUP', onHup);
    try {
      await this.start();
    } catch (err) {
      if (this.stopping === undefined) {
        this.report(err);
        await this.stop(1);
      }
    }
    const code = await this.finished;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onHup);
    return code;
  }

  private report(err: unknown): void {
    if (err instanceof ConfigInvalidError) {
      for (const i of err.issues) this.out.error(formatIssue(i));
      this.out.fail(
        `dev: invalid configuration (${err.issues.length} issue${err.issues.length === 1 ? '' : 's'}); nothing was started`,
      );
    } else if (err instanceof CliError) {
      this.out.fail(`dev: ${err.message}`);
    } else {
      this.out.fail(`dev: ${err instanceof Error ? err.message : String(err)}`);
      if (process.env['MAILMESH_DEBUG'] && err instanceof Error && err.stack)
        this.out.error(err.stack);
    }
  }

  private async start(): Promise<void> {
    const out = this.out;
    const root = findWorkspaceRoot();
    if (this.configFiles.length === 0) {
      if (root === undefined)
        throw new UsageError(
          'no --config given and no Mailmesh checkout found for the default examples/company',
        );
      this.configFiles = [join(root, 'examples', 'company')];
    }
    out.step(
      `mailmesh dev: data in ${display(this.layout.root)}, config ${this.configFiles.map(display).join(', ')}`,
    );

    // 1. The config must be valid before anything starts.
    const sources = await readSources(this.configFiles);
    const first = await compileSources(sources, { prune: true });
    out.ok(
      `config valid: ${first.domains.length} domain(s) (${first.domains.map((d) => d.domain).join(', ')}), ${first.policies.length} polic${first.policies.length === 1 ? 'y' : 'ies'}`,
    );

    // 2. What can run, and are its ports free?
    const services = root === undefined ? [] : discoverServices(root);
    const runnable = services.filter(
      (s): s is ServiceInfo & { main: string } => s.main !== undefined,
    );
    await this.takeLock();
    const wanted = allPorts(this.ports, runnable.length).filter((p) =>
      this.portNeeded(p.purpose, runnable),
    );
    for (const p of wanted)
      if (!(await portFree(p.port))) throw new PortInUseError(p.port, p.purpose);

    // 3. Peer binaries, installed on first use.
    let nats = findBinary('nats-server');
    let minio = findBinary('minio');
    if (
      (nats === undefined || minio === undefined) &&
      root !== undefined &&
      this.opts.setup !== false
    ) {
      await runSetup(root, out);
      nats = findBinary('nats-server');
      minio = findBinary('minio');
    }
    if (nats === undefined)
      throw new PeerMissingError(
        'nats-server',
        `not in ${binDir()} or PATH: run \`npm run setup\``,
      );
    if (minio === undefined)
      throw new PeerMissingError('minio', `not in ${binDir()} or PATH: run \`npm run setup\``);

    await mkdir(this.layout.logs, { recursive: true });
    await mkdir(this.layout.services, { recursive: true });

    // 4. TLS, once per data dir.
    const tls = await ensureDevCertificate(
      this.layout.tls,
      first.domains.flatMap((d) => [d.domain, ...d.aliases]),
    );
    out.ok(
      `TLS certificate ${display(tls.certFile)} (${tls.created ? 'generated, self-signed' : 'kept from an earlier run'})`,
    );

    // 5. Peers.
    const natsUrl = `nats://127.0.0.1:${this.ports.internal.nats}`;
    const s3Endpoint = `http://127.0.0.1:${this.ports.internal.s3}`;
    const n = await this.supervisor.start(await natsChild(nats, this.layout, this.ports.internal));
    out.ok(
      `nats-server ${natsUrl} (pid ${n.pid}, JetStream in ${display(join(this.layout.nats, 'js'))})`,
    );
    this.s3 = await minioCredentials(this.layout);
    const m = await this.supervisor.start(
      await minioChild(minio, this.layout, this.ports.internal, this.s3),
    );
    out.ok(
      `minio ${s3Endpoint} (pid ${m.pid}, objects in ${display(join(this.layout.minio, 'data'))})`,
    );

    // 6. Streams, consumers, KV and S3 buckets.
    this.bus = await connectBus({ servers: natsUrl, name: 'mailmesh-dev' });
    const prov = await provision(this.bus);
    this.store = connectObjectStore({
      endpoint: s3Endpoint,
      accessKey: this.s3.accessKey,
      secretKey: this.s3.secretKey,
    });
    await this.store.ensureBuckets(Object.values(objectBuckets), { timeoutMs: 30_000 });
    out.ok(
      `provisioned ${prov.created.length + prov.updated.length + prov.unchanged.length} streams/consumers/KV buckets (${prov.created.length} created, ${prov.updated.length} updated) and S3 buckets ${Object.values(objectBuckets).join(', ')}`,
    );

    // 7. Config, with the same code as `mailmesh apply` (and the platform document).
    this.kv = (await openConfigBucket(this.bus)).kv;
    await this.publish('published');

    // 8. The scanner's antivirus and spam daemons, when it runs and they are installed.
    let clamdAddr: string | undefined;
    let spamdAddr: string | undefined;
    if (runnable.some((s) => s.name === 'scanner')) {
      const clamd = findBinary('clamd');
      if (clamd === undefined)
        out.skip(
          "clamd: not installed (scripts/setup.sh installs it); antivirus is unavailable and policies' onError applies",
        );
      else {
        const c = await this.supervisor.start(
          await clamdChild(clamd, this.layout, this.ports.internal),
        );
        clamdAddr = `127.0.0.1:${this.ports.internal.clamd}`;
        out.ok(`clamd ${clamdAddr} (pid ${c.pid}, dev signatures only: the EICAR test file)`);
      }
      const spamd = findBinary('spamd');
      if (spamd === undefined)
        out.skip('spamd: not installed (scripts/setup.sh installs it); spam checks are skipped');
      else {
        const spec = await spamdChild(spamd, this.layout, this.ports.internal);
        this.tempDirs.push(spec.tempDir);
        const c = await this.supervisor.start(spec);
        spamdAddr = `127.0.0.1:${this.ports.internal.spamd}`;
        out.ok(`spamd ${spamdAddr} (pid ${c.pid}, local rules, no network tests)`);
      }
    }

    // 9. Services.
    const env = {
      natsUrl,
      s3Endpoint,
      s3: this.s3,
      layout: this.layout,
      ports: this.ports,
      hostname: DEV_HOSTNAME,
      ...(clamdAddr !== undefined ? { clamd: clamdAddr } : {}),
      ...(spamdAddr !== undefined ? { spamd: spamdAddr } : {}),
    };
    await writeFile(
      this.layout.dnsFile,
      `${JSON.stringify(devDnsTable(first.domains), null, 2)}\n`,
    );
    for (const s of services)
      if (s.main === undefined) out.skip(`${s.name}: not started — ${s.missing ?? 'unavailable'}`);
    for (const [slot, s] of runnable.entries()) {
      const c = await this.supervisor.start(serviceChild(s, slot, env));
      out.ok(
        `${s.name} (pid ${c.pid}, health http://127.0.0.1:${this.ports.internal.healthBase + slot}/healthz, log ${display(c.logFile)})`,
      );
    }

    await this.writeState(natsUrl, s3Endpoint);
    this.printEndpoints(runnable, services, natsUrl, s3Endpoint);
    if (this.opts.watch !== false) this.watchConfig();
    out.line('mailmesh ready');
  }

  private portNeeded(purpose: string, runnable: readonly ServiceInfo[]): boolean {
    const has = (n: string): boolean => runnable.some((s) => s.name === n);
    if (['SMTP', 'submission', 'SMTPS'].includes(purpose)) return has('ingress');
    if (['IMAP', 'IMAPS', 'POP3'].includes(purpose)) return has('mailstore');
    if (purpose === 'HTTP API') return has('api');
    if (purpose === 'clamd' || purpose === 'spamd') return has('scanner');
    return true;
  }

  private async takeLock(): Promise<void> {
    await mkdir(this.layout.root, { recursive: true });
    const lock = join(this.layout.root, 'dev.lock');
    if (existsSync(lock)) {
      const pid = Number((await readFile(lock, 'utf8')).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new UsageError(
          `another mailmesh dev (pid ${pid}) is using ${display(this.layout.root)}: stop it or pass --data DIR`,
        );
      }
    }
    await writeFile(lock, `${process.pid}\n`);
    this.lockHeld = true;
  }

  private async writeState(natsUrl: string, s3Endpoint: string): Promise<void> {
    const wd = this.supervisor.watchdogPid;
    const state: DevState = {
      pid: process.pid,
      natsUrl,
      s3Endpoint,
      credentialsFile: join(this.layout.minio, 'credentials.json'),
      children: this.supervisor.pids(),
      ...(wd !== undefined ? { watchdogPid: wd } : {}),
    };
    await writeFile(this.layout.stateFile, `${JSON.stringify(state, null, 2)}\n`);
  }

  private printEndpoints(
    runnable: readonly ServiceInfo[],
    services: readonly ServiceInfo[],
    natsUrl: string,
    s3Endpoint: string,
  ): void {
    const out = this.out;
    out.line('');
    out.line('Endpoints');
    for (const e of endpointsOf(this.ports)) {
      const up = runnable.some((s) => s.name === e.service);
      const why = services.find((s) => s.name === e.service)?.missing ?? 'not in this checkout yet';
      out.line(
        `  ${e.label.padEnd(12)} ${e.url}${up ? '' : `   [not available: ${e.service} ${why}]`}`,
      );
    }
    out.line(
      `  ${'NATS'.padEnd(12)} ${natsUrl}   (monitoring http://127.0.0.1:${this.ports.internal.natsMonitor})`,
    );
    out.line(
      `  ${'S3 (MinIO)'.padEnd(12)} ${s3Endpoint}   (credentials in ${display(join(this.layout.minio, 'credentials.json'))})`,
    );
    out.line(`  ${'logs'.padEnd(12)} ${display(this.layout.logs)}/`);
    out.line(`  ${'TLS'.padEnd(12)} ${display(join(this.layout.tls, 'cert.pem'))} (self-signed)`);
    out.line('');
  }

  /** Compiles the config files against what is live and publishes the difference. */
  private async publish(verb: string): Promise<void> {
    if (this.kv === undefined) return;
    const sources = await readSources(this.configFiles);
    const platform = devPlatform({
      ports: this.ports.public,
      certFile: join(this.layout.tls, 'cert.pem'),
      keyFile: join(this.layout.tls, 'key.pem'),
      hostname: DEV_HOSTNAME,
    });
    const r = await applyConfig(this.kv, {
      files: sources,
      prune: true,
      extra: new Map([[configKeys.platform, platform]]),
    });
    await this.writeSecrets(r.compiled.secrets);
    const changed = r.changes.filter((c) => c.action !== 'unchanged');
    this.out.ok(
      `config ${verb}: ${summarize(r.changes)}${r.revision !== undefined ? ` (KV revision ${r.revision})` : ''}${
        changed.length > 0 && changed.length <= 8
          ? ` — ${changed.map((c) => `${c.action} ${c.key}`).join(', ')}`
          : ''
      }`,
    );
  }

  /**
   * The config's Secrets as a Kubernetes Secret volume (`<dir>/<name>/<key>`), which is
   * where services read smart-host credentials and DKIM keys. Replaced as a whole.
   */
  private async writeSecrets(
    secrets: ReadonlyMap<string, ReadonlyMap<string, Readonly<Record<string, string>>>>,
  ): Promise<void> {
    const next = `${this.layout.secrets}.next`;
    const old = `${this.layout.secrets}.old`;
    await rm(next, { recursive: true, force: true });
    await mkdir(next, { recursive: true, mode: 0o700 });
    for (const byName of secrets.values()) {
      for (const [name, data] of byName) {
        if (name.includes('/') || name.startsWith('.')) continue;
        await mkdir(join(next, name), { recursive: true, mode: 0o700 });
        for (const [key, value] of Object.entries(data)) {
          if (key.includes('/') || key.startsWith('..')) continue;
          await writeFile(join(next, name, key), value, { mode: 0o600 });
        }
      }
    }
    await rm(old, { recursive: true, force: true });
    if (existsSync(this.layout.secrets)) await rename(this.layout.secrets, old);
    await rename(next, this.layout.secrets);
    await rm(old, { recursive: true, force: true });
  }

  private watchConfig(): void {
    for (const p of this.configFiles) {
      try {
        const w = watch(p, { persistent: false }, () => this.scheduleReload('change'));
        w.on('error', () => undefined);
        this.watchers.push(w);
      } catch {
        // A path that cannot be watched is still reloaded on SIGHUP.
      }
    }
  }

  private scheduleReload(why: string): void {
    if (this.stopping !== undefined || this.kv === undefined) return;
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => {
      this.reloading = this.reloading.then(() => this.reload(why));
    }, 300);
  }

  private async reload(why: string): Promise<void> {
    if (this.stopping !== undefined) return;
    try {
      await this.publish(`reloaded (${why})`);
    } catch (err) {
      if (err instanceof ConfigInvalidError) {
        for (const i of err.issues) this.out.error(formatIssue(i));
        this.out.warn(
          `config refused (${err.issues.length} issue${err.issues.length === 1 ? '' : 's'}); the previous configuration stays live`,
        );
      } else {
        this.out.warn(
          `config reload failed: ${err instanceof Error ? err.message : String(err)}; the previous configuration stays live`,
        );
      }
    }
  }

  private onCrash(child: RunningChild, exit: ChildExit): void {
    if (this.stopping !== undefined) return;
    const e = new ChildCrashedError(child.name, exit.code, exit.signal, child.logFile);
    const tail = tailOf(child.logFile, 15);
    if (tail.length > 0) {
      this.out.error(`last lines of ${display(child.logFile)}:`);
      for (const l of tail) this.out.error(`    | ${l}`);
    }
    this.out.fail(`dev: ${e.message}`);
    void this.stop(1);
  }

  /** Stops everything (once) and resolves `run()` with `code`. */
  stop(code: number): Promise<number> {
    this.stopping ??= (async () => {
      clearTimeout(this.reloadTimer);
      for (const w of this.watchers) w.close();
      await this.reloading.catch(() => undefined);
      const running = this.supervisor.pids();
      if (running.length > 0)
        this.out.info(
          `stopping ${running
            .map((c) => c.name)
            .reverse()
            .join(', ')}`,
        );
      // Our connections first; the supervisor then stops services (last started first),
      // so they drain into a NATS that is still up, and the peers last.
      await this.bus?.close().catch(() => undefined);
      await this.store?.close().catch(() => undefined);
      await this.supervisor.stopAll((r) =>
        this.out.info(
          `stopped ${r.name} in ${(r.ms / 1000).toFixed(1)} s${r.killed ? ' (killed: it did not exit after SIGTERM)' : ''}`,
        ),
      );
      await rm(this.layout.stateFile, { force: true });
      for (const d of this.tempDirs) await rm(d, { recursive: true, force: true });
      if (this.lockHeld) await rm(join(this.layout.root, 'dev.lock'), { force: true });
      this.out.info(code === 0 ? 'stopped' : 'stopped after a failure');
      this.finish(code);
      return code;
    })();
    return this.stopping;
  }
}

export async function runDev(opts: DevOptions): Promise<number> {
  return new DevSession(opts).run();
}
