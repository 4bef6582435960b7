/**
 * Real Haraka + NATS + MinIO, real clients (swaks, Python smtplib, raw sockets):
 * every reply code of the listeners, TLS, AUTH, recipient/relay and sender
 * policy, durable acceptance, smuggling, PROXY, audit, load report, metrics.
 */
import { createHash } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { copyFile } from 'node:fs/promises';
import { fromBinary } from '@bufbuild/protobuf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AuditRecordSchema,
  configKeys,
  kvBuckets,
  Listener,
  LoadReportSchema,
  loadKey,
  objectBuckets,
  spoolKey,
  SpfResultCode,
  streams,
  subjects,
} from '@mailmesh/proto';
import {
  ALIAS,
  BCRYPT_PASSWORD,
  DOMAIN,
  lastReply,
  makeCert,
  PASSWORD,
  pySmtp,
  queuedId,
  RawSmtp,
  SAMPLE_TLVS,
  sleep,
  spoolKeys,
  startRig,
  swaks,
  takeEnvelopes,
  v2Header,
  v4Addresses,
  v6Addresses,
  type Rig,
} from './helpers.js';

let rig: Rig;
beforeAll(async () => {
  rig = await startRig({
    spf: {
      'spf-pass.example': { TXT: ['v=spf1 ip4:127.0.0.0/8 -all'] },
      'spf-fail.example': { TXT: ['v=spf1 ip4:192.0.2.1 -all'] },
    },
  });
});
afterAll(async () => {
  await rig?.stop();
});

const mx = (): string => `127.0.0.1:${rig.ports.mx}`;
const sub = (): string => `127.0.0.1:${rig.ports.submission}`;
const auth = (user: string, password: string, mech = 'PLAIN'): string[] => [
  '--auth',
  mech,
  '--auth-user',
  user,
  '--auth-password',
  password,
];

async function drain(): Promise<void> {
  await takeEnvelopes(rig.bus, 100, 300);
}

describe('listeners and TLS', () => {
  it('MX greets, offers STARTTLS, SIZE and no AUTH before TLS', async () => {
    const c = await RawSmtp.open(rig.ports.mx);
    const greeting = await c.reply();
    expect(greeting.code).toBe(220);
    expect(greeting.text).toMatch(/^mx\.test\.local ESMTP/);
    const ehlo = await c.command('EHLO client.test');
    expect(ehlo.code).toBe(250);
    const caps = ehlo.text.split('\n');
    expect(caps).toContain('STARTTLS');
    expect(caps).toContain(`SIZE ${2 * 1024 * 1024}`);
    expect(caps).toContain('ENHANCEDSTATUSCODES');
    expect(caps.some((c) => c.startsWith('AUTH'))).toBe(false);
    expect(await c.command('AUTH PLAIN AGZvbwBiYXI=')).toEqual({
      code: 538,
      text: '5.7.11 Encryption required for requested authentication mechanism',
    });
    c.close();
  });

  it('submission: STARTTLS with TLS >= 1.2, then AUTH PLAIN LOGIN is offered (python smtplib)', async () => {
    const steps = await pySmtp({
      host: '127.0.0.1',
      port: rig.ports.submission,
      steps: [
        ['ehlo', 'client.test'],
        ['starttls'],
        ['tls_info'],
        ['ehlo', 'client.test'],
        ['quit'],
      ],
    });
    expect(steps[1]).toMatchObject({ step: 'starttls', code: 220 });
    const info = JSON.parse(steps[2]!.text) as { version: string; cipher: string };
    expect(['TLSv1.2', 'TLSv1.3']).toContain(info.version);
    expect(steps[3]!.text.split('\n')).toContain('AUTH PLAIN LOGIN');
    expect(steps[3]!.text.split('\n')).not.toContain('STARTTLS');
  });

  it('refuses TLS 1.1 clients', async () => {
    const c = await RawSmtp.open(rig.ports.smtps).catch(() => undefined);
    c?.close();
    const err = await new Promise<Error | undefined>((resolve) => {
      const s = tlsConnect(
        {
          host: '127.0.0.1',
          port: rig.ports.smtps,
          rejectUnauthorized: false,
          maxVersion: 'TLSv1.1',
          minVersion: 'TLSv1',
        },
        () => {
          s.destroy();
          resolve(undefined);
        },
      );
      s.on('error', (e: Error) => resolve(e));
    });
    expect(err?.message).toMatch(/protocol version|alert|wrong version|unsupported/i);
  });

  it('SMTPS is implicit TLS and requires AUTH before MAIL (530 5.7.0)', async () => {
    const steps = await pySmtp({
      host: '127.0.0.1',
      port: rig.ports.smtps,
      implicit_tls: true,
      steps: [['ehlo', 'client.test'], ['mail', 'x@example.org'], ['quit']],
    });
    expect(steps[0]!.text.split('\n')).toContain('AUTH PLAIN LOGIN');
    expect(steps[1]).toEqual({ step: 'mail', code: 530, text: '5.7.0 Authentication required' });
  });

  it('reloads the certificate when the files change', async () => {
    const subject = async (): Promise<string> =>
      new Promise((resolve, reject) => {
        const s = tlsConnect(
          { host: '127.0.0.1', port: rig.ports.smtps, rejectUnauthorized: false },
          () => {
            const cn = s.getPeerCertificate().subject?.CN;
            s.destroy();
            resolve(String(cn));
          },
        );
        s.on('error', reject);
      });
    expect(await subject()).toBe('mx.test.local');
    const next = await makeCert(rig.dir, 'mx2.test.local');
    await copyFile(next.keyFile, rig.tls.keyFile);
    await copyFile(next.certFile, rig.tls.certFile);
    let cn = '';
    for (let i = 0; i < 50 && cn !== 'mx2.test.local'; i++) {
      await sleep(100);
      cn = await subject();
    }
    expect(cn).toBe('mx2.test.local');
    // STARTTLS uses the new pair too.
    const steps = await pySmtp({
      host: '127.0.0.1',
      port: rig.ports.submission,
      steps: [['ehlo', 'c'], ['starttls'], ['ehlo', 'c'], ['quit']],
    });
    expect(steps[1]!.code).toBe(220);
  });
});

describe('AUTH', () => {
  it('accepts PLAIN with an argon2id hash and LOGIN with a bcrypt hash; alias logins work', async () => {
    const plain = await swaks([
      '--server',
      sub(),
      '--tls',
      ...auth(`zhang.san@${DOMAIN}`, PASSWORD),
      '--quit-after',
      'AUTH',
    ]);
    expect(plain.replies.find((r) => r.code === 235)?.text, plain.output).toBe(
      '2.7.0 Authentication successful',
    );
    const login = await swaks([
      '--server',
      sub(),
      '--tls',
      ...auth(`li.si@${DOMAIN}`, BCRYPT_PASSWORD, 'LOGIN'),
      '--quit-after',
      'AUTH',
    ]);
    expect(login.replies.find((r) => r.code === 235)?.text, login.output).toBe(
      '2.7.0 Authentication successful',
    );
    const alias = await swaks([
      '--server',
      sub(),
      '--tls',
      ...auth(`zhang.san@${ALIAS}`, PASSWORD),
      '--quit-after',
      'AUTH',
    ]);
    expect(
      alias.replies.some((r) => r.code === 235),
      alias.output,
    ).toBe(true);
  });

  it('answers 535 5.7.8 on bad credentials and unknown users', async () => {
    const bad = await swaks([
      '--server',
      sub(),
      '--tls',
      ...auth(`zhang.san@${DOMAIN}`, 'wrong'),
      '--quit-after',
      'AUTH',
    ]);
    expect(lastReply(bad)).toEqual({ code: 535, text: '5.7.8 Error: authentication failed' });
    const steps = await pySmtp({
      host: '127.0.0.1',
      port: rig.ports.submission,
      steps: [
        ['ehlo', 'c'],
        ['starttls'],
        ['ehlo', 'c'],
        ['login', 'LOGIN', `nobody@${DOMAIN}`, 'x'],
        ['quit'],
      ],
    });
    expect(steps[3]).toEqual({
      step: 'login',
      code: 535,
      text: '5.7.8 Error: authentication failed',
    });
  });

  it('answers 504 5.5.4 for an unknown mechanism and 501 for bad base64', async () => {
    const steps = await pySmtp({
      host: '127.0.0.1',
      port: rig.ports.submission,
      steps: [
        ['ehlo', 'c'],
        ['starttls'],
        ['ehlo', 'c'],
        ['cmd', 'AUTH CRAM-MD5'],
        ['cmd', 'AUTH PLAIN !!!!'],
        ['quit'],
      ],
    });
    expect(steps[3]).toEqual({
      step: 'cmd',
      code: 504,
      text: '5.5.4 Unrecognized authentication type',
    });
    expect(steps[4]).toEqual({
      step: 'cmd',
      code: 501,
      text: '5.5.2 Cannot decode AUTH parameter',
    });
  });

  it('locks an account after failures (454 4.7.0) and an IP (421 4.7.0), and recovers after the cool-down', async () => {
    await rig.putConfig({
      [configKeys.platform]: rig.platform({
        authFailuresPerAccount: 2,
        authFailuresPerIp: 3,
        // Failures count within one cool-down window: wide enough that three TLS +
        // argon2 attempts fit in it on a loaded machine.
        authCooldownMs: 5_000,
      }),
    });
    const attempt = (user: string, password: string, ip: string) =>
      swaks([
        '--server',
        sub(),
        '--local-interface',
        ip,
        '--tls',
        ...auth(user, password),
        '--quit-after',
        'AUTH',
      ]);
    // Account: two failures from different IPs lock it, even for the right password.
    expect(lastReply(await attempt(`locked@${DOMAIN}`, 'x', '127.0.0.41')).code).toBe(535);
    expect(lastReply(await attempt(`locked@${DOMAIN}`, 'x', '127.0.0.42')).code).toBe(535);
    expect(lastReply(await attempt(`locked@${DOMAIN}`, PASSWORD, '127.0.0.43'))).toEqual({
      code: 454,
      text: '4.7.0 Temporary authentication failure, try again later',
    });
    // IP: three failures (different accounts) lock the IP; the next AUTH is refused and disconnected.
    for (const u of ['a', 'b', 'c'])
      expect(lastReply(await attempt(`${u}@${DOMAIN}`, 'x', '127.0.0.44')).code).toBe(535);
    expect(lastReply(await attempt(`cool@${DOMAIN}`, PASSWORD, '127.0.0.44'))).toEqual({
      code: 421,
      text: '4.7.0 Too many failed authentications, try again later',
    });
    await sleep(5_200);
    expect(lastReply(await attempt(`locked@${DOMAIN}`, PASSWORD, '127.0.0.43')).code).toBe(235);
    expect(lastReply(await attempt(`cool@${DOMAIN}`, PASSWORD, '127.0.0.44')).code).toBe(235);
    await rig.putConfig({ [configKeys.platform]: rig.platform() });
  });
});

describe('recipients and relay', () => {
  const rcpt = async (to: string, extra: string[] = [], server = mx()) =>
    lastReply(
      await swaks([
        '--server',
        server,
        '--from',
        'a@example.org',
        '--to',
        to,
        '--quit-after',
        'RCPT',
        ...extra,
      ]),
    );

  it('accepts mailboxes, groups, aliases and catch-all; 550 5.1.1 for unknown local users', async () => {
    expect((await rcpt(`zhang.san@${DOMAIN}`)).code).toBe(250);
    expect((await rcpt(`Zhang.San@${ALIAS}`)).code).toBe(250);
    expect((await rcpt(`sales@${DOMAIN}`)).code).toBe(250);
    expect(await rcpt(`nobody@${DOMAIN}`)).toEqual({
      code: 550,
      text: `5.1.1 <nobody@${DOMAIN}>: Recipient address rejected: User unknown`,
    });
    // catch.test.local requires TLS and has a catch-all.
    expect(await rcpt('anything@catch.test.local')).toEqual({
      code: 530,
      text: '5.7.0 Must issue a STARTTLS command first: catch.test.local requires TLS',
    });
    expect((await rcpt('anything@catch.test.local', ['--tls'])).code).toBe(250);
  });

  it('is no open relay: 554 5.7.1 for non-local recipients unless authenticated or in relay networks', async () => {
    expect(await rcpt('someone@example.com')).toEqual({
      code: 554,
      text: '5.7.1 <someone@example.com>: Relay access denied',
    });
    expect((await rcpt('someone@example.com', ['--local-interface', '127.0.0.66'])).code).toBe(250);
    const authed = await swaks([
      '--server',
      sub(),
      '--tls',
      ...auth(`zhang.san@${DOMAIN}`, PASSWORD),
      '--from',
      `zhang.san@${DOMAIN}`,
      '--to',
      'someone@example.com',
      '--quit-after',
      'RCPT',
    ]);
    expect(lastReply(authed).code, authed.output).toBe(250);
  });

  it('refuses percent-hack, bang-path, quoted and source-routed addresses', async () => {
    const c = await RawSmtp.open(rig.ports.mx);
    await c.reply();
    await c.command('EHLO client.test');
    expect((await c.command('MAIL FROM:<a@example.org>')).code).toBe(250);
    expect(await c.command(`RCPT TO:<victim%example.com@${DOMAIN}>`)).toEqual({
      code: 553,
      text: '5.1.3 Bad recipient address syntax: percent-hack addresses are not accepted',
    });
    expect(await c.command(`RCPT TO:<example.com!victim@${DOMAIN}>`)).toEqual({
      code: 553,
      text: '5.1.3 Bad recipient address syntax: bang paths are not accepted',
    });
    expect(await c.command(`RCPT TO:<"victim@example.com"@${DOMAIN}>`)).toEqual({
      code: 553,
      text: '5.1.3 Bad recipient address syntax: quoted local parts are not accepted',
    });
    const routed = await c.command(`RCPT TO:<@${DOMAIN}:victim@example.com>`);
    expect([routed.code, routed.text]).toEqual([
      553,
      '5.1.3 Bad recipient address syntax: source routes are not accepted',
    ]);
    c.close();
  });

  it('answers 452 4.5.3 past maxRecipients (3)', async () => {
    const steps = await pySmtp({
      host: '127.0.0.1',
      port: rig.ports.mx,
      steps: [
        ['ehlo', 'c'],
        ['mail', 'a@example.org'],
        ['rcpt', `zhang.san@${DOMAIN}`],
        ['rcpt', `li.si@${DOMAIN}`],
        ['rcpt', `sales@${DOMAIN}`],
        ['rcpt', `postmaster@${DOMAIN}`],
        ['quit'],
      ],
    });
    expect(steps.slice(2, 5).map((s) => s.code)).toEqual([250, 250, 250]);
    expect(steps[5]).toEqual({ step: 'rcpt', code: 452, text: '4.5.3 Error: too many recipients' });
  });
});

describe('sender identity', () => {
  it('lets a user send as own addresses and sendAs; 553 5.7.1 otherwise (MAIL FROM)', async () => {
    const from = async (addr: string) =>
      lastReply(
        await swaks([
          '--server',
          sub(),
          '--tls',
          ...auth(`zhang.san@${DOMAIN}`, PASSWORD),
          '--from',
          addr,
          '--to',
          `li.si@${DOMAIN}`,
          '--quit-after',
          'MAIL',
        ]),
      );
    expect((await from(`zhang.san@${DOMAIN}`)).code).toBe(250);
    expect((await from(`zhang.san@${ALIAS}`)).code).toBe(250);
    expect((await from(`sales@${DOMAIN}`)).code).toBe(250);
    expect(await from(`li.si@${DOMAIN}`)).toEqual({
      code: 553,
      text: `5.7.1 Sender address <li.si@${DOMAIN}> not owned by the authenticated user`,
    });
  });

  it('checks the From: header too (553 5.7.1)', async () => {
    const r = await swaks([
      '--server',
      sub(),
      '--tls',
      ...auth(`zhang.san@${DOMAIN}`, PASSWORD),
      '--from',
      `zhang.san@${DOMAIN}`,
      '--to',
      `li.si@${DOMAIN}`,
      '--header',
      `From: "Boss" <li.si@${DOMAIN}>`,
      '--body',
      'spoof',
    ]);
    expect(lastReply(r)).toEqual({
      code: 553,
      text: `5.7.1 From: header address <li.si@${DOMAIN}> not owned by the authenticated user`,
    });
    const ok = await swaks([
      '--server',
      sub(),
      '--tls',
      ...auth(`zhang.san@${DOMAIN}`, PASSWORD),
      '--from',
      `zhang.san@${DOMAIN}`,
      '--to',
      `li.si@${DOMAIN}`,
      '--header',
      `From: Sales <sales@${DOMAIN}>`,
      '--body',
      'fine',
    ]);
    expect(lastReply(ok).code, ok.output).toBe(250);
    await drain();
  });

  it('submission without AUTH: 530 5.7.0 at MAIL', async () => {
    expect(
      lastReply(
        await swaks([
          '--server',
          sub(),
          '--tls',
          '--from',
          'a@example.org',
          '--to',
          `li.si@${DOMAIN}`,
          '--quit-after',
          'MAIL',
        ]),
      ),
    ).toEqual({
      code: 530,
      text: '5.7.0 Authentication required',
    });
  });
});

describe('durable acceptance', () => {
  it('stores the body (sha256, Received with mailId) and publishes the envelope (python smtplib)', async () => {
    await drain();
    const message = `From: Sender <sender@spf-pass.example>\r\nTo: zhang.san@${DOMAIN}\r\nSubject: =?UTF-8?B?5rWL6K+V?=\r\nMessage-ID: <m1@spf-pass.example>\r\n\r\nline one\r\n.leading dot\r\nlast\r\n`;
    const steps = await pySmtp({
      host: '127.0.0.1',
      port: rig.ports.mx,
      steps: [
        ['ehlo', 'client.spf-pass.example'],
        ['mail', 'sender@spf-pass.example', ['RET=HDRS', 'ENVID=abc+2Bdef']],
        [
          'rcpt',
          `zhang.san@${DOMAIN}`,
          ['NOTIFY=SUCCESS,FAILURE', `ORCPT=rfc822;zhang.san@${DOMAIN}`],
        ],
        ['rcpt', `sales@${DOMAIN}`],
        ['data', message],
        ['quit'],
      ],
    });
    const data = steps[4]!;
    expect(data.code).toBe(250);
    const mailId = queuedId(data.text)!;
    expect(data.text).toBe(`2.0.0 Ok: queued as ${mailId}`);
    const [env] = await takeEnvelopes(rig.bus, 1);
    expect(env).toBeDefined();
    expect(env!.mailId).toBe(mailId);
    expect(env!.listener).toBe(Listener.MX);
    expect(env!.mailFrom).toBe('sender@spf-pass.example');
    expect(env!.recipients.map((r) => r.address)).toEqual([
      `zhang.san@${DOMAIN}`,
      `sales@${DOMAIN}`,
    ]);
    expect(env!.recipients[0]!.original).toBe(`rfc822;zhang.san@${DOMAIN}`);
    expect(env!.recipients[0]!.notify.length).toBe(2);
    expect(env!.envid).toBe('abc+def');
    expect(env!.spool).toMatchObject({ bucket: objectBuckets.spool, key: spoolKey(mailId) });
    expect(env!.messageId).toBe('<m1@spf-pass.example>');
    expect(env!.subject).toBe('测试');
    expect(env!.fromHeader).toBe('sender@spf-pass.example');
    expect(env!.spf?.result).toBe(SpfResultCode.PASS);
    expect(env!.client?.ip).toBe('127.0.0.1');
    expect(env!.client?.helo).toBe('client.spf-pass.example');
    expect(env!.ingressInstance).toBe('test-ingress');
    const body = await rig.store.getBuffer(objectBuckets.spool, spoolKey(mailId));
    expect(createHash('sha256').update(body).digest('hex')).toBe(env!.sha256);
    expect(BigInt(body.length)).toBe(env!.size);
    const text = body.toString('utf8');
    expect(text).toMatch(
      new RegExp(
        `^Received: from client\\.spf-pass\\.example \\(\\[127\\.0\\.0\\.1\\]\\)\r\n\tby mx\\.test\\.local \\(Mailmesh\\) with ESMTP id ${mailId};`,
      ),
    );
    // Dot-unstuffed, CRLF, headers and body intact.
    expect(text).toContain('\r\n\r\nline one\r\n.leading dot\r\nlast\r\n');
    expect(text.endsWith('last\r\n')).toBe(true);
  });

  it('records SPF fail on MX and the TLS session and auth user on submission', async () => {
    await drain();
    const r1 = await swaks([
      '--server',
      mx(),
      '--from',
      'x@spf-fail.example',
      '--to',
      `li.si@${DOMAIN}`,
      '--body',
      'spf',
    ]);
    expect(lastReply(r1).code).toBe(250);
    const r2 = await swaks([
      '--server',
      sub(),
      '--tls',
      ...auth(`zhang.san@${DOMAIN}`, PASSWORD),
      '--from',
      `zhang.san@${DOMAIN}`,
      '--to',
      `li.si@${DOMAIN}`,
      '--header',
      `From: zhang.san@${DOMAIN}`,
      '--body',
      'tls',
    ]);
    expect(lastReply(r2).code, r2.output).toBe(250);
    const envs = await takeEnvelopes(rig.bus, 2);
    expect(envs[0]!.spf?.result).toBe(SpfResultCode.FAIL);
    expect(envs[1]!.listener).toBe(Listener.SUBMISSION);
    expect(envs[1]!.auth).toMatchObject({ user: `zhang.san@${DOMAIN}`, mechanism: 'PLAIN' });
    expect(envs[1]!.tls?.version).toMatch(/^TLSv1\.[23]$/);
    expect(envs[1]!.tls?.cipher).not.toBe('');
    expect(envs[1]!.spf).toBeUndefined();
  });

  it('refuses a declared SIZE over the limit with 552 5.3.4 and advertises the limit', async () => {
    const c = await RawSmtp.open(rig.ports.mx);
    await c.reply();
    await c.command('EHLO c');
    expect(await c.command(`MAIL FROM:<a@example.org> SIZE=${3 * 1024 * 1024}`)).toEqual({
      code: 552,
      text: `5.3.4 Message size exceeds fixed limit of ${2 * 1024 * 1024} bytes`,
    });
    c.close();
  });
});

describe('connection policy', () => {
  it('refuses clients outside a listener allow-list with 554 5.7.1', async () => {
    const c = await RawSmtp.open(rig.ports.restricted, '127.0.0.7');
    expect(await c.reply()).toEqual({
      code: 554,
      text: '5.7.1 Client host [127.0.0.7] is not allowed on this listener',
    });
    expect(await c.waitClosed()).toBe(true);
    const ok = await RawSmtp.open(rig.ports.restricted, '127.0.0.1');
    expect((await ok.reply()).code).toBe(220);
    ok.close();
  });

  it('limits concurrent sessions per IP and in total, and the connection rate per IP (421 4.7.0)', async () => {
    await rig.putConfig({
      [configKeys.platform]: rig.platform({
        perIpConnections: 2,
        perIpRatePerMinute: 5,
        maxConnections: 4,
      }),
    });
    const open: RawSmtp[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const c = await RawSmtp.open(rig.ports.mx, '127.0.0.20');
        expect((await c.reply()).code).toBe(220);
        open.push(c);
      }
      const third = await RawSmtp.open(rig.ports.mx, '127.0.0.20');
      expect(await third.reply()).toEqual({
        code: 421,
        text: '4.7.0 Too many connections from [127.0.0.20], try again later',
      });
      // Total: 2 open + 2 more from another IP fill maxConnections = 4.
      for (let i = 0; i < 2; i++) {
        const c = await RawSmtp.open(rig.ports.mx, '127.0.0.21');
        expect((await c.reply()).code).toBe(220);
        open.push(c);
      }
      const fifth = await RawSmtp.open(rig.ports.mx, '127.0.0.22');
      expect(await fifth.reply()).toEqual({
        code: 421,
        text: '4.7.0 Too many connections, try again later',
      });
    } finally {
      for (const c of open) c.close();
    }
    await sleep(200);
    // Rate: 5 per minute from 127.0.0.23; the 6th is refused.
    for (let i = 0; i < 5; i++) {
      const c = await RawSmtp.open(rig.ports.mx, '127.0.0.23');
      expect((await c.reply()).code).toBe(220);
      c.close();
    }
    const sixth = await RawSmtp.open(rig.ports.mx, '127.0.0.23');
    expect(await sixth.reply()).toEqual({
      code: 421,
      text: '4.7.0 Connection rate limit exceeded for [127.0.0.23], try again later',
    });
    await rig.putConfig({ [configKeys.platform]: rig.platform() });
  });

  it('closes idle sessions after commandTimeoutMs with 421 4.4.2', async () => {
    await rig.putConfig({
      [configKeys.platform]: rig.platform({ commandTimeoutMs: 500, dataTimeoutMs: 800 }),
    });
    const idle = await RawSmtp.open(rig.ports.mx, '127.0.0.24');
    await idle.reply();
    expect(await idle.reply(5_000)).toEqual({ code: 421, text: '4.4.2 Error: timeout exceeded' });
    expect(await idle.waitClosed()).toBe(true);
    // DATA that never ends: the data timer fires even though bytes keep coming.
    const slow = await RawSmtp.open(rig.ports.mx, '127.0.0.24');
    await slow.reply();
    await slow.command('EHLO c');
    await slow.command('MAIL FROM:<a@example.org>');
    await slow.command(`RCPT TO:<li.si@${DOMAIN}>`);
    expect((await slow.command('DATA')).code).toBe(354);
    const drip = setInterval(() => slow.write('x\r\n'), 100);
    try {
      expect(await slow.reply(5_000)).toEqual({
        code: 421,
        text: '4.4.2 Error: timeout exceeded during DATA',
      });
    } finally {
      clearInterval(drip);
    }
    await rig.putConfig({ [configKeys.platform]: rig.platform() });
    expect(await mailStreamIsEmptyAfterDrain()).toBe(true);
  });

  it('uses the real client IP from PROXY v1 sent by a configured load balancer', async () => {
    await drain();
    const c = await RawSmtp.open(rig.ports.mx, '127.0.0.9');
    // Relay network client 127.0.0.66 behind the LB may relay.
    c.write(`PROXY TCP4 127.0.0.66 127.0.0.1 40000 ${rig.ports.mx}\r\n`);
    expect((await c.reply()).code).toBe(220);
    await c.command('EHLO branch.test');
    expect((await c.command('MAIL FROM:<a@example.org>')).code).toBe(250);
    expect((await c.command('RCPT TO:<far@example.com>')).code).toBe(250);
    expect((await c.command('DATA')).code).toBe(354);
    c.write('Subject: via proxy\r\n\r\nhi\r\n.\r\n');
    expect((await c.reply()).code).toBe(250);
    c.close();
    const [env] = await takeEnvelopes(rig.bus, 1);
    expect(env!.client).toMatchObject({ ip: '127.0.0.66', port: 40000, proxyIp: '127.0.0.9' });
  });
});

describe('PROXY protocol v2', () => {
  const LB = '127.0.0.9';

  /** The last session audit record (after the ingress flushed its chain). */
  const lastSession = async () => {
    await rig.ingress.audit.flush();
    const m = await rig.bus.jsm.streams.getMessage(streams.audit.name, {
      last_by_subj: subjects.audit('session'),
    });
    const rec = fromBinary(AuditRecordSchema, m!.data);
    return rec.body.case === 'session' ? rec.body.value : undefined;
  };

  it('uses the client address of a v2 header (TLVs skipped) for relay, envelope and audit', async () => {
    await drain();
    const c = await RawSmtp.open(rig.ports.mx, LB);
    const header = v2Header({
      addresses: v4Addresses('127.0.0.66', '127.0.0.1', 40001, rig.ports.mx),
      tlvs: SAMPLE_TLVS,
    });
    // Split inside the header, and EHLO pipelined right behind it.
    c.write(header.subarray(0, 9));
    await sleep(50);
    c.write(Buffer.concat([header.subarray(9), Buffer.from('EHLO branch.test\r\n')]));
    expect((await c.reply()).code).toBe(220);
    expect((await c.reply()).code).toBe(250);
    expect((await c.command('MAIL FROM:<a@example.org>')).code).toBe(250);
    // 127.0.0.66 is in the relay network 127.0.0.64/28; the balancer 127.0.0.9 is not.
    expect((await c.command('RCPT TO:<far@example.com>')).code).toBe(250);
    expect((await c.command('DATA')).code).toBe(354);
    c.write('Subject: via proxy v2\r\n\r\nhi\r\n.\r\n');
    expect((await c.reply()).code).toBe(250);
    await c.command('QUIT');
    c.close();
    const [env] = await takeEnvelopes(rig.bus, 1);
    expect(env!.client).toMatchObject({ ip: '127.0.0.66', port: 40001, proxyIp: LB });
    expect(env!.recipients.map((r) => r.address)).toEqual(['far@example.com']);
    const s = await lastSession();
    expect(s?.client).toMatchObject({ ip: '127.0.0.66', port: 40001, proxyIp: LB });
    expect(s?.helo).toBe('branch.test');
  });

  it('takes TCP over IPv6 clients, which are not in any relay network', async () => {
    await drain();
    const c = await RawSmtp.open(rig.ports.mx, LB);
    c.write(
      v2Header({
        family: 2,
        addresses: v6Addresses(
          [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x66],
          [0, 0, 0, 0, 0, 0xffff, 0x7f00, 0x0001],
          40002,
          rig.ports.mx,
        ),
      }),
    );
    expect((await c.reply()).code).toBe(220);
    await c.command('EHLO v6.test');
    expect((await c.command('MAIL FROM:<a@example.org>')).code).toBe(250);
    expect(await c.command('RCPT TO:<far@example.com>')).toEqual({
      code: 554,
      text: '5.7.1 <far@example.com>: Relay access denied',
    });
    expect((await c.command(`RCPT TO:<zhang.san@${DOMAIN}>`)).code).toBe(250);
    expect((await c.command('DATA')).code).toBe(354);
    c.write('Subject: v6\r\n\r\nhi\r\n.\r\n');
    expect((await c.reply()).code).toBe(250);
    c.close();
    const [env] = await takeEnvelopes(rig.bus, 1);
    expect(env!.client).toMatchObject({ ip: '2001:db8::66', port: 40002, proxyIp: LB });
  });

  it('keeps the balancer itself as the client for LOCAL (health checks)', async () => {
    await drain();
    const c = await RawSmtp.open(rig.ports.mx, LB);
    c.write(v2Header({ command: 0, family: 0, transport: 0 }));
    expect((await c.reply()).code).toBe(220);
    await c.command('EHLO lb.test');
    await c.command('MAIL FROM:<probe@example.org>');
    expect((await c.command(`RCPT TO:<zhang.san@${DOMAIN}>`)).code).toBe(250);
    expect((await c.command('DATA')).code).toBe(354);
    c.write('Subject: probe\r\n\r\nhi\r\n.\r\n');
    expect((await c.reply()).code).toBe(250);
    c.close();
    const [env] = await takeEnvelopes(rig.bus, 1);
    expect(env!.client?.ip).toBe(LB);
  });

  it('refuses a malformed v2 header from the balancer with 421 4.7.0 before any greeting', async () => {
    const c = await RawSmtp.open(rig.ports.mx, LB);
    c.write(v2Header({ transport: 2, addresses: v4Addresses('127.0.0.66', '127.0.0.1', 1, 25) }));
    expect(await c.reply()).toEqual({ code: 421, text: '4.7.0 Invalid PROXY protocol header' });
    expect(await c.waitClosed()).toBe(true);
    const text = await rig.ingress.registry.metrics();
    expect(text).toMatch(
      /mailmesh_ingress_rejected_total\{[^}]*stage="connect",code="421",reason="4.7.0"[^}]*\} [1-9]/,
    );
  });

  it('ignores a v2 header from a peer that is not a balancer: its signature ends the session', async () => {
    await drain();
    const c = await RawSmtp.open(rig.ports.mx, '127.0.0.1');
    c.write(
      Buffer.concat([
        v2Header({ addresses: v4Addresses('127.0.0.66', '127.0.0.1', 40003, rig.ports.mx) }),
        Buffer.from(
          'EHLO spoof.test\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<far@example.com>\r\n',
        ),
      ]),
    );
    const codes: number[] = [];
    for (;;) {
      try {
        codes.push((await c.reply(5_000)).code);
      } catch {
        break;
      }
    }
    // Greeting, 500 for the lines "", "" and NUL of the signature, 221 for its "QUIT".
    expect(codes).toEqual([220, 500, 500, 500, 221]);
    expect(await c.waitClosed()).toBe(true);
    const s = await lastSession();
    expect(s?.client).toMatchObject({ ip: '127.0.0.1', proxyIp: '' });
    expect(s?.transactions).toEqual([]);
    expect(await takeEnvelopes(rig.bus, 1, 500)).toEqual([]);
  });

  it('works in front of implicit TLS (SMTPS): header first, then the TLS handshake', async () => {
    const raw = await new Promise<Socket>((resolve, reject) => {
      const s = netConnect({ host: '127.0.0.1', port: rig.ports.smtps, localAddress: LB }, () =>
        resolve(s),
      );
      s.once('error', reject);
    });
    raw.write(v2Header({ addresses: v4Addresses('127.0.0.77', '127.0.0.1', 40004, 465) }));
    const secure = await new Promise<Socket>((resolve, reject) => {
      const t = tlsConnect(
        { socket: raw, rejectUnauthorized: false, servername: 'mx.test.local' },
        () => resolve(t),
      );
      t.once('error', reject);
    });
    const c = RawSmtp.over(secure);
    expect((await c.reply()).code).toBe(220);
    expect((await c.command('EHLO tls-behind-lb.test')).code).toBe(250);
    expect((await c.command('QUIT')).code).toBe(221);
    c.close();
    await sleep(100);
    const s = await lastSession();
    expect(s?.listener).toBe(Listener.SMTPS);
    expect(s?.client).toMatchObject({ ip: '127.0.0.77', port: 40004, proxyIp: LB });
    expect(s?.tls?.version).toMatch(/^TLSv1\.[23]$/);
  });
});

async function mailStreamIsEmptyAfterDrain(): Promise<boolean> {
  await drain();
  const info = await rig.bus.jsm.streams.info(streams.mail.name);
  return info.state.messages === 0;
}

/** A raw MX session from a@example.org to zhang.san, past DATA's 354. */
async function rawData(helo: string): Promise<RawSmtp> {
  const c = await RawSmtp.open(rig.ports.mx);
  await c.reply();
  await c.command(`EHLO ${helo}`);
  await c.command('MAIL FROM:<a@example.org>');
  await c.command(`RCPT TO:<zhang.san@${DOMAIN}>`);
  expect((await c.command('DATA')).code).toBe(354);
  return c;
}

describe('SMTP smuggling', () => {
  const smuggle = async (payload: string): Promise<{ replies: number[]; closed: boolean }> => {
    const c = await rawData('attacker.test');
    c.write(payload);
    const replies: number[] = [];
    for (;;) {
      try {
        replies.push((await c.reply(3_000)).code);
      } catch {
        break;
      }
    }
    const closed = await c.waitClosed(1_000);
    c.close();
    return { replies, closed };
  };
  const inner = `MAIL FROM:<ceo@${DOMAIN}>\r\nRCPT TO:<li.si@${DOMAIN}>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n`;

  // Haraka 3.3.4 refuses any bare LF inside DATA (451 and disconnect): the
  // message is not taken at all, so it cannot be split. A bare CR is content.
  it.each([
    ['<LF>.<LF>', `Subject: a\r\n\r\nbody\n.\n${inner}.\r\n`, [451], 0],
    ['<LF>.<CRLF>', `Subject: a\r\n\r\nbody\n.\r\n${inner}.\r\n`, [451], 0],
    ['<CRLF>.<LF>', `Subject: a\r\n\r\nbody\r\n.\n${inner}.\r\n`, [451], 0],
    ['<CR>.<CR>', `Subject: a\r\n\r\nbody\r.\r${inner}.\r\n`, [250], 1],
  ] as const)('%s never yields a second message', async (_name, payload, codes, messages) => {
    await drain();
    const before = (await spoolKeys(rig.store)).length;
    const { replies } = await smuggle(payload);
    const envs = await takeEnvelopes(rig.bus, 5, 1_000);
    expect(replies).toEqual(codes);
    expect(envs.length).toBe(messages);
    expect(envs.flatMap((e) => e.recipients.map((r) => r.address))).not.toContain(
      `li.si@${DOMAIN}`,
    );
    expect((await spoolKeys(rig.store)).length - before).toBe(messages);
    if (messages === 1) {
      // The would-be second message is inside the first one's body.
      const body = await rig.store.getBuffer(objectBuckets.spool, spoolKey(envs[0]!.mailId));
      expect(body.toString('latin1')).toContain('\rMAIL FROM:<ceo@');
    }
  });
});

describe('a message without the blank line after its header section', () => {
  // Haraka finds the header section of such a message at the final dot: the run of
  // field and continuation lines. The stored copy gets the blank line after that run,
  // and keeps every line of the body.
  it.each([
    [
      'fields, then text',
      'Subject: no separator\r\nTo: zhang.san@x\r\nfirst body line\r\n..dotted\r\n',
      'Subject: no separator\r\nTo: zhang.san@x\r\n\r\nfirst body line\r\n.dotted\r\n',
      'no separator',
    ],
    [
      'fields only',
      'Subject: only fields\r\nX-Extra: 1\r\n',
      'Subject: only fields\r\nX-Extra: 1\r\n\r\n',
      'only fields',
    ],
  ] as const)(
    '%s: 250, stored with the blank line, body kept',
    async (_n, data, stored, subject) => {
      await drain();
      const c = await rawData('client.example.org');
      c.write(`${data}.\r\n`);
      const reply = await c.reply();
      c.close();
      expect(reply.code).toBe(250);
      const [env] = await takeEnvelopes(rig.bus, 1);
      expect(env!.subject).toBe(subject);
      const body = await rig.store.getBuffer(env!.spool!.bucket, env!.spool!.key, {
        range: { offset: Number(env!.spool!.offset), length: Number(env!.spool!.length) },
      });
      const text = body.toString('latin1');
      // Our Received field (two lines), then the client's lines.
      expect(text.startsWith('Received: ')).toBe(true);
      expect(text.slice(text.indexOf('\r\nSubject: ') + 2)).toBe(stored);
      expect(createHash('sha256').update(body).digest('hex')).toBe(env!.sha256);
    },
  );
});

describe('audit, load report, metrics', () => {
  it('publishes one chained session record per session to audit.session', async () => {
    const r = await swaks([
      '--server',
      mx(),
      '--from',
      'a@example.org',
      '--to',
      `zhang.san@${DOMAIN}`,
      '--body',
      'audit me',
      '--ehlo',
      'audit.test',
    ]);
    const mailId = queuedId(lastReply(r).text)!;
    await rig.ingress.audit.flush();
    const last = await rig.bus.jsm.streams.getMessage(streams.audit.name, {
      last_by_subj: subjects.audit('session'),
    });
    expect(last).not.toBeNull();
    const rec = fromBinary(AuditRecordSchema, last!.data);
    expect(rec.kind).toBe('session');
    expect(rec.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(rec.seq > 1n ? rec.prevHash : '').toMatch(rec.seq > 1n ? /^[0-9a-f]{64}$/ : /^$/);
    const s = rec.body.case === 'session' ? rec.body.value : undefined;
    expect(s?.helo).toBe('audit.test');
    expect(s?.listener).toBe(Listener.MX);
    expect(s?.client?.ip).toBe('127.0.0.1');
    expect(s?.replies[0]).toMatchObject({ command: 'CONNECT', code: 220 });
    const t = s?.transactions[0];
    expect(t).toMatchObject({
      mailFrom: 'a@example.org',
      rcptTo: [`zhang.san@${DOMAIN}`],
      mailId,
      queued: true,
    });
    expect(t?.replies.map((x) => [x.command, x.code])).toEqual([
      ['MAIL', 250],
      ['RCPT', 250],
      ['DATA', 354],
      ['DATA', 250],
    ]);
    expect(t?.replies[3]?.enhanced).toBe('2.0.0');
    expect(s!.bytesIn > 0n && s!.bytesOut > 0n).toBe(true);
    await drain();
  });

  it('writes a load report to mailmesh-load', async () => {
    const kv = await rig.bus.kv(kvBuckets.load);
    const c = await RawSmtp.open(rig.ports.mx);
    await c.reply();
    let active = -1;
    for (let i = 0; i < 40 && active < 1; i++) {
      await sleep(100);
      const e = await kv.get(loadKey('ingress', 'test-ingress'));
      if (e) active = fromBinary(LoadReportSchema, e.value).activeSessions;
    }
    c.close();
    expect(active).toBeGreaterThanOrEqual(1);
  });

  it('counts sessions, acceptances, refusals and acceptance latency', async () => {
    const text = await rig.ingress.registry.metrics();
    expect(text).toMatch(/mailmesh_ingress_sessions_total\{[^}]*listener="mx"[^}]*\} [1-9]/);
    expect(text).toMatch(/mailmesh_ingress_accepted_total\{[^}]*listener="mx"[^}]*\} [1-9]/);
    expect(text).toMatch(
      /mailmesh_ingress_rejected_total\{[^}]*stage="rcpt",code="550",reason="5.1.1"[^}]*\} [1-9]/,
    );
    expect(text).toMatch(
      /mailmesh_ingress_acceptance_seconds_count\{[^}]*outcome="accepted"[^}]*\} [1-9]/,
    );
  });
});
