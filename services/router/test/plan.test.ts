import { describe, expect, it } from 'vitest';
import type { DsnNotify } from '@mailmesh/proto';
import { staticMailResolver, resolveMailHosts, type MxAnswer } from '@mailmesh/queue';

import {
  buildRouterConfig,
  domainGlob,
  domainsNeedingMx,
  expandRecipients,
  planRoutes,
  TransportRuleError,
  type EnvelopeRecipient,
} from '../src/index.js';
import { branch, entries, internalOnly } from '@mailmesh/rig';

const cfg = buildRouterConfig(entries(branch, [internalOnly]));
const noHeaders = { deliveredTo: new Set<string>(), receivedCount: 1 };
const rcpt = (address: string, notify: DsnNotify[] = []): EnvelopeRecipient => ({
  address,
  original: '',
  notify,
});

describe('domain globs', () => {
  it('matches subdomains at any depth but not the parent', () => {
    const g = domainGlob('*.company.local');
    expect(['sh.company.local', 'a.b.company.local'].map((d) => g.test(d))).toEqual([true, true]);
    expect(
      ['company.local', 'evilcompany.local', 'company.local.evil'].map((d) => g.test(d)),
    ).toEqual([false, false, false]);
    expect(domainGlob('sgcc.com.cn').test('sgcc.com.cn')).toBe(true);
    expect(domainGlob('sgcc.com.cn').test('x.sgcc.com.cn')).toBe(false);
  });

  it('refuses a malformed allowDomains list with the policy and path named', () => {
    const bad = entries([], []);
    bad.set(
      'policy.broken',
      new TextEncoder().encode(
        JSON.stringify({
          name: 'broken',
          direction: 'any',
          spec: { recipients: { allowDomains: ['ok.com', 'not a domain'] } },
        }),
      ),
    );
    expect(() => buildRouterConfig(bad)).toThrow(TransportRuleError);
    expect(() => buildRouterConfig(bad)).toThrow(/MailPolicy broken recipients.allowDomains\[1\]/);
  });
});

describe('expandRecipients', () => {
  it('expands nested groups with cycles once, collapses duplicates and maps domain aliases', () => {
    const x = expandRecipients(
      cfg.snapshot,
      [rcpt('sales@sh.company.local'), rcpt('Zhang.San@shanghai.company.local')],
      noHeaders,
    );
    expect(x.recipients.map((r) => [r.address, r.local, r.domain])).toEqual([
      ['zhang.san@sh.company.local', true, 'sh.company.local'],
      ['li.si@bj.company.local', true, 'bj.company.local'],
    ]);
    expect(x.refused).toEqual([]);
    expect(x.steps.filter((s) => s.kind === 'group').map((s) => s.from)).toEqual([
      'sales@sh.company.local',
      'all@sh.company.local',
    ]);
    expect(
      x.steps.some(
        (s) => s.kind === 'domain-alias' && s.from === 'Zhang.San@shanghai.company.local',
      ),
    ).toBe(true);
  });

  it('delivers to the mailbox and its forwardTo, and uses catch-all for unknown local parts', () => {
    const x = expandRecipients(
      cfg.snapshot,
      [rcpt('wang.wu@sh.company.local'), rcpt('nobody@bj.company.local')],
      noHeaders,
    );
    expect(x.recipients.map((r) => [r.address, r.local, r.forwardedBy])).toEqual([
      ['wang.wu@sh.company.local', true, []],
      ['wang.wu@partner.example', false, ['wang.wu@sh.company.local']],
      ['admin@bj.company.local', true, []],
    ]);
    expect(x.recipients[1]?.via).toEqual(['sh.company.local']);
  });

  it('refuses unknown local users, Delivered-To loops, too many hops and oversized lists precisely', () => {
    const x = expandRecipients(
      cfg.snapshot,
      [rcpt('ghost@sh.company.local'), rcpt('zhang.san@sh.company.local')],
      {
        deliveredTo: new Set(['zhang.san@sh.company.local']),
        receivedCount: 3,
      },
    );
    expect(x.refused.map((r) => [r.address, r.kind, r.code, r.enhanced])).toEqual([
      ['ghost@sh.company.local', 'unknown-user', 550, '5.1.1'],
      ['zhang.san@sh.company.local', 'mail-loop', 554, '5.4.6'],
    ]);
    const hops = expandRecipients(cfg.snapshot, [rcpt('zhang.san@sh.company.local')], {
      deliveredTo: new Set(),
      receivedCount: 101,
    });
    expect(hops.refused[0]?.kind).toBe('too-many-hops');
    const big = expandRecipients(cfg.snapshot, [rcpt('sales@sh.company.local')], noHeaders, {
      maxDepth: 10,
      maxRecipients: 1,
    });
    expect(big.recipients).toHaveLength(1);
    expect(big.refused[0]).toMatchObject({
      kind: 'expansion-too-large',
      enhanced: '5.5.3',
      address: 'sales@sh.company.local',
    });
    const deep = expandRecipients(cfg.snapshot, [rcpt('sales@sh.company.local')], noHeaders, {
      maxDepth: 0,
      maxRecipients: 100,
    });
    expect(deep.refused[0]).toMatchObject({ kind: 'expansion-too-deep', enhanced: '5.4.6' });
  });
});

describe('planRoutes', () => {
  const mx = (pairs: [string, MxAnswer][]) => new Map(pairs);

  it('sends local recipients per domain and sh outbound through its smart host, refusing outside domains by rule', () => {
    const x = expandRecipients(
      cfg.snapshot,
      [
        rcpt('li.si@bj.company.local'),
        rcpt('zhang.san@sh.company.local'),
        rcpt('boss@hq.company.local'),
        rcpt('x@gmail.com'),
        rcpt('y@sgcc.com.cn'),
      ],
      noHeaders,
    );
    expect(domainsNeedingMx(cfg, x, 'zhang.san@sh.company.local')).toEqual([]);
    const plan = planRoutes(cfg, 'zhang.san@sh.company.local', x, mx([]));
    expect(plan.jobs.map((j) => [j.subject, j.recipients.map((r) => r.address)])).toEqual([
      ['mail.deliver.local.bj.company.local', ['li.si@bj.company.local']],
      ['mail.deliver.local.sh.company.local', ['zhang.san@sh.company.local']],
      ['mail.deliver.remote.mail.hq.company.local', ['boss@hq.company.local', 'y@sgcc.com.cn']],
    ]);
    const hq = plan.jobs[2];
    expect(hq?.route).toMatchObject({
      kind: 'remote',
      nextHop: 'mail.hq.company.local',
      port: 587,
      tls: 'required',
      mx: false,
      domain: 'mail.hq.company.local',
    });
    expect(hq?.auth).toEqual({ name: 'hq-relay', key: 'credentials' });
    expect(plan.refused).toHaveLength(1);
    expect(plan.refused[0]).toMatchObject({
      address: 'x@gmail.com',
      kind: 'transport-rule',
      code: 550,
      enhanced: '5.7.1',
      rule: 'MailPolicy internal-only recipients.allowDomains',
    });
    expect(plan.refused[0]?.message).toContain('*.company.local, sgcc.com.cn');
  });

  it('governs forwarded recipients by the forwarding domain: forwardTo outside is refused by the rule', () => {
    const x = expandRecipients(cfg.snapshot, [rcpt('wang.wu@sh.company.local')], noHeaders);
    const plan = planRoutes(cfg, 'someone@outside.example', x, mx([]));
    expect(plan.jobs.map((j) => j.subject)).toEqual(['mail.deliver.local.sh.company.local']);
    expect(plan.refused.map((r) => [r.address, r.kind])).toEqual([
      ['wang.wu@partner.example', 'transport-rule'],
    ]);
  });

  it('routes by MX when the sender domain has no smart host, and names every fact when a domain is unknown', async () => {
    const x = expandRecipients(
      cfg.snapshot,
      [
        rcpt('a@known.example'),
        rcpt('b@gone.example'),
        rcpt('c@nomail.example'),
        rcpt('d@flaky.example'),
      ],
      noHeaders,
    );
    const needed = domainsNeedingMx(cfg, x, 'li.si@bj.company.local');
    expect(needed).toEqual(['known.example', 'gone.example', 'nomail.example', 'flaky.example']);
    const resolver = staticMailResolver({
      'known.example': { MX: ['20 mx2.known.example', '10 mx1.known.example'] },
      'nomail.example': { MX: ['0 .'] },
    });
    const answers = new Map<string, MxAnswer>();
    for (const d of needed.slice(0, 3)) answers.set(d, await resolveMailHosts(resolver, d));
    answers.set('flaky.example', {
      kind: 'temp',
      detail: 'MX lookup for flaky.example failed: ETIMEOUT',
    });
    const plan = planRoutes(cfg, 'li.si@bj.company.local', x, answers);
    expect(plan.jobs.map((j) => [j.subject, j.route.mx])).toEqual([
      ['mail.deliver.remote.known.example', true],
      ['mail.deliver.remote.flaky.example', true],
    ]);
    expect(plan.jobs[0]?.reason).toContain('MX mx1.known.example, mx2.known.example');
    expect(plan.jobs[1]?.reason).toContain('ETIMEOUT');
    expect(plan.refused.map((r) => [r.address, r.kind, r.enhanced])).toEqual([
      ['b@gone.example', 'unknown-domain', '5.1.2'],
      ['c@nomail.example', 'null-mx', '5.1.10'],
    ]);
    expect(plan.refused[0]?.message).toBe(
      'no route to gone.example: it is not a local domain of this platform (local: bj.company.local, sh.company.local), ' +
        'bj.company.local has no outbound.smartHost, and DNS says gone.example: no such domain (ENOTFOUND)',
    );
  });
});
