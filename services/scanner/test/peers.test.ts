/**
 * The network checks against real clamd and spamd (started by @mailmesh/testkit),
 * including what a scan does when either is down.
 */
import { create } from '@bufbuild/protobuf';
import { timestampNow } from '@bufbuild/protobuf/wkt';
import { EnvelopeSchema, Listener, Origin } from '@mailmesh/proto';
import {
  EICAR,
  EICAR_SIGNATURE,
  GTUBE,
  freePort,
  startClamd,
  startSpamd,
  type TcpServicePeer,
} from '@mailmesh/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createClamdClient, parseClamdReply } from '../src/clamd.js';
import { scanMessage } from '../src/scan.js';
import { createSpamdClient, parseSpamdResponse } from '../src/spamd.js';
import { corpusFile, mimeMessage, zip } from './helpers/corpus.js';
import { groupPolicy } from './group-policy.js';

let clamd: TcpServicePeer;
let spamd: TcpServicePeer;
let deadPort: number;

beforeAll(async () => {
  [clamd, spamd, deadPort] = await Promise.all([startClamd(), startSpamd(), freePort()]);
});
afterAll(async () => {
  await Promise.all([clamd?.stop(), spamd?.stop()]);
});

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
const noDns = () =>
  Promise.reject(Object.assign(new Error('no DNS in tests'), { code: 'ENOTFOUND' }));
const eicarMail = () =>
  mimeMessage({
    attachments: [{ filename: 'eicar.com.txt', content: Buffer.from(EICAR, 'latin1') }],
  });

describe('clamd INSTREAM', () => {
  it('passes a clean message', async () => {
    const c = createClamdClient({ host: clamd.host, port: clamd.port });
    expect(await c.ping()).toBe(true);
    expect(await c.scan(corpusFile('clean.eml'))).toEqual({ result: 'pass' });
  });

  it('finds EICAR plain and zipped, across small chunks', async () => {
    const c = createClamdClient({ host: clamd.host, port: clamd.port, chunkBytes: 7 });
    expect(await c.scan(eicarMail())).toEqual({ result: 'fail', signature: EICAR_SIGNATURE });
    const zipped = mimeMessage({
      attachments: [
        {
          filename: 'docs.zip',
          content: await zip([{ name: 'x/eicar.txt', content: Buffer.from(EICAR, 'latin1') }]),
        },
      ],
    });
    expect(await c.scan(zipped)).toEqual({ result: 'fail', signature: EICAR_SIGNATURE });
  });

  it('says temperror when clamd is not there', async () => {
    const c = createClamdClient({ host: '127.0.0.1', port: deadPort, timeoutMs: 2_000 });
    const r = await c.scan(corpusFile('clean.eml'));
    expect(r.result).toBe('temperror');
    expect(await c.ping()).toBe(false);
  });

  it('parses reply lines', () => {
    expect(parseClamdReply('stream: OK\0')).toEqual({ result: 'pass' });
    expect(parseClamdReply('stream: Win.Test.EICAR_HDB-1 FOUND')).toEqual({
      result: 'fail',
      signature: 'Win.Test.EICAR_HDB-1',
    });
    expect(parseClamdReply('INSTREAM size limit exceeded. ERROR')).toEqual({
      result: 'temperror',
      reason: 'INSTREAM size limit exceeded. ERROR',
    });
  });
});

describe('spamd SYMBOLS', () => {
  it('scores GTUBE as spam and a clean mail below the threshold', async () => {
    const s = createSpamdClient({ host: spamd.host, port: spamd.port });
    const gtube = await s.check(mimeMessage({ text: `buy now\r\n${GTUBE}\r\n` }));
    expect(gtube.result).toBe('pass');
    if (gtube.result !== 'pass') return;
    expect(gtube.isSpam).toBe(true);
    expect(gtube.score).toBeGreaterThanOrEqual(1000);
    expect(gtube.symbols).toContain('GTUBE');
    const clean = await s.check(corpusFile('clean.eml'));
    expect(clean.result === 'pass' && clean.isSpam).toBe(false);
  });

  it('says temperror when spamd is not there, none for oversize mail', async () => {
    expect(
      (await createSpamdClient({ host: '127.0.0.1', port: deadPort }).check(Buffer.from('x')))
        .result,
    ).toBe('temperror');
    const small = createSpamdClient({ host: spamd.host, port: spamd.port, maxBytes: 10 });
    expect((await small.check(corpusFile('clean.eml'))).result).toBe('none');
  });

  it('parses responses', () => {
    expect(
      parseSpamdResponse(
        'SPAMD/1.1 0 EX_OK\r\nContent-length: 9\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nGTUBE,X_Y',
      ),
    ).toEqual({
      result: 'pass',
      isSpam: true,
      score: 1000,
      threshold: 5,
      symbols: ['GTUBE', 'X_Y'],
    });
    expect(parseSpamdResponse('SPAMD/1.0 76 Bad header line').result).toBe('temperror');
  });
});

describe('scan with antivirus and spam policies', () => {
  const policy = (antivirus: Record<string, unknown>, spam: Record<string, unknown> = {}) =>
    groupPolicy({
      antivirus,
      spam: { tagScore: 5, junkScore: 8, quarantineScore: 12, rejectScore: 20, ...spam },
    });
  const deps = () => ({
    clamd: createClamdClient({ host: clamd.host, port: clamd.port }),
    spamd: createSpamdClient({ host: spamd.host, port: spamd.port }),
    resolver: noDns,
    authservId: 'mx.test',
  });

  it('EICAR is rejected with the signature as rule', async () => {
    const out = await scanMessage(
      {
        raw: eicarMail(),
        envelope,
        policies: [policy({ action: 'reject', onError: 'tempfail' })],
        localSender: false,
      },
      deps(),
    );
    expect(out.kind === 'verdict' && out.action).toBe('reject');
    expect(
      out.kind === 'verdict' && out.findings.map((f) => `${f.check} ${f.rule} ${f.action}`),
    ).toEqual([`antivirus group-dlp/${EICAR_SIGNATURE} reject`]);
  });

  it('GTUBE is rejected by score, tagged with a spam-score header and junked', async () => {
    const out = await scanMessage(
      {
        raw: mimeMessage({ text: GTUBE }),
        envelope,
        policies: [policy({ action: 'reject' })],
        localSender: false,
      },
      deps(),
    );
    if (out.kind !== 'verdict') throw new Error(`unexpected ${out.kind}`);
    expect(out.action).toBe('reject');
    expect(out.junk).toBe(true);
    expect(out.spamScore).toBeGreaterThanOrEqual(1000);
    expect(out.findings.map((f) => `${f.check} ${f.rule} ${f.action}`)).toEqual([
      'spam group-dlp/reject reject',
    ]);
    expect(out.headers.find((h) => h.name === 'X-Mailmesh-Spam-Score')?.value).toMatch(
      /^1\d{3}\.\d tests=.*GTUBE/,
    );
  });

  it('GTUBE under a permissive policy is junked and tagged only', async () => {
    const out = await scanMessage(
      {
        raw: mimeMessage({ text: GTUBE }),
        envelope,
        policies: [policy({ action: 'reject' }, { quarantineScore: 5000, rejectScore: 9000 })],
        localSender: false,
      },
      deps(),
    );
    expect(out.kind === 'verdict' && [out.action, out.junk]).toEqual(['tag', true]);
  });

  it('clamd down: tempfail, or an incomplete pass when the policy accepts', async () => {
    const down = { ...deps(), clamd: createClamdClient({ host: '127.0.0.1', port: deadPort }) };
    const t = await scanMessage(
      {
        raw: corpusFile('clean.eml'),
        envelope,
        policies: [policy({ onError: 'tempfail' })],
        localSender: false,
      },
      down,
    );
    expect(t).toMatchObject({ kind: 'tempfail', check: 'antivirus' });
    const a = await scanMessage(
      {
        raw: corpusFile('clean.eml'),
        envelope,
        policies: [policy({ onError: 'accept' })],
        localSender: false,
      },
      down,
    );
    if (a.kind !== 'verdict') throw new Error('expected a verdict');
    expect([a.action, a.incomplete]).toEqual(['pass', true]);
    expect(a.headers).toContainEqual({ name: 'X-Mailmesh-Scan', value: 'incomplete' });
    expect(a.findings.map((f) => `${f.check} ${f.rule} ${f.action}`)).toEqual([
      'antivirus group-dlp/unavailable pass',
    ]);
  });

  it('spamd down: the spam policy onError decides', async () => {
    const down = { ...deps(), spamd: createSpamdClient({ host: '127.0.0.1', port: deadPort }) };
    const t = await scanMessage(
      {
        raw: corpusFile('clean.eml'),
        envelope,
        policies: [policy({ action: 'reject' }, { onError: 'tempfail' })],
        localSender: false,
      },
      down,
    );
    expect(t).toMatchObject({ kind: 'tempfail', check: 'spam' });
  });
});
