import { create } from '@bufbuild/protobuf';
import { timestampNow } from '@bufbuild/protobuf/wkt';
import { EnvelopeSchema, Listener, Origin } from '@mailmesh/proto';
import { describe, expect, it } from 'vitest';

import { scanMessage } from '../src/scan.js';
import { groupPolicy } from './group-policy.js';
import { contentCases } from './helpers/table.js';

const envelope = create(EnvelopeSchema, {
  mailId: '01JDQ7Z8X9ABCDEFGHJKMNPQRS',
  receivedAt: timestampNow(),
  origin: Origin.SMTP,
  listener: Listener.MX,
  mailFrom: 'li.si@partner.example',
  recipients: [{ address: 'zhang.san@sh.company.local' }],
  size: 1n,
  sha256: '0'.repeat(64),
  spool: { bucket: 'spool', key: 'k' },
});
const policy = groupPolicy();
const noDns = () =>
  Promise.reject(Object.assign(new Error('no DNS in tests'), { code: 'ENOTFOUND' }));

describe('corpus (content checks)', () => {
  it.each(contentCases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const out = await scanMessage(
      { raw: await c.message(), envelope, policies: [policy], localSender: false },
      { resolver: noDns, authservId: 'mx.test' },
    );
    expect(out.kind).toBe('verdict');
    if (out.kind !== 'verdict') return;
    expect(
      out.findings.filter((f) => f.check !== 'mime').map((f) => `${f.check} ${f.rule} ${f.action}`),
    ).toEqual(c.reasons);
    expect(out.action).toBe(c.verdict);
    // Evidence is redacted: no finding shows a whole keyword or number.
    for (const f of out.findings) {
      expect(f.detail).not.toContain('机密合同');
      expect(f.detail).not.toContain('310115199003071239');
    }
  });

  it('adds X-Mailmesh-Verdict when it tags', async () => {
    const c = contentCases.find((x) => x.name === 'dlp-mobiles-tag')!;
    const out = await scanMessage(
      { raw: await c.message(), envelope, policies: [policy], localSender: false },
      { resolver: noDns, authservId: 'mx.test' },
    );
    expect(out.kind === 'verdict' && out.headers).toEqual([
      { name: 'X-Mailmesh-Verdict', value: 'tag' },
    ]);
    expect(out.kind === 'verdict' && out.findings[0]?.detail).toBe(
      '3 matches: body: 1381******* (cn-mobile), body: +86 ************* (cn-mobile), body: 1501******* (cn-mobile)',
    );
  });
});
