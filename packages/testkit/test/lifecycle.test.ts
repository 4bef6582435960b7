import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

import {
  BinaryNotFoundError,
  binPath,
  EICAR,
  freePort,
  GTUBE,
  PeerStartError,
  PeerStateError,
  startNats,
} from '../src/index.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('peer lifecycle', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('stop() ends the process and removes the dir, and is idempotent', async () => {
    const nats = await startNats({ jetstream: false });
    const pid = nats.pid;
    expect(pid).toBeTypeOf('number');
    expect(existsSync(nats.logFile)).toBe(true);
    await Promise.all([nats.stop(), nats.stop()]);
    await nats.stop();
    expect(alive(pid ?? -1)).toBe(false);
    expect(existsSync(nats.dir)).toBe(false);
    await expect(nats.restart()).rejects.toBeInstanceOf(PeerStateError);
  });

  it('keeps the dir of a peer that crashed, and with MAILMESH_KEEP_PEERS=1', async () => {
    const crashed = await startNats({ jetstream: false });
    // An outside kill, not kill(): the kit must see it as a crash.
    process.kill(crashed.pid ?? -1, 'SIGKILL');
    await vi.waitFor(() => expect(crashed.pid).toBeUndefined(), { timeout: 5_000 });
    await crashed.stop();
    expect(existsSync(crashed.logFile)).toBe(true);
    rmSync(crashed.dir, { recursive: true, force: true });

    vi.stubEnv('MAILMESH_KEEP_PEERS', '1');
    const kept = await startNats({ jetstream: false });
    await kept.stop();
    expect(existsSync(kept.dir)).toBe(true);
    rmSync(kept.dir, { recursive: true, force: true });
  });

  it('kill() is not a crash: the dir goes on stop()', async () => {
    const nats = await startNats({ jetstream: false });
    await nats.kill();
    await nats.stop();
    expect(existsSync(nats.dir)).toBe(false);
  });

  it('a peer that fails to start throws an error naming it, its command and its log', async () => {
    const error = await startNats({ jetstream: false, extraConfig: 'this is { not valid' }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PeerStartError);
    const e = error as PeerStartError;
    expect(e.peer).toBe('nats');
    expect(e.message).toContain('nats-server');
    expect(e.commandLine).toContain('nats.conf');
    expect(e.logTail.length).toBeGreaterThan(0);
    // the dir stays for the log named in the error
    expect(await readFile(e.logFile, 'utf8')).toContain(e.logTail.split('\n')[0] ?? '');
    rmSync(join(e.logFile, '..'), { recursive: true, force: true });
  });

  it('a missing binary throws a clear error pointing at npm run setup', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'mailmesh-nobin-'));
    try {
      vi.stubEnv('MAILMESH_BIN', empty);
      vi.stubEnv('PATH', empty);
      expect(() => binPath('mailmesh-no-such-peer')).toThrow(BinaryNotFoundError);
      expect(() => binPath('mailmesh-no-such-peer')).toThrow(
        `mailmesh-no-such-peer not found in $MAILMESH_BIN (${empty})`,
      );
      await expect(startNats()).rejects.toThrow(
        /nats-server not found in \$MAILMESH_BIN .*run `npm run setup`/,
      );
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('binPath prefers $MAILMESH_BIN over PATH', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailmesh-bin-'));
    try {
      writeFileSync(join(dir, 'sh'), '#!/bin/sh\n', { mode: 0o755 });
      vi.stubEnv('MAILMESH_BIN', dir);
      expect(binPath('sh')).toBe(join(dir, 'sh'));
      vi.stubEnv('MAILMESH_BIN', join(dir, 'missing'));
      expect(binPath('sh')).not.toBe(join(dir, 'sh'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('freePort hands out distinct bindable ports', async () => {
    const ports = new Set<number>();
    for (let i = 0; i < 20; i++) ports.add(await freePort());
    expect(ports.size).toBe(20);
  });

  it('exports the standard test strings', () => {
    expect(EICAR).toHaveLength(68);
    expect(EICAR.startsWith('X5O!P%@AP')).toBe(true);
    expect(GTUBE).toBe('XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X');
  });
});
