/** Pure decision functions, without Haraka or peers. */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { buildSnapshot, defaultLimits, encodeConfigValue, NetworkList } from '@mailmesh/config';
import { AuditRecordSchema, DsnNotify, LoadReportSchema, SpfResultCode } from '@mailmesh/proto';
import { createHash } from 'node:crypto';
import {
  AuthLimiter,
  ConnectionTracker,
  decideConnect,
  decideFromHeader,
  decideMailFrom,
  decideRecipient,
  decodeXtext,
  fromAddresses,
  harakaFiles,
  ListenerConfigError,
  listenerFor,
  loadReport,
  parseNotify,
  pathProblem,
  receivedHeader,
  saslContinue,
  saslStart,
  sessionRecord,
  staticResolver,
  spfChecker,
  storedMessage,
  type SessionFacts,
} from '../src/index.js';
import { DOMAIN, platformConfig, testDomain } from './helpers.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('SASL', () => {
  it('PLAIN with and without an initial response', () => {
    expect(saslStart(`PLAIN ${b64('\0user@x\0pw')}`)).toEqual({
      kind: 'credentials',
      mechanism: 'PLAIN',
      credentials: { user: 'user@x', password: 'pw' },
    });
    const c = saslStart('PLAIN');
    expect(c).toMatchObject({ kind: 'challenge', challenge: '' });
    if (c.kind !== 'challenge') throw new Error('challenge expected');
    expect(saslContinue(c.state, b64('user@x\0user@x\0pw'))).toMatchObject({ kind: 'credentials' });
    expect(saslContinue(c.state, b64('other\0user@x\0pw'))).toEqual({
      kind: 'error',
      error: 'syntax',
    });
    expect(saslContinue(c.state, '*')).toEqual({ kind: 'error', error: 'cancelled' });
  });

  it('LOGIN in two steps; bad base64 and unknown mechanisms', () => {
    const s1 = saslStart('LOGIN');
    expect(s1).toMatchObject({ kind: 'challenge', challenge: b64('Username:') });
    if (s1.kind !== 'challenge') throw new Error('challenge expected');
    const s2 = saslContinue(s1.state, b64('u@x'));
    expect(s2).toMatchObject({ kind: 'challenge', challenge: b64('Password:') });
    if (s2.kind !== 'challenge') throw new Error('challenge expected');
    expect(saslContinue(s2.state, b64('secret'))).toEqual({
      kind: 'credentials',
      mechanism: 'LOGIN',
      credentials: { user: 'u@x', password: 'secret' },
    });
    expect(saslStart('PLAIN !!!')).toEqual({ kind: 'error', error: 'syntax' });
    expect(saslStart('CRAM-MD5')).toEqual({ kind: 'error', error: 'mechanism' });
  });
});

describe('address forms', () => {
  it.each([
    ['<user@example.com>', undefined],
    ['<>', undefined],
    ['<@relay:user@example.com>', 'source routes are not accepted'],
    ['<"a b"@example.com>', 'quoted local parts are not accepted'],
    ['<user%other@example.com>', 'percent-hack addresses are not accepted'],
    ['<host!user@example.com>', 'bang paths are not accepted'],
    ['<postmaster>', 'an address must be local@domain'],
  ])('%s', (raw, problem) => {
    expect(pathProblem(raw)).toBe(problem);
  });
});

describe('envelope decisions', async () => {
  const domain = await testDomain();
  const snap = buildSnapshot(new Map([[`domain.${DOMAIN}`, encodeConfigValue(domain)]]));
  const limits = { ...defaultLimits, maxRecipients: 2, maxMessageBytes: 1000 };
  const mx = { listener: 'mx' as const, clientIp: '10.9.9.9', tls: false, authUser: undefined };
  const authed = {
    ...mx,
    listener: 'submission' as const,
    tls: true,
    authUser: `zhang.san@${DOMAIN}`,
  };

  it('MAIL FROM', () => {
    expect(
      decideMailFrom(
        snap,
        limits,
        { ...mx, listener: 'submission' },
        { raw: '<a@b.c>', address: 'a@b.c', declaredSize: undefined },
      ),
    ).toMatchObject({ code: 530, enhanced: '5.7.0' });
    expect(
      decideMailFrom(snap, limits, mx, { raw: '<a@b.c>', address: 'a@b.c', declaredSize: 1001 }),
    ).toMatchObject({ code: 552, enhanced: '5.3.4' });
    expect(
      decideMailFrom(snap, limits, authed, { raw: '<>', address: '', declaredSize: undefined }),
    ).toMatchObject({ code: 553, enhanced: '5.7.1' });
    expect(
      decideMailFrom(snap, limits, authed, {
        raw: `<sales@${DOMAIN}>`,
        address: `sales@${DOMAIN}`,
        declaredSize: undefined,
      }),
    ).toEqual({ kind: 'accept' });
  });

  it('RCPT TO', () => {
    const r = (address: string, accepted = 0, session: SessionFacts = mx) =>
      decideRecipient(snap, limits, session, { raw: `<${address}>`, address, accepted });
    expect(r(`zhang.san@${DOMAIN}`)).toEqual({ kind: 'accept' });
    expect(r(`x@${DOMAIN}`)).toMatchObject({ code: 550, enhanced: '5.1.1' });
    expect(r('x@example.com')).toMatchObject({ code: 554, enhanced: '5.7.1' });
    expect(r('x@example.com', 0, authed)).toEqual({ kind: 'accept' });
    expect(r('x@example.com', 0, { ...mx, clientIp: '127.0.0.70' })).toEqual({ kind: 'accept' });
    expect(r(`zhang.san@${DOMAIN}`, 2)).toMatchObject({ code: 452, enhanced: '4.5.3' });
  });

  it('From: header', () => {
    expect(decideFromHeader(snap, undefined, undefined)).toEqual({ kind: 'accept' });
    expect(decideFromHeader(snap, `zhang.san@${DOMAIN}`, undefined)).toMatchObject({ code: 553 });
    expect(decideFromHeader(snap, `zhang.san@${DOMAIN}`, [`li.si@${DOMAIN}`])).toMatchObject({
      code: 553,
      enhanced: '5.7.1',
    });
    expect(decideFromHeader(snap, `zhang.san@${DOMAIN}`, [`sales@${DOMAIN}`])).toEqual({
      kind: 'accept',
    });
    expect(fromAddresses([`"Li <x@evil>" <Li.Si@SH.test.local>`])).toEqual(['li.si@sh.test.local']);
    expect(fromAddresses(['not an address'])).toBeUndefined();
    expect(fromAddresses([])).toBeUndefined();
  });
});

describe('connection policy', () => {
  it('orders allow-list, global, per-IP and rate limits', () => {
    const limits = {
      ...defaultLimits,
      maxConnections: 10,
      perIpConnections: 2,
      perIpRatePerMinute: 3,
    };
    const base = {
      ip: '10.0.0.1',
      allowNetworks: new NetworkList([]),
      active: 0,
      activeFromIp: 0,
      recentFromIp: 1,
    };
    expect(decideConnect(limits, base)).toEqual({ kind: 'accept' });
    expect(
      decideConnect(limits, { ...base, allowNetworks: new NetworkList(['10.1.0.0/16']) }),
    ).toMatchObject({ code: 554, enhanced: '5.7.1' });
    expect(decideConnect(limits, { ...base, active: 10 })).toMatchObject({
      code: 421,
      text: 'Too many connections, try again later',
    });
    expect(decideConnect(limits, { ...base, activeFromIp: 2 })).toMatchObject({
      code: 421,
      enhanced: '4.7.0',
    });
    expect(decideConnect(limits, { ...base, recentFromIp: 4 })).toMatchObject({
      code: 421,
      kind: 'denysoftdisconnect',
    });
  });

  it('tracker counts sessions and a sliding minute of attempts', () => {
    let now = 0;
    const t = new ConnectionTracker(() => now);
    const release = t.open('1.1.1.1');
    expect([t.active, t.activeFrom('1.1.1.1')]).toEqual([1, 1]);
    release();
    release();
    expect([t.active, t.activeFrom('1.1.1.1')]).toEqual([0, 0]);
    expect(t.attempt('1.1.1.1')).toBe(1);
    now = 30_000;
    expect(t.attempt('1.1.1.1')).toBe(2);
    now = 61_000;
    expect(t.attempt('1.1.1.1')).toBe(2);
  });

  it('auth limiter locks IPs and accounts and forgets after the cool-down', () => {
    let now = 0;
    const l = new AuthLimiter(() => now);
    const limits = {
      ...defaultLimits,
      authFailuresPerIp: 3,
      authFailuresPerAccount: 2,
      authCooldownMs: 1_000,
    };
    l.failed('1.1.1.1', 'A@x', limits);
    expect(l.accountGate('a@x', limits)).toBe('open');
    l.failed('2.2.2.2', 'a@x', limits);
    expect(l.accountGate('a@x', limits)).toBe('account-locked');
    l.failed('1.1.1.1', 'b@x', limits);
    expect(l.ipGate('1.1.1.1', limits)).toBe('open');
    l.failed('1.1.1.1', 'c@x', limits);
    expect(l.ipGate('1.1.1.1', limits)).toBe('ip-locked');
    now = 1_001;
    expect(l.ipGate('1.1.1.1', limits)).toBe('open');
    expect(l.accountGate('a@x', limits)).toBe('open');
  });
});

describe('Haraka config files', () => {
  const tls = { certFile: '/tls/c.pem', keyFile: '/tls/k.pem' };
  it('binds every listener, sets public_ip, no cluster, size check off, proxy hosts', () => {
    const p = platformConfig({ mx: 2525, submission: 2587, smtps: 2465, restricted: 2526 }, tls);
    const f = harakaFiles(p, {
      spoolDir: '/s',
      spoolAfterBytes: 1024,
      logLevel: 'warn',
      internalCmdKey: 'k',
    });
    expect(f.get('smtp.ini')).toContain(
      'listen=127.0.0.1:2525,127.0.0.1:2587,127.0.0.1:2465,127.0.0.1:2526\n',
    );
    expect(f.get('smtp.ini')).toContain('public_ip=127.0.0.1\n');
    expect(f.get('smtp.ini')).toContain('nodes=0\n');
    expect(f.get('smtp.ini')).toContain('smtps_port=2465\n');
    expect(f.get('connection.ini')).toContain('hosts[]=127.0.0.9/32\n');
    expect(f.get('connection.ini')).toContain('[max]\nbytes=0\n');
    expect(f.get('tls.ini')).toContain('minVersion=TLSv1.2\n');
    expect(f.get('plugins')).not.toMatch(/rdns|fcrdns|spf\n/);
  });

  it('refuses smtps listeners on two ports', () => {
    const p = platformConfig({ mx: 2525, submission: 2587, smtps: 2465, restricted: 2526 }, tls);
    const two = {
      ...p,
      listeners: [
        ...p.listeners,
        { ...p.listeners[2]!, name: 'smtps2', addresses: ['127.0.0.1:3465'] },
      ],
    };
    expect(() =>
      harakaFiles(two, {
        spoolDir: '/s',
        spoolAfterBytes: 1,
        logLevel: 'warn',
        internalCmdKey: 'k',
      }),
    ).toThrow(ListenerConfigError);
  });

  it('finds the listener of a socket, with wildcard binds', () => {
    const p = platformConfig({ mx: 2525, submission: 2587, smtps: 2465, restricted: 2526 }, tls);
    expect(listenerFor(p.listeners, '::ffff:127.0.0.1', 2587)?.name).toBe('submission');
    expect(
      listenerFor([{ ...p.listeners[0]!, addresses: ['0.0.0.0:25'] }], '10.1.1.1', 25)?.name,
    ).toBe('mx');
    expect(listenerFor(p.listeners, '127.0.0.1', 9)).toBeUndefined();
  });
});

describe('envelope pieces', () => {
  it('DSN parameters', () => {
    expect(parseNotify('success,FAILURE,bogus')).toEqual([DsnNotify.SUCCESS, DsnNotify.FAILURE]);
    expect(parseNotify('NEVER,SUCCESS')).toEqual([DsnNotify.NEVER]);
    expect(decodeXtext('a+2Bb+3Dc')).toBe('a+b=c');
  });

  it('Received header carries the mail id and cannot be injected into', () => {
    const h = receivedHeader({
      mailId: '01HZX0000000000000000000AA',
      hostname: 'mx.test.local',
      helo: 'evil\r\nX-Injected: 1',
      clientIp: '::1',
      tls: { version: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' },
      authenticated: true,
      esmtp: true,
      recipients: ['a@b.c'],
      at: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)),
    });
    expect(h).toBe(
      'from evil X-Injected: 1 ([IPv6:::1])\r\n\tby mx.test.local (Mailmesh) with ESMTPSA id 01HZX0000000000000000000AA\r\n\tfor <a@b.c>\r\n\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384);\r\n\tFri, 02 Jan 2026 03:04:05 +0000',
    );
  });

  it('session records chain by hash', () => {
    const facts = {
      sessionId: '01HZX0000000000000000000AA',
      startedAtMs: 1,
      endedAtMs: 2,
      listener: 'mx' as const,
      client: { ip: '127.0.0.1', port: 1, helo: 'h' },
      tls: undefined,
      helo: 'h',
      authUser: '',
      transactions: [],
      replies: [{ command: 'CONNECT', code: 220, enhanced: '', text: 'hi' }],
      bytesIn: 1,
      bytesOut: 2,
      instance: 'i',
    };
    const r1 = sessionRecord(facts, 1n, '');
    const r2 = sessionRecord(facts, 2n, r1.hash);
    expect(r2.prevHash).toBe(r1.hash);
    const copy = fromBinary(AuditRecordSchema, toBinary(AuditRecordSchema, r2));
    const claimed = copy.hash;
    copy.hash = '';
    expect(createHash('sha256').update(toBinary(AuditRecordSchema, copy)).digest('hex')).toBe(
      claimed,
    );
  });

  it('stores a captured message: Received first, CRLF folds, one transparency dot removed', () => {
    const lines = ['Subject: x\r\n', '\r\n', '..leading dot\r\n', '...two\r\n', 'last\r\n'].map(
      (l) => Buffer.from(l),
    );
    expect(storedMessage('from a\n\tby b; id X', lines).toString()).toBe(
      'Received: from a\r\n\tby b; id X\r\nSubject: x\r\n\r\n.leading dot\r\n..two\r\nlast\r\n',
    );
  });

  it('stores a message without a blank line after its header section the way Haraka repairs one', () => {
    const stored = (lines: string[]): string =>
      storedMessage(
        'r',
        lines.map((l) => Buffer.from(l)),
        { headerSectionEnded: false },
      ).toString();
    // The run of field and continuation lines is the header section; the blank line follows it.
    expect(stored(['Subject: x\r\n', '\tfolded\r\n', 'no colon here\r\n', 'To: y\r\n'])).toBe(
      'Received: r\r\nSubject: x\r\n\tfolded\r\n\r\nno colon here\r\nTo: y\r\n',
    );
    // Only fields: the blank line ends the message.
    expect(stored(['Subject: x\r\n', 'To: y\r\n'])).toBe(
      'Received: r\r\nSubject: x\r\nTo: y\r\n\r\n',
    );
    // Nothing looks like a field: the first line still counts as the header section (Haraka's rule).
    expect(stored(['just text\r\n', 'more\r\n'])).toBe('Received: r\r\njust text\r\n\r\nmore\r\n');
    // An empty DATA: our Received field and the blank line.
    expect(stored([])).toBe('Received: r\r\n\r\n');
    // The transparency dot is removed before a line is judged.
    expect(stored(['..x: y\r\n', 'body\r\n'])).toBe('Received: r\r\n.x: y\r\n\r\nbody\r\n');
  });

  it('load report', () => {
    const r = fromBinary(LoadReportSchema, loadReport('ingress-0', 7, 1_000));
    expect([r.service, r.instance, r.activeSessions]).toEqual(['ingress', 'ingress-0', 7]);
  });

  it('SPF with a static resolver never throws for a verdict', async () => {
    const spf = spfChecker(
      staticResolver({ 'ok.example': { TXT: ['v=spf1 ip4:10.0.0.0/8 -all'] } }),
      'mx.test',
    );
    expect((await spf({ sender: 'a@ok.example', ip: '10.1.2.3', helo: 'h' })).result).toBe(3);
    expect((await spf({ sender: 'a@ok.example', ip: '192.0.2.1', helo: 'h' })).result).toBe(4);
    expect((await spf({ sender: 'a@missing.example', ip: '192.0.2.1', helo: 'h' })).result).toBe(1);
  });

  it('SPF reuses a verdict for its TTL, never a temporary error, and forgets the oldest', async () => {
    let resolver = staticResolver({ 'ok.example': { TXT: ['v=spf1 ip4:10.0.0.0/8 -all'] } });
    let lookups = 0;
    let failing = false;
    const counting: typeof resolver = async (name, rrtype) => {
      lookups++;
      if (failing) throw Object.assign(new Error('timeout'), { code: 'ETIMEOUT' });
      return resolver(name, rrtype);
    };
    let t = 0;
    const spf = spfChecker(counting, 'mx.test', { ttlMs: 1_000, maxEntries: 2, now: () => t });
    const a = { sender: 'a@ok.example', ip: '10.1.2.3', helo: 'h' };
    expect((await spf(a)).result).toBe(SpfResultCode.PASS);
    const first = lookups;
    expect(first).toBeGreaterThan(0);
    // Within the TTL the record change is not seen: the verdict is reused.
    resolver = staticResolver({ 'ok.example': { TXT: ['v=spf1 -all'] } });
    t = 999;
    expect((await spf({ ...a, sender: 'A@OK.example' })).result).toBe(SpfResultCode.PASS);
    expect(lookups).toBe(first);
    // Past it, the new record decides.
    t = 1_000;
    expect((await spf(a)).result).toBe(SpfResultCode.FAIL);
    // A temporary error is answered but not kept.
    failing = true;
    const b = { sender: 'b@ok.example', ip: '10.9.9.9', helo: 'h' };
    expect((await spf(b)).result).toBe(SpfResultCode.TEMPERROR);
    failing = false;
    expect((await spf(b)).result).toBe(SpfResultCode.FAIL);
    // Two entries at most: a third verdict drops the oldest (a), which is evaluated again.
    await spf({ sender: 'c@ok.example', ip: '10.0.0.1', helo: 'h' });
    const before = lookups;
    await spf(a);
    expect(lookups).toBeGreaterThan(before);
  });
});
