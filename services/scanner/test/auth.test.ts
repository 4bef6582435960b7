import { create } from '@bufbuild/protobuf';
import { timestampNow } from '@bufbuild/protobuf/wkt';
import { EnvelopeSchema, Listener, Origin, SpfResultCode } from '@mailmesh/proto';
import { dkimSign } from 'mailauth';
import { beforeAll, describe, expect, it } from 'vitest';

import { checkAuthentication } from '../src/auth.js';
import { scanMessage } from '../src/scan.js';
import { dkimKey, staticResolver } from './helpers/dns.js';
import { groupPolicy } from './group-policy.js';

const key = dkimKey();
const envelope = create(EnvelopeSchema, {
  mailId: '01JDQ7Z8X9ABCDEFGHJKMNPQRS',
  receivedAt: timestampNow(),
  origin: Origin.SMTP,
  listener: Listener.MX,
  mailFrom: 'li.si@bounce.other.example',
  recipients: [{ address: 'zhang.san@sh.company.local' }],
  size: 1n,
  sha256: '0'.repeat(64),
  spool: { bucket: 'spool', key: 'k' },
  spf: { result: SpfResultCode.PASS, domain: 'bounce.other.example' },
});

function message(fromDomain: string): string {
  return [
    `From: Li Si <li.si@${fromDomain}>`,
    'To: zhang.san@sh.company.local',
    'Subject: quarterly numbers',
    'Date: Thu, 03 Dec 2026 10:00:00 +0800',
    `Message-ID: <q4@${fromDomain}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'The numbers are attached as agreed.',
    '',
  ].join('\r\n');
}

async function signed(fromDomain: string): Promise<string> {
  const raw = message(fromDomain);
  const sig = { signingDomain: fromDomain, selector: 'mm1', privateKey: key.privateKey };
  const r = await dkimSign(raw, { ...sig, signatureData: [sig] });
  expect(r.errors).toEqual([]);
  expect(r.signatures).toMatch(/^DKIM-Signature: /);
  return r.signatures + raw;
}

let good: Buffer;
let tampered: Buffer;
let quarantineDomain: Buffer;
const resolver = staticResolver({
  'mm1._domainkey.partner.example': key.record,
  '_dmarc.partner.example': 'v=DMARC1; p=reject; adkim=r; aspf=r',
  'mm1._domainkey.soft.example': key.record,
  '_dmarc.soft.example': 'v=DMARC1; p=quarantine; pct=50',
});

beforeAll(async () => {
  good = Buffer.from(await signed('partner.example'));
  tampered = Buffer.from(
    (await signed('partner.example')).replace(
      'as agreed',
      'as agreed. Wire the money to account 42',
    ),
  );
  quarantineDomain = Buffer.from((await signed('soft.example')).replace('agreed', 'changed'));
});

const opts = { resolver, authservId: 'mx.sh.company.local' };
const enforce = groupPolicy({
  authentication: { spf: 'report', dkim: 'report', dmarc: 'enforce' },
});
const reasons = (out: Awaited<ReturnType<typeof scanMessage>>) =>
  out.kind === 'verdict' ? out.findings.map((f) => `${f.check} ${f.rule} ${f.action}`) : [out.kind];

describe('checkAuthentication', () => {
  it('a DKIM-signed message verifies and passes DMARC', async () => {
    const a = await checkAuthentication(good, envelope, opts);
    expect([a.dkim, a.dmarc, a.dmarcPolicy, a.fromDomain]).toEqual([
      'pass',
      'pass',
      'reject',
      'partner.example',
    ]);
    expect(a.signatures).toMatchObject([
      { domain: 'partner.example', selector: 'mm1', result: 'pass' },
    ]);
    expect(a.header).toMatch(/^mx\.sh\.company\.local; dkim=pass .*header\.d=partner\.example/);
    expect(a.header).toContain('spf=pass smtp.mailfrom=bounce.other.example');
    expect(a.header).toMatch(/dmarc=pass .*header\.from=partner\.example/);
    expect(a.header).not.toMatch(/[\r\n]/);
  });

  it('a tampered message fails DKIM and DMARC', async () => {
    const a = await checkAuthentication(tampered, envelope, opts);
    expect([a.dkim, a.dmarc, a.dmarcPolicy]).toEqual(['fail', 'fail', 'reject']);
    // mailauth words a body-hash mismatch "neutral" in the header; the verdict counts it as fail.
    expect(a.header).toContain('dkim=neutral (body hash did not verify)');
    expect(a.header).toContain('dmarc=fail');
  });

  it('DNS trouble is a temperror, not a throw', async () => {
    const broken = staticResolver({}, { 'mm1._domainkey.partner.example': 'ETIMEOUT' });
    const a = await checkAuthentication(good, envelope, { ...opts, resolver: broken });
    expect(a.dkim).toBe('temperror');
  });
});

describe('scan with an authentication policy', () => {
  it('passes the good message and adds Authentication-Results first', async () => {
    const out = await scanMessage(
      { raw: good, envelope, policies: [enforce], localSender: false },
      opts,
    );
    expect(out.kind === 'verdict' && out.action).toBe('pass');
    expect(out.kind === 'verdict' && out.headers[0]?.name).toBe('Authentication-Results');
    expect(reasons(out)).toEqual([]);
  });

  it('DMARC enforce follows p=reject for the tampered message; DKIM is only reported', async () => {
    const out = await scanMessage(
      { raw: tampered, envelope, policies: [enforce], localSender: false },
      opts,
    );
    expect(out.kind === 'verdict' && out.action).toBe('reject');
    expect(reasons(out)).toEqual(['dkim group-dlp/dkim pass', 'dmarc group-dlp/dmarc reject']);
  });

  it('p=quarantine with pct=50 quarantines the sampled half and lets the rest through', async () => {
    const sampled = await scanMessage(
      { raw: quarantineDomain, envelope, policies: [enforce], localSender: false },
      { ...opts, random: () => 0.2 },
    );
    expect(reasons(sampled)).toEqual([
      'dkim group-dlp/dkim pass',
      'dmarc group-dlp/dmarc quarantine',
    ]);
    const spared = await scanMessage(
      { raw: quarantineDomain, envelope, policies: [enforce], localSender: false },
      { ...opts, random: () => 0.7 },
    );
    expect(reasons(spared)).toEqual(['dkim group-dlp/dkim pass', 'dmarc group-dlp/dmarc pass']);
  });

  it('report mode records the failure and passes', async () => {
    const report = groupPolicy({ authentication: { dmarc: 'report', dkim: 'enforce' } });
    const out = await scanMessage(
      { raw: tampered, envelope, policies: [report], localSender: false },
      opts,
    );
    expect(reasons(out)).toEqual(['dkim group-dlp/dkim quarantine', 'dmarc group-dlp/dmarc pass']);
  });

  it('does not judge our own users’ mail (signed on delivery)', async () => {
    const out = await scanMessage(
      { raw: tampered, envelope, policies: [enforce], localSender: true },
      opts,
    );
    expect(out.kind === 'verdict' && out.headers).toEqual([]);
  });
});
