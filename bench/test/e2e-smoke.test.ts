import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostfix, type PostfixPeer } from '../src/peers/postfix.js';
import { processNames, startPlatform, type Platform } from '../src/e2e/platform.js';
import { cpuTable, throughputTable, type Cell } from '../src/e2e/report.js';
import { startDumpSink, type DumpSink } from '../src/e2e/sink.js';
import {
  mailmeshMailboxTarget,
  mailmeshSinkTarget,
  postfixTarget,
  type TrialResult,
} from '../src/e2e/trial.js';

// The end-to-end benchmark's wiring, bounded (20 messages per system): every mail
// must reach the sink or the mailbox exactly once, with a latency for each, or the
// benchmark's figures mean nothing.
const N = 20;

describe('end-to-end benchmark wiring', () => {
  let sink: DumpSink;
  let postfix: PostfixPeer;
  let platform: Platform;
  const cells: Cell[] = [];
  const cell = (target: string, label: string, r: TrialResult): void => {
    cells.push({ phase: 'smoke', target, label, sessions: 5, runs: [r], errors: [] });
  };

  beforeAll(async () => {
    // One after the other: a peer that failed to start leaves nothing running behind.
    sink = await startDumpSink();
    postfix = await startPostfix({ mode: 'relay', sinkPort: sink.port });
    platform = await startPlatform({ sinkPort: sink.port, mailboxes: ['smoke'] });
  }, 90_000);
  afterAll(async () => {
    await platform?.stop();
    await postfix?.stop();
    await sink?.stop();
  }, 60_000);

  it('Mailmesh relays every message through the smart host to the sink, once', async () => {
    const before = sink.messages();
    const r = await mailmeshSinkTarget(platform, sink).trial(5, N, 40_000);
    expect(sink.messages() - before).toBe(N);
    expect(r.notes).toEqual([]);
    expect(r.latenciesMs).toHaveLength(N);
    expect(r.latenciesMs.every((ms) => ms > 0)).toBe(true);
    expect(Object.keys(r.cpuMs).sort()).toEqual(
      processNames.filter((p) => p !== 'clamd' && p !== 'spamd').sort(),
    );
    // One spool PUT per mail at most: small mails queued behind a write share one.
    expect(r.opsPerMail?.s3['PutObject']).toBeGreaterThan(0);
    expect(r.opsPerMail?.s3['PutObject']).toBeLessThanOrEqual(1);
    // Bodies travel inline: no stage reads the spool.
    expect(r.opsPerMail?.s3['GetObject'] ?? 0).toBe(0);
    expect(await platform.inFlight()).toBe(0);
    cell('mailmesh-sink', 'Mailmesh relay -> smtp-sink', r);
  });

  it('Mailmesh delivers every message into the local mailbox, once', async () => {
    const r = await mailmeshMailboxTarget(platform, ['smoke']).trial(5, N, 40_000);
    expect(await platform.inboxCount('smoke')).toBe(N);
    const entries = await platform.inboxEntries('smoke');
    expect(new Set(entries.map((e) => e.mailId)).size).toBe(N);
    expect(r.notes).toEqual([]);
    expect(r.latenciesMs).toHaveLength(N);
    cell('mailmesh-mailbox', 'Mailmesh -> local mailbox', r);
  });

  it('Postfix relays the same load to the same sink, and the report renders', async () => {
    const before = sink.messages();
    const r = await postfixTarget(postfix, sink).trial(5, N, 30_000);
    expect(sink.messages() - before).toBe(N);
    expect(r.notes).toEqual([]);
    expect(await postfix.queueEmpty()).toBe(true);
    cell('postfix', 'Postfix relay -> smtp-sink', r);

    const table = throughputTable(cells, 'postfix');
    expect(table.split('\n')).toHaveLength(2 + 3);
    expect(table).toMatch(
      /\| smoke \| Mailmesh relay -> smtp-sink \| 5 \| [\d,]+ \| \d+\.\d\d× \|/,
    );
    expect(cpuTable(cells, processNames).split('\n')).toHaveLength(2 + 2);
  });
});
