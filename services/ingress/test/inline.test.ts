/**
 * The inline (before-queue) scan through the whole edge: real Haraka, NATS and
 * MinIO, the real scanner responder (@mailmesh/scanner) in this process, real
 * clients (Python smtplib, swaks). A mail policy rejects is refused in the session
 * with 550 5.7.1 and leaves nothing behind; without a verdict in time the
 * platform's fallback decides between queueing and 451 4.3.0.
 */
import type { InlineScanSettings } from '@mailmesh/config';
import { configKeys, objectBuckets, queueGroups, spoolKey, subjects } from '@mailmesh/proto';
import { watchConfig, type ConfigWatcher } from '@mailmesh/runtime';
import {
  buildScannerConfig,
  startInlineResponder,
  tableResolver,
  type InlineResponder,
  type ScannerConfig,
} from '@mailmesh/scanner';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DOMAIN,
  PASSWORD,
  lastReply,
  pySmtp,
  queuedId,
  spoolKeys,
  startRig,
  swaks,
  takeEnvelopes,
  testDomain,
  testLog,
  writeMessageFile,
  type Rig,
} from './helpers.js';

const POLICY = 'inline-dlp';

let rig: Rig;
let scannerConfig: ConfigWatcher<ScannerConfig>;
let responder: InlineResponder | undefined;

async function setInline(inline: InlineScanSettings): Promise<void> {
  await rig.putConfig({ [configKeys.platform]: { ...rig.platform(), inlineScan: inline } });
}

beforeAll(async () => {
  rig = await startRig();
  await rig.putConfig({
    [configKeys.policy(POLICY)]: {
      name: POLICY,
      direction: 'any',
      spec: {
        dlp: [
          { name: 'top-secret', keywords: ['绝密'], scope: ['subject'], action: 'reject' },
          { name: 'contracts', keywords: ['机密合同'], scope: ['body'], action: 'quarantine' },
        ],
        attachments: { blockExtensions: ['exe', 'scr'], action: 'reject' },
      },
    },
    [configKeys.domain(DOMAIN)]: { ...(await testDomain()), policies: [POLICY] },
  });
  await setInline({ enabled: true, timeoutMs: 20_000, onTimeout: 'accept' });
  scannerConfig = watchConfig<ScannerConfig>(rig.bus, buildScannerConfig, { log: testLog });
  await scannerConfig.ready;
  responder = await startInlineResponder({
    bus: rig.bus,
    store: rig.store,
    log: testLog,
    config: () => scannerConfig.current().value,
    deps: { resolver: tableResolver({}) },
    instance: 'scanner-inline-test',
    hostname: 'mx.test.local',
  });
});

afterAll(async () => {
  await responder?.stop();
  await scannerConfig?.stop();
  await rig?.stop();
});

const FROM = 'li.si@partner.example';
const TO = `zhang.san@${DOMAIN}`;

function message(opts: { subject?: string; body?: string; attachment?: string } = {}): string {
  const head = [
    `From: Li Si <${FROM}>`,
    `To: ${TO}`,
    `Subject: ${opts.subject ?? 'quarterly numbers'}`,
    'Message-ID: <inline-test@partner.example>',
    'MIME-Version: 1.0',
  ];
  const text = opts.body ?? 'Numbers attached.';
  if (opts.attachment === undefined) {
    return [...head, 'Content-Type: text/plain; charset=utf-8', '', text, ''].join('\r\n');
  }
  return [
    ...head,
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain; charset=utf-8',
    '',
    text,
    '--b1',
    `Content-Type: application/octet-stream; name="${opts.attachment}"`,
    `Content-Disposition: attachment; filename="${opts.attachment}"`,
    'Content-Transfer-Encoding: base64',
    '',
    Buffer.from('not really a program').toString('base64'),
    '--b1--',
    '',
  ].join('\r\n');
}

/** One MX transaction (python smtplib); the DATA reply. */
async function sendMx(msg: string): Promise<{ code: number; text: string }> {
  const steps = await pySmtp({
    host: '127.0.0.1',
    port: rig.ports.mx,
    steps: [
      ['ehlo', 'client.partner.example'],
      ['mail', FROM],
      ['rcpt', TO],
      ['data', msg],
      ['quit'],
    ],
  });
  const data = steps.find((s) => s.step === 'data');
  if (!data) throw new Error(`no DATA reply: ${JSON.stringify(steps)}`);
  return { code: data.code, text: data.text };
}

const drain = () => takeEnvelopes(rig.bus, 100, 300);

/** The DATA reply, and what the transaction left in the spool and on the bus. */
async function outcome(send: () => Promise<{ code: number; text: string }>) {
  await drain();
  const before = new Set(await spoolKeys(rig.store));
  const reply = await send();
  const envelopes = await takeEnvelopes(rig.bus, 5, reply.code === 250 ? 1_500 : 1_000);
  const added = (await spoolKeys(rig.store)).filter((k) => !before.has(k));
  return { reply, envelopes, added };
}

describe('scanner answering', () => {
  it('a blocked attachment gets 550 5.7.1 in the session; no spool object, no envelope', async () => {
    const { reply, envelopes, added } = await outcome(() =>
      sendMx(message({ attachment: 'report.pdf.exe' })),
    );
    expect(reply).toEqual({
      code: 550,
      text: `5.7.1 Message rejected by policy ${POLICY}/blocked-extension (attachment)`,
    });
    expect(envelopes).toEqual([]);
    expect(added).toEqual([]);
  });

  it('a DLP subject hit gets 550 5.7.1 (swaks), and the session goes on', async () => {
    await drain();
    const before = new Set(await spoolKeys(rig.store));
    // RFC 2047: the scanner matches the decoded subject "绝密 plan".
    const blocked = await writeMessageFile(
      rig.dir,
      'secret.eml',
      message({ subject: `=?UTF-8?B?${Buffer.from('绝密 plan').toString('base64')}?=` }),
    );
    const r = await swaks([
      '--server',
      `127.0.0.1:${rig.ports.mx}`,
      '--from',
      FROM,
      '--to',
      TO,
      '--data',
      blocked,
    ]);
    expect(lastReply(r)).toEqual({
      code: 550,
      text: `5.7.1 Message rejected by policy ${POLICY}/top-secret (dlp)`,
    });
    expect(await takeEnvelopes(rig.bus, 1, 1_000)).toEqual([]);
    expect((await spoolKeys(rig.store)).filter((k) => !before.has(k))).toEqual([]);

    // A refusal ends the transaction only: the next one in the same session is queued.
    const steps = await pySmtp({
      host: '127.0.0.1',
      port: rig.ports.mx,
      steps: [
        ['ehlo', 'client.partner.example'],
        ['mail', FROM],
        ['rcpt', TO],
        ['data', message({ attachment: 'screensaver.scr' })],
        ['mail', FROM],
        ['rcpt', TO],
        ['data', message()],
        ['quit'],
      ],
    });
    const datas = steps.filter((s) => s.step === 'data');
    expect(datas.map((d) => d.code)).toEqual([550, 250]);
    const [env] = await takeEnvelopes(rig.bus, 2, 3_000);
    expect(env?.mailId).toBe(queuedId(datas[1]!.text));
  });

  it('a clean mail gets 250 and its envelope; its body stays in the spool', async () => {
    const { reply, envelopes, added } = await outcome(() => sendMx(message()));
    expect(reply.code).toBe(250);
    const mailId = queuedId(reply.text)!;
    expect(reply.text).toBe(`2.0.0 Ok: queued as ${mailId}`);
    expect(envelopes.map((e) => e.mailId)).toEqual([mailId]);
    expect(added).toEqual([spoolKey(mailId)]);
    expect(envelopes[0]!.spool).toMatchObject({
      bucket: objectBuckets.spool,
      key: spoolKey(mailId),
    });
  });

  it('a quarantine verdict is queued: the after-queue scan holds it', async () => {
    const { reply, envelopes, added } = await outcome(() =>
      sendMx(message({ body: '附件是机密合同的草稿。' })),
    );
    expect(reply.code).toBe(250);
    const mailId = queuedId(reply.text)!;
    expect(envelopes.map((e) => e.mailId)).toEqual([mailId]);
    expect(added).toEqual([spoolKey(mailId)]);
  });

  it('listenerKinds limits the inline scan: a blocked mail on submission is queued', async () => {
    await setInline({
      enabled: true,
      timeoutMs: 20_000,
      onTimeout: 'accept',
      listenerKinds: ['mx'],
    });
    try {
      const { reply, envelopes } = await outcome(async () => {
        const steps = await pySmtp({
          host: '127.0.0.1',
          port: rig.ports.submission,
          steps: [
            ['ehlo', 'pc17.test.local'],
            ['starttls'],
            ['ehlo', 'pc17.test.local'],
            ['login', 'PLAIN', TO, PASSWORD],
            ['mail', TO],
            ['rcpt', 'someone@partner.example'],
            [
              'data',
              message({ attachment: 'tool.exe' }).replace(`From: Li Si <${FROM}>`, `From: ${TO}`),
            ],
            ['quit'],
          ],
        });
        const data = steps.find((s) => s.step === 'data')!;
        return { code: data.code, text: data.text };
      });
      expect(reply.code).toBe(250);
      expect(envelopes.map((e) => e.mailId)).toEqual([queuedId(reply.text)]);
    } finally {
      await setInline({ enabled: true, timeoutMs: 20_000, onTimeout: 'accept' });
    }
  });
});

describe('no verdict in time', () => {
  it('a scanner that does not answer: fallback accept queues, fallback tempfail answers 451', async () => {
    await responder?.stop();
    responder = undefined;
    // A hung scanner: a member of the queue group that never replies.
    const hung = rig.bus.nc.subscribe(subjects.inlineScan, { queue: queueGroups.inlineScan });
    let requests = 0;
    const counting = (async () => {
      for await (const _ of hung) requests++;
    })();
    await rig.bus.nc.flush();
    try {
      await setInline({ enabled: true, timeoutMs: 1_000, onTimeout: 'accept' });
      const accepted = await outcome(() => sendMx(message({ attachment: 'report.pdf.exe' })));
      expect(accepted.reply.code).toBe(250);
      const mailId = queuedId(accepted.reply.text)!;
      expect(accepted.envelopes.map((e) => e.mailId)).toEqual([mailId]);
      expect(accepted.added).toEqual([spoolKey(mailId)]);

      await setInline({ enabled: true, timeoutMs: 1_000, onTimeout: 'tempfail' });
      const refused = await outcome(() => sendMx(message()));
      expect(refused.reply).toEqual({
        code: 451,
        text: '4.3.0 Error: content scan unavailable, try again later',
      });
      expect(refused.envelopes).toEqual([]);
      expect(refused.added).toEqual([]);
      // Both requests did reach the hung member.
      expect(requests).toBe(2);
    } finally {
      hung.unsubscribe();
      await counting;
    }
  });

  it('no scanner at all: fallback accept gives 250 and the envelope', async () => {
    await setInline({ enabled: true, timeoutMs: 5_000, onTimeout: 'accept' });
    const { reply, envelopes, added } = await outcome(() => sendMx(message()));
    expect(reply.code).toBe(250);
    const mailId = queuedId(reply.text)!;
    expect(envelopes.map((e) => e.mailId)).toEqual([mailId]);
    expect(added).toEqual([spoolKey(mailId)]);
  });

  it('no scanner at all: fallback tempfail gives 451 4.3.0 and stores nothing', async () => {
    await setInline({ enabled: true, timeoutMs: 5_000, onTimeout: 'tempfail' });
    const { reply, envelopes, added } = await outcome(() => sendMx(message()));
    expect(reply).toEqual({
      code: 451,
      text: '4.3.0 Error: content scan unavailable, try again later',
    });
    expect(envelopes).toEqual([]);
    expect(added).toEqual([]);
  });

  it('inline scan disabled: queued without asking', async () => {
    await setInline({ enabled: false, timeoutMs: 5_000, onTimeout: 'tempfail' });
    const { reply, envelopes } = await outcome(() => sendMx(message({ attachment: 'a.exe' })));
    expect(reply.code).toBe(250);
    expect(envelopes.map((e) => e.mailId)).toEqual([queuedId(reply.text)]);
  });
});
