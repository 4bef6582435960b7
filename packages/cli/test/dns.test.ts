/** `mailmesh dns DOMAIN` through the built executable. */
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { domainSpec, exampleCopy, examples, mailmesh, type ConfigDir } from './helpers.js';

describe('mailmesh dns', () => {
  it('prints MX, SPF and DMARC for the domain and each alias, in zone-file format', async () => {
    const r = await mailmesh(['dns', 'sh.company.local', '-f', examples]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => l !== '' && !l.startsWith(';'));
    expect(lines).toEqual([
      'sh.company.local.\tIN\tMX\t10 mx.sh.company.local.',
      'sh.company.local.\tIN\tTXT\t"v=spf1 mx -all"',
      '_dmarc.sh.company.local.\tIN\tTXT\t"v=DMARC1; p=quarantine; rua=mailto:postmaster@sh.company.local"',
      'shanghai.company.local.\tIN\tMX\t10 mx.sh.company.local.',
      'shanghai.company.local.\tIN\tTXT\t"v=spf1 mx -all"',
      '_dmarc.shanghai.company.local.\tIN\tTXT\t"v=DMARC1; p=quarantine; rua=mailto:postmaster@sh.company.local"',
    ]);
    // Why there is no DKIM record is said, as a zone-file comment.
    expect(r.stdout).toMatch(/^; note: .*no DKIM record/m);
  });

  it('finds a domain by its alias, and takes --mx', async () => {
    const r = await mailmesh([
      'dns',
      'shanghai.company.local',
      '-f',
      examples,
      '--mx',
      'gw.company.local',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const a = JSON.parse(r.stdout) as {
      domain: string;
      records: { type: string; name: string; value: string }[];
    };
    expect(a.domain).toBe('sh.company.local');
    expect(a.records.filter((x) => x.type === 'MX').map((x) => x.value)).toEqual([
      '10 gw.company.local.',
      '10 gw.company.local.',
    ]);
  });

  it('without -f: the records of a bare domain', async () => {
    const r = await mailmesh(['dns', 'example.org']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('example.org.\tIN\tMX\t10 mx.example.org.');
  });

  it('a name that is not a domain, or a domain not in the files: exit 1, one line', async () => {
    const bad = await mailmesh(['dns', 'not a domain']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^mailmesh dns: not a domain is not a domain name/);
    const missing = await mailmesh(['dns', 'gz.company.local', '-f', examples]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toContain('gz.company.local is not a domain of');
  });

  describe('with a DKIM key in a Secret', () => {
    let cfg: ConfigDir;
    let publicKey: string;
    beforeAll(async () => {
      cfg = await exampleCopy();
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      publicKey = createPublicKey(privateKey)
        .export({ type: 'spki', format: 'der' })
        .toString('base64');
      await cfg.docs('domains.yaml', (d) => {
        (domainSpec(d, 'sh').outbound ??= {})['dkim'] = {
          selector: 'mm1',
          key: { secretRef: { name: 'sh-dkim', key: 'private.pem' } },
        };
      });
      const indented = pem
        .trimEnd()
        .split('\n')
        .map((l) => `    ${l}`)
        .join('\n');
      await cfg.write(
        'dkim.yaml',
        `apiVersion: v1\nkind: Secret\nmetadata: { name: sh-dkim, namespace: mail }\nstringData:\n  private.pem: |\n${indented}\n`,
      );
    });
    afterAll(async () => cfg?.remove());

    it('adds the selector record with the public key, split into 255-byte strings', async () => {
      const r = await mailmesh(['dns', 'sh.company.local', '-f', cfg.dir]);
      expect(r.code).toBe(0);
      const line = r.stdout
        .split('\n')
        .find((l) => l.startsWith('mm1._domainkey.sh.company.local.'));
      expect(line).toBeDefined();
      const strings = [...(line ?? '').matchAll(/"([^"]*)"/g)].map((m) => m[1] ?? '');
      expect(strings.length).toBeGreaterThan(1);
      for (const s of strings) expect(s.length).toBeLessThanOrEqual(255);
      expect(strings.join('')).toBe(`v=DKIM1; k=rsa; p=${publicKey}`);
    });
  });
});
