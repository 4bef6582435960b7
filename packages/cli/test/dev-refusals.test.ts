/**
 * `mailmesh dev` refusing to start: an invalid config, a taken port, a bad flag. Each
 * exits 1 with the reason on stderr and starts no process (no peer data dir appears).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { domainSpec, exampleCopy, freeBase, mailmesh, type ConfigDir } from './helpers.js';

describe('mailmesh dev refuses to start', () => {
  let data: string;
  let cfg: ConfigDir;
  beforeAll(async () => {
    data = await mkdtemp(join(tmpdir(), 'mailmesh-dev-refusal-'));
    cfg = await exampleCopy();
  });
  afterAll(async () => {
    await cfg?.remove();
    await rm(data, { recursive: true, force: true });
  });

  it('on an invalid config: every issue with its field path, and nothing started', async () => {
    await cfg.docs('domains.yaml', (d) => {
      domainSpec(d, 'bj').policies = ['group-dlp', 'no-such-policy'];
      const boxes = domainSpec(d, 'sh').mailboxes ?? [];
      boxes.push({ ...boxes[0] });
    });
    const r = await mailmesh(['dev', '--config', cfg.dir, '--data', data, '--port-base', '40000']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /MailDomain mail\/bj spec\.policies\[1\]: MailPolicy "no-such-policy" not found/,
    );
    expect(r.stderr).toMatch(/MailDomain mail\/sh spec\.mailboxes\[1\]/);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toBe(
      'mailmesh dev: invalid configuration (2 issues); nothing was started',
    );
    expect(r.stdout).not.toContain('mailmesh ready');
    expect(existsSync(join(data, 'nats'))).toBe(false);
    expect(existsSync(join(data, 'minio'))).toBe(false);
  });

  describe('on a port that is taken', () => {
    let server: Server;
    let base: number;
    beforeAll(async () => {
      // A range that is free, then hold its SMTP port.
      base = await freeBase();
      server = createServer();
      await new Promise<void>((r) => server.listen(base + 25, '127.0.0.1', r));
    });
    afterAll(async () => {
      await new Promise((r) => server.close(r));
    });

    it('names the port and what it is for', async () => {
      const fresh = await exampleCopy();
      try {
        const r = await mailmesh([
          'dev',
          '--config',
          fresh.dir,
          '--data',
          data,
          '--port-base',
          String(base),
        ]);
        expect(r.code).toBe(1);
        expect(r.stderr.trim()).toBe(
          `mailmesh dev: port ${base + 25} (SMTP) is already in use: stop what holds it or pick other ports with --port-base N`,
        );
        expect(existsSync(join(data, 'nats'))).toBe(false);
      } finally {
        await fresh.remove();
      }
    });
  });

  it('on a --port-base whose range does not fit', async () => {
    const r = await mailmesh(['dev', '--port-base', '65000', '--data', data]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(
      /^mailmesh dev: --port-base must be an integer from 1 to 64536/,
    );
  });
});
