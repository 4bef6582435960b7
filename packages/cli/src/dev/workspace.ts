/**
 * Where `mailmesh dev` finds things: the repository checkout it runs from (example
 * config, setup script, built services) and the peer binaries `scripts/setup.sh`
 * installs (`$MAILMESH_BIN`, default `${XDG_CACHE_HOME:-~/.cache}/mailmesh/bin`).
 */
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The nearest directory above `from` whose package.json has `workspaces`. */
export function findWorkspaceRoot(
  from: string = dirname(fileURLToPath(import.meta.url)),
): string | undefined {
  let dir = resolve(from);
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        const json = JSON.parse(readFileSync(pkg, 'utf8')) as { workspaces?: unknown };
        if (Array.isArray(json.workspaces)) return dir;
      } catch {
        // not ours; keep looking
      }
    }
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

export function binDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env['MAILMESH_BIN'];
  if (explicit !== undefined && explicit !== '') return explicit;
  const cacheRoot = env['MAILMESH_CACHE'];
  if (cacheRoot !== undefined && cacheRoot !== '') return join(cacheRoot, 'bin');
  const xdg = env['XDG_CACHE_HOME'];
  return join(xdg !== undefined && xdg !== '' ? xdg : join(homedir(), '.cache'), 'mailmesh', 'bin');
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `$MAILMESH_BIN/name`, else `name` on PATH, else `/usr/sbin/name`; undefined if none. */
export function findBinary(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const path = (env['PATH'] ?? '').split(delimiter).filter((d) => d !== '');
  for (const dir of [binDir(env), ...path, '/usr/sbin']) {
    const candidate = join(dir, name);
    if (executable(candidate)) return candidate;
  }
  return undefined;
}

/** A service `mailmesh dev` knows how to run, and whether this checkout has it built. */
export interface ServiceInfo {
  readonly name: ServiceName;
  /** `services/<name>` */
  readonly dir: string;
  /** The built entry point (`dist/main.js`) when there is one. */
  readonly main?: string;
  /** Why it cannot run, when `main` is absent. */
  readonly missing?: string;
}

/** Start order: consumers first, the SMTP ingress last, so accepted mail flows at once. */
export const serviceNames = [
  'scanner',
  'router',
  'delivery',
  'mailstore',
  'api',
  'ingress',
] as const;
export type ServiceName = (typeof serviceNames)[number];

/** Looks each service up in `<root>/services/<name>`: its package's `mailmesh-<name>` bin. */
export function discoverServices(root: string): ServiceInfo[] {
  return serviceNames.map((name): ServiceInfo => {
    const dir = join(root, 'services', name);
    const pkgFile = join(dir, 'package.json');
    if (!existsSync(pkgFile)) return { name, dir, missing: 'not in this checkout yet' };
    let bin: string | undefined;
    try {
      const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as {
        bin?: Record<string, string> | string;
      };
      bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.[`mailmesh-${name}`];
    } catch {
      return { name, dir, missing: 'its package.json is not valid JSON' };
    }
    if (bin === undefined)
      return { name, dir, missing: `its package.json has no "mailmesh-${name}" bin yet` };
    const main = join(dir, bin);
    if (!existsSync(main)) {
      const src = join(dir, 'src', 'main.ts');
      return {
        name,
        dir,
        missing: existsSync(src)
          ? `not built (${bin} missing): run \`npm run build\``
          : 'has no src/main.ts yet',
      };
    }
    return { name, dir, main };
  });
}
