/**
 * `mailmesh apply` as a user runs it (the built executable, a child process) against a
 * real nats-server: valid files publish the expected documents; every kind of invalid
 * input exits 1 naming the field path and leaves the bucket exactly as it was.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KV } from '@nats-io/kv';
import { buildSnapshot, type CompiledDomain } from '@mailmesh/config';
import { kvBuckets } from '@mailmesh/proto';
import { connectBus, type Bus } from '@mailmesh/runtime';
import { startNats, type NatsPeer } from '@mailmesh/testkit';

import { ApplyConflictError, planChanges, publishChanges, readLive } from '../src/index.js';
import {
  domainSpec,
  exampleCopy,
  examples,
  find,
  mailboxOf,
  mailmesh,
  type ConfigDir,
  type Doc,
} from './helpers.js';

let nats: NatsPeer;
let bus: Bus;
let kv: KV;

const exampleKeys = [
  'domain.bj.company.local',
  'domain.company.local',
  'domain.sh.company.local',
  'policy.group-dlp',
  'policy.internal-only',
];

/** key -> revision of every live entry: equal before and after = nothing was written. */
async function revisions(): Promise<Record<string, number>> {
  const live = await readLive(kv);
  return Object.fromEntries([...live].map(([k, e]) => [k, e.revision]));
}

async function liveDomain(fqdn: string): Promise<CompiledDomain | undefined> {
  const live = await readLive(kv);
  return buildSnapshot(new Map([...live].map(([k, e]) => [k, e.value]))).domains.get(fqdn);
}

const apply = (...args: string[]) => mailmesh(['apply', '--nats', nats.url, ...args]);

beforeAll(async () => {
  nats = await startNats();
  // Applying the examples once creates the bucket; the invalid cases then run against it.
  const first = await apply('-f', examples);
  expect(first.stderr).toBe('');
  expect(first.code).toBe(0);
  bus = await connectBus({ servers: nats.url, name: 'cli-apply-test' });
  kv = await bus.kv(kvBuckets.config);
});

afterAll(async () => {
  await bus?.close();
  await nats?.stop();
});

describe('valid configuration', () => {
  it('published every example domain and policy, with argon2id hashes for the Secret passwords', async () => {
    const live = await readLive(kv);
    expect([...live.keys()].sort()).toEqual(exampleKeys);
    const snapshot = buildSnapshot(new Map([...live].map(([k, e]) => [k, e.value])));
    const sh = snapshot.domains.get('sh.company.local');
    expect(sh?.aliases).toEqual(['shanghai.company.local']);
    expect(sh?.mailboxes.map((m) => m.address)).toEqual(['zhang.san@sh.company.local']);
    expect(sh?.mailboxes[0]?.passwordHash).toMatch(/^\$argon2id\$/);
    expect(sh?.outbound.smartHost).toMatchObject({
      host: 'mail.company.local',
      port: 587,
      tls: 'required',
    });
    expect(snapshot.domains.get('company.local')?.groups[0]?.members).toContain(
      'zhang.san@sh.company.local',
    );
    expect(snapshot.policies.get('group-dlp')?.direction).toBe('any');
    expect(snapshot.findRecipient('zhang.san@shanghai.company.local')?.kind).toBe('mailbox');
  });

  it('a second apply of the same files changes nothing (password hashes are kept)', async () => {
    const before = await revisions();
    const r = await apply('-f', examples);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^unchanged +domain\.sh\.company\.local$/m);
    expect(r.stdout).toContain('5 unchanged');
    expect(await revisions()).toEqual(before);
  });

  it('--json reports each key and its action', async () => {
    const r = await apply('-f', examples, '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { ok: boolean; changes: { key: string; action: string }[] };
    expect(out.ok).toBe(true);
    expect(out.changes.map((c) => c.key).sort()).toEqual(exampleKeys);
    expect(new Set(out.changes.map((c) => c.action))).toEqual(new Set(['unchanged']));
  });

  describe('changes', () => {
    let cfg: ConfigDir;
    beforeAll(async () => {
      cfg = await exampleCopy();
    });
    afterAll(async () => cfg?.remove());

    it('an edited domain is updated and only it', async () => {
      await cfg.docs('domains.yaml', (d) => {
        mailboxOf(d, 'hq', 0).quota = '2Gi';
      });
      const before = await revisions();
      const r = await apply('-f', cfg.dir);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^updated +domain\.company\.local$/m);
      expect(r.stdout).toContain('1 updated, 4 unchanged');
      const after = await revisions();
      expect(after['domain.company.local']).toBeGreaterThan(
        before['domain.company.local'] ?? Infinity,
      );
      expect({ ...after, 'domain.company.local': 0 }).toEqual({
        ...before,
        'domain.company.local': 0,
      });
      const hq = await liveDomain('company.local');
      expect(hq?.mailboxes.find((m) => m.localPart === 'postmaster')?.quotaBytes).toBe(
        2 * 1024 ** 3,
      );
    });

    it('--dry-run shows the change and publishes nothing', async () => {
      await cfg.docs('domains.yaml', (d) => {
        mailboxOf(d, 'hq', 0).quota = '3Gi';
      });
      const before = await revisions();
      const r = await apply('-f', cfg.dir, '--dry-run');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^updated +domain\.company\.local$/m);
      expect(r.stdout).toContain('nothing was published');
      expect(await revisions()).toEqual(before);
    });

    it('a domain left out is kept without --prune and deleted with it', async () => {
      await cfg.docs('domains.yaml', (d) => {
        d.splice(d.indexOf(find(d, 'MailDomain', 'bj')), 1);
      });
      const kept = await apply('-f', cfg.dir);
      expect(kept.code).toBe(0);
      expect(kept.stdout).toMatch(/^kept +domain\.bj\.company\.local/m);
      expect(Object.keys(await revisions())).toContain('domain.bj.company.local');

      const pruned = await apply('-f', cfg.dir, '--prune');
      expect(pruned.code).toBe(0);
      expect(pruned.stdout).toMatch(/^deleted +domain\.bj\.company\.local$/m);
      expect(Object.keys(await revisions())).not.toContain('domain.bj.company.local');

      // Back to the examples for the tests that follow.
      const restored = await apply('-f', examples);
      expect(restored.code).toBe(0);
      expect(restored.stdout).toMatch(/^created +domain\.bj\.company\.local$/m);
    });
  });
});

describe('invalid configuration exits 1 with the field path and publishes nothing', () => {
  let cfg: ConfigDir;
  beforeAll(async () => {
    cfg = await exampleCopy();
  });
  afterAll(async () => cfg?.remove());

  /** Applies after `change`, asserts exit 1, the bucket untouched, and returns stderr. */
  async function refused(file: string, change: (docs: Doc[]) => void): Promise<string> {
    await cfg.docs(file, change);
    return refusedNow();
  }

  async function refusedNow(): Promise<string> {
    const before = await revisions();
    const r = await apply('-f', cfg.dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(await revisions()).toEqual(before);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines.at(-1)).toMatch(
      /^mailmesh apply: invalid configuration \(\d+ issues?\); nothing was published$/,
    );
    // Restore for the next case.
    await cfg.remove();
    cfg = await exampleCopy();
    return r.stderr;
  }

  it('invalid YAML: file, line and column', async () => {
    await cfg.write('broken.yaml', 'apiVersion: v1\nkind: Secret\nstringData: [a\n');
    const err = await refusedNow();
    expect(err).toMatch(/broken\.yaml:\d+:\d+: invalid YAML/);
  });

  it('an unknown field', async () => {
    const err = await refused('domains.yaml', (d) => {
      mailboxOf(d, 'hq', 0).nickname = 'pm';
    });
    expect(err).toMatch(
      /domains\.yaml:\d+:\d+: MailDomain mail\/hq spec\.mailboxes\[0\]\.nickname: /,
    );
  });

  it('a duplicate mailbox', async () => {
    const err = await refused('domains.yaml', (d) => {
      const boxes = domainSpec(d, 'sh').mailboxes ?? [];
      boxes.push({ ...boxes[0], displayName: 'another 张三' });
    });
    expect(err).toMatch(/MailDomain mail\/sh spec\.mailboxes\[1\]/);
    expect(err).toMatch(/[Dd]uplicate/);
  });

  it('a policy that references a missing name', async () => {
    const err = await refused('domains.yaml', (d) => {
      domainSpec(d, 'bj').policies = ['group-dlp', 'no-such-policy'];
    });
    expect(err).toMatch(
      /MailDomain mail\/bj spec\.policies\[1\]: MailPolicy "no-such-policy" not found/,
    );
  });

  it('a missing Secret, while another file has a valid change: that change is not published either', async () => {
    await cfg.docs('domains.yaml', (d) => {
      mailboxOf(d, 'hq', 0).quota = '5Gi';
    });
    const err = await refused('dev-secrets.yaml', (d) => {
      const data = find(d, 'Secret', 'dev-passwords').stringData ?? {};
      delete data['li.si.bj.company.local'];
    });
    expect(err).toMatch(
      /MailDomain mail\/bj spec\.mailboxes\[0\]\.password\.secretRef\.key: .*li\.si\.bj\.company\.local/,
    );
    const hq = await liveDomain('company.local');
    expect(hq?.mailboxes.find((m) => m.localPart === 'postmaster')?.quotaBytes).toBe(1024 ** 3);
  });

  it('a file that does not exist', async () => {
    const r = await apply('-f', join(cfg.dir, 'nope.yaml'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('nope.yaml: no such file or directory');
  });
});

describe('failures outside the files', () => {
  it('an unreachable NATS server: exit 1 with a one-line reason', async () => {
    const r = await mailmesh(['apply', '-f', examples, '--nats', 'nats://127.0.0.1:1']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^mailmesh apply: cannot use NATS at nats:\/\/127\.0\.0\.1:1: /);
  });

  it('missing -f: usage error, exit 1', async () => {
    const r = await mailmesh(['apply']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("required option '-f, --filename <path>'");
  });

  it('a write conflicting with another writer stops with ApplyConflictError and writes nothing after it', async () => {
    const live = await readLive(kv);
    const doc = JSON.parse(
      new TextDecoder().decode(live.get('policy.internal-only')?.value),
    ) as Record<string, unknown>;
    const desired = new Map<string, unknown>([
      ['policy.internal-only', { ...doc, direction: 'any' }],
    ]);
    const plan = planChanges(desired, live, { prune: false });
    // Someone else writes the key after we read it.
    await kv.put('policy.internal-only', new TextEncoder().encode(JSON.stringify(doc)));
    const before = await revisions();
    await expect(publishChanges(kv, plan)).rejects.toBeInstanceOf(ApplyConflictError);
    expect(await revisions()).toEqual(before);
  });
});
