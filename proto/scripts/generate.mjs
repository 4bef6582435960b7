// @ts-check
// `buf generate` into a temporary directory, then move into src/gen only the
// files whose bytes changed (each by an atomic rename) and delete stale ones.
//
// Why not plain `buf generate`: turbo runs this package's build beside its
// typecheck and lint, and build regenerates first. Plain generation truncates
// and rewrites every file, so a concurrent tsc could read a half-written or
// missing file. This way an unchanged schema writes nothing (and tsc -b stays
// incremental), and a changed file appears whole.
//
// Run it through npm (`npm run generate`), which puts buf and protoc-gen-es
// from node_modules/.bin on PATH.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, 'src', 'gen');
// Inside dist/ (ignored by git, ESLint, prettier and buf) and on the same
// filesystem as src/gen, so that renameSync is atomic.
mkdirSync(join(root, 'dist'), { recursive: true });
const tmp = mkdtempSync(join(root, 'dist', '.gen-'));

/** Relative paths of all files below `dir` ([] if it does not exist). */
function files(dir) {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => relative(dir, join(e.parentPath, e.name)));
  } catch {
    return [];
  }
}

function read(path) {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

try {
  execFileSync('buf', ['generate', '--output', tmp], { cwd: root, stdio: 'inherit' });
  const fresh = join(tmp, 'src', 'gen');
  const produced = new Set(files(fresh));
  for (const file of produced) {
    const next = join(fresh, file);
    const current = join(target, file);
    if (read(current)?.equals(/** @type {Buffer} */ (read(next)))) continue;
    mkdirSync(dirname(current), { recursive: true });
    renameSync(next, current);
  }
  for (const file of files(target)) {
    if (!produced.has(file)) rmSync(join(target, file));
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
