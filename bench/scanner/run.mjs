// Scanner benchmark: messages/s per process on a mixed corpus, and CPU ms per message
// broken down by check. Plain JavaScript over the built packages (services/scanner/dist,
// packages/testkit/dist): `node bench/scanner/run.mjs` from the repository root after
// `npx turbo run build --filter=@mailmesh/scanner...`. Bounded: BENCH_ROUNDS rounds of the
// corpus (default 20) for local checks, BENCH_NET_ROUNDS (default 3) for clamd/spamd,
// and a throughput phase of at most BENCH_SECONDS (default 15) and 5000 messages.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { create } from '@bufbuild/protobuf';
import { timestampNow } from '@bufbuild/protobuf/wkt';
import { EnvelopeSchema, Listener, Origin } from '@mailmesh/proto';
import {
  DlpEngine,
  checkAttachments,
  checkAuthentication,
  createClamdClient,
  createSpamdClient,
  extractText,
  parseMail,
  parseScanPolicy,
  scanMessage,
  tableResolver,
} from '@mailmesh/scanner';
import { EICAR, GTUBE, startClamd, startSpamd } from '@mailmesh/testkit';
import { dkimSign } from 'mailauth';
import yazl from 'yazl';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const NET_ROUNDS = Number(process.env.BENCH_NET_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const MAX_MESSAGES = 5000;

// ---------------------------------------------------------------------------
// Corpus: the test corpus files plus generated attachments, EICAR, GTUBE, DKIM.

const corpusDir = fileURLToPath(new URL('../../services/scanner/test/corpus/', import.meta.url));
const files = readdirSync(corpusDir).filter((f) => f.endsWith('.eml'));

function zip(entries) {
  return new Promise((resolve) => {
    const z = new yazl.ZipFile();
    for (const e of entries) z.addBuffer(e.content, e.name, { mtime: new Date(0) });
    const chunks = [];
    z.outputStream.on('data', (c) => chunks.push(c));
    z.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
    z.end();
  });
}

function mime(text, attachments = [], from = 'Li Si <li.si@partner.example>') {
  const b = 'bench-b';
  const lines = [
    `From: ${from}`,
    'To: zhang.san@sh.company.local',
    'Subject: bench',
    'Date: Thu, 03 Dec 2026 10:00:00 +0800',
    'Message-ID: <bench@partner.example>',
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${b}"`,
    '',
    `--${b}`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    text,
  ];
  for (const a of attachments) {
    lines.push(
      `--${b}`,
      'Content-Type: application/octet-stream',
      `Content-Disposition: attachment; filename="${a.filename}"`,
      'Content-Transfer-Encoding: base64',
      '',
      ...(a.content.toString('base64').match(/.{1,76}/g) ?? []),
    );
  }
  lines.push(`--${b}--`, '');
  return Buffer.from(lines.join('\r\n'));
}

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const dkimRecord = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;
const resolver = tableResolver({
  'mm1._domainkey.signed.example': { TXT: [dkimRecord] },
  '_dmarc.signed.example': { TXT: ['v=DMARC1; p=reject'] },
});
const signedRaw = mime('Signed content.', [], 'Wang Wu <wang.wu@signed.example>').toString();
const sig = {
  signingDomain: 'signed.example',
  selector: 'mm1',
  privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }),
};
const signed = Buffer.from(
  (await dkimSign(signedRaw, { ...sig, signatureData: [sig] })).signatures + signedRaw,
);

const eicar = Buffer.from(EICAR, 'latin1');
const corpus = [
  ...files.map((f) => ({ name: f, raw: readFileSync(corpusDir + f) })),
  { name: 'eicar', raw: mime('hi', [{ filename: 'eicar.txt', content: eicar }]) },
  {
    name: 'eicar-zip',
    raw: mime('hi', [
      { filename: 'a.zip', content: await zip([{ name: 'e.txt', content: eicar }]) },
    ]),
  },
  { name: 'gtube', raw: mime(GTUBE) },
  { name: 'dkim', raw: signed },
  { name: 'big-text', raw: mime('普通的业务邮件内容，没有敏感信息。'.repeat(4000)) },
  {
    name: 'zip-attachments',
    raw: mime('see zip', [
      {
        filename: 'docs.zip',
        content: await zip(
          Array.from({ length: 20 }, (_, i) => ({
            name: `f${i}.txt`,
            content: Buffer.alloc(20_000, 65 + i),
          })),
        ),
      },
    ]),
  },
];

// ---------------------------------------------------------------------------
// Policy: the test group policy (3000+ keywords) with every check on.

const keywords = ['机密合同', '技术专利'];
const chars = '甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥';
for (let i = 0; keywords.length < 3002; i++)
  keywords.push(
    `项目${chars[i % chars.length]}${chars[Math.floor(i / chars.length) % chars.length]}代号${i}`,
  );
const policy = parseScanPolicy({
  name: 'group-dlp',
  direction: 'any',
  spec: {
    dlp: [
      {
        name: 'contract-terms',
        keywords,
        patterns: ['合同金额[:：]\\s*[¥￥]?\\d[\\d,]*'],
        action: 'quarantine',
      },
      { name: 'personal-data', detectors: ['cn-id-card', 'bank-card'], action: 'quarantine' },
      { name: 'mobile-numbers', detectors: ['cn-mobile'], minMatches: 3, action: 'tag' },
    ],
    attachments: {
      blockExtensions: ['exe', 'bat', 'scr', 'js', 'vbs'],
      maxSize: '25Mi',
      action: 'reject',
    },
    antivirus: { action: 'reject', onError: 'tempfail' },
    spam: {},
    authentication: { dmarc: 'enforce' },
  },
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

// ---------------------------------------------------------------------------

const cpuMs = (u) => (u.user + u.system) / 1000;
async function measure(label, rounds, fn) {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  let n = 0;
  for (let r = 0; r < rounds; r++)
    for (const m of corpus) {
      await fn(m);
      n++;
    }
  const cpu = cpuMs(process.cpuUsage(c0));
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  return {
    check: label,
    messages: n,
    cpuMsPerMsg: +(cpu / n).toFixed(3),
    wallMsPerMsg: +(wall / n).toFixed(3),
  };
}

console.error('starting clamd and spamd ...');
const [clamd, spamd] = await Promise.all([startClamd(), startSpamd()]);
try {
  const clamdClient = createClamdClient({ host: clamd.host, port: clamd.port });
  const spamdClient = createSpamdClient({ host: spamd.host, port: spamd.port });
  const engine = new DlpEngine(policy.dlp);
  const parsed = new Map();
  for (const m of corpus) parsed.set(m.name, await parseMail(m.raw));

  const rows = [];
  rows.push(await measure('mime parse', ROUNDS, (m) => parseMail(m.raw)));
  rows.push(
    await measure('attachments', ROUNDS, (m) =>
      checkAttachments(parsed.get(m.name).attachments, policy.attachments),
    ),
  );
  rows.push(
    await measure('dlp (extract + fold + match)', ROUNDS, async (m) => {
      const p = parsed.get(m.name);
      const texts = [
        { scope: 'subject', source: 's', text: p.subject },
        { scope: 'body', source: 'b', text: p.text },
      ];
      for (const a of p.attachments)
        texts.push({ scope: 'attachments', source: a.filename, text: await extractText(a) });
      engine.scan(DlpEngine.prepare(texts));
    }),
  );
  rows.push(
    await measure('dkim/dmarc (mailauth)', ROUNDS, (m) =>
      checkAuthentication(m.raw, envelope, { resolver, authservId: 'mx' }),
    ),
  );
  rows.push(
    await measure('antivirus (clamd, client side; clamd CPU not counted)', NET_ROUNDS, (m) =>
      clamdClient.scan(m.raw),
    ),
  );
  rows.push(
    await measure('spam (spamd, client side; spamd CPU not counted)', NET_ROUNDS, (m) =>
      spamdClient.check(m.raw),
    ),
  );

  // Throughput: whole scans, 4 at a time, like one scanner process with concurrency 4.
  const deps = { clamd: clamdClient, spamd: spamdClient, resolver, authservId: 'mx' };
  const t0 = Date.now();
  const c0 = process.cpuUsage();
  let done = 0;
  let next = 0;
  const worker = async () => {
    while (Date.now() - t0 < SECONDS * 1000 && done < MAX_MESSAGES) {
      const m = corpus[next++ % corpus.length];
      await scanMessage({ raw: m.raw, envelope, policies: [policy], localSender: false }, deps);
      done++;
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  const secs = (Date.now() - t0) / 1000;
  const cpu = cpuMs(process.cpuUsage(c0));

  // Throughput without the network peers (content + authentication only).
  const local = { ...policy, antivirus: undefined, spam: undefined };
  const t1 = Date.now();
  let localDone = 0;
  let localNext = 0;
  const localWorker = async () => {
    while (Date.now() - t1 < SECONDS * 1000 && localDone < MAX_MESSAGES) {
      const m = corpus[localNext++ % corpus.length];
      await scanMessage(
        { raw: m.raw, envelope, policies: [local], localSender: false },
        { resolver, authservId: 'mx' },
      );
      localDone++;
    }
  };
  await Promise.all([localWorker(), localWorker(), localWorker(), localWorker()]);
  const localSecs = (Date.now() - t1) / 1000;

  const report = {
    node: process.version,
    corpus: corpus.length,
    perCheck: rows,
    throughput: {
      allChecks: {
        messages: done,
        seconds: secs,
        messagesPerSecond: +(done / secs).toFixed(1),
        scannerCpuMsPerMsg: +(cpu / done).toFixed(2),
      },
      withoutClamdSpamd: {
        messages: localDone,
        seconds: localSecs,
        messagesPerSecond: +(localDone / localSecs).toFixed(1),
      },
    },
  };
  console.log(JSON.stringify(report, null, 2));
} finally {
  await Promise.all([clamd.stop(), spamd.stop()]);
}
