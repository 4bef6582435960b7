/**
 * `mailmesh trace` and `mailmesh queue` against a real nats-server provisioned like the
 * platform: lifecycle events published the way services publish them come back for the
 * right mail only, in order; queue records written through the queue store show up in
 * `queue ls` / `queue show`; bad ids and unsupported actions exit 1 with one reason.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DeliveryEvent,
  MAIL_ID_PATTERN,
  msgId,
  Outcome,
  schemas,
  type Stage,
  subjects,
} from '@mailmesh/proto';
import {
  deliveryEvent,
  eventPart,
  newJob,
  openQueueStore,
  withJob,
  type QueueRecord,
  type QueueStore,
} from '@mailmesh/queue';
import { connectBus, newMailId, provision, publish, type Bus } from '@mailmesh/runtime';
import { startNats, type NatsPeer } from '@mailmesh/testkit';

import { runCli } from '../src/index.js';
import { mailmesh } from './helpers.js';

let nats: NatsPeer;
let bus: Bus;
let store: QueueStore;

const traced = newMailId();
const other = newMailId();
const finished = newMailId();
const unknown = newMailId();

const t = (s: number): Date => new Date(Date.UTC(2026, 11, 4, 9, 0, s));

async function emit(e: DeliveryEvent, part = ''): Promise<void> {
  const stage = e.stage as Stage;
  await publish(bus, subjects.event(stage, e.mailId), schemas.DeliveryEvent, e, {
    msgId: msgId(e.mailId, stage, eventPart(e, part)),
  });
}

interface Captured {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function cli(...args: string[]): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const code = await runCli([...args, '--nats', nats.url], {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  });
  return { code, stdout, stderr };
}

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

function deferredRecord(mailId: string): QueueRecord {
  const remote = newJob(
    subjects.deliverRemote('mail.company.local'),
    'smart host mail.company.local:587',
    { kind: 'remote', domain: 'bj.company.local', nextHop: 'mail.company.local', port: 587 },
    [{ address: 'li.si@bj.company.local' }],
    'bj.company.local relays through its smart host',
  );
  const local = newJob(
    subjects.deliverLocal('sh.company.local'),
    'mailbox sh.company.local',
    {
      kind: 'local',
      domain: 'sh.company.local',
    },
    [{ address: 'zhang.san@sh.company.local' }],
  );
  const base: QueueRecord = {
    v: 1,
    mailId,
    from: 'wang.wu@company.local',
    receivedAt: t(0).toISOString(),
    messageId: '<m1@company.local>',
    subject: 'quarterly report',
    size: 2048,
    stage: 'queued',
    updatedAt: t(0).toISOString(),
    problems: [],
    jobs: {},
  };
  const err = {
    kind: 'connect',
    code: 451,
    enhanced: '4.4.1',
    message: 'connection refused',
    host: 'mail.company.local',
  };
  const withLocal = withJob(
    base,
    'local:sh.company.local',
    {
      ...local,
      attempts: 1,
      recipients: {
        'zhang.san@sh.company.local': {
          state: 'delivered',
          attempts: 1,
          doneAt: t(3).toISOString(),
        },
      },
    },
    t(3),
  );
  return withJob(
    withLocal,
    'remote:mail.company.local:587',
    {
      ...remote,
      attempts: 2,
      firstAttemptAt: t(3).toISOString(),
      lastAttemptAt: t(9).toISOString(),
      nextAttemptAt: '2026-12-04T09:10:00.000Z',
      lastError: err,
      recipients: { 'li.si@bj.company.local': { state: 'deferred', attempts: 2, lastError: err } },
    },
    t(9),
  );
}

beforeAll(async () => {
  nats = await startNats();
  bus = await connectBus({ servers: nats.url, name: 'cli-trace-test' });
  await provision(bus);
  store = await openQueueStore(bus);

  const ev = (stage: Stage, outcome: Outcome, s: number, more: object = {}) =>
    deliveryEvent({ mailId: traced, stage, outcome, at: t(s), ...more });
  // Published out of time order on purpose (delivered before the tempfail it follows).
  await emit(
    ev('ingress', Outcome.ACCEPTED, 1, { smtpCode: 250, enhancedCode: '2.0.0', message: 'queued' }),
  );
  await emit(ev('scanner', Outcome.SCANNED, 2, { message: 'clean', detail: 'score 0.1' }));
  await emit(
    ev('router', Outcome.ROUTED, 3, { recipient: 'li.si@bj.company.local', message: 'smart host' }),
  );
  await emit(
    ev('delivery', Outcome.DELIVERED, 20, {
      recipient: 'li.si@bj.company.local',
      smtpCode: 250,
      enhancedCode: '2.0.0',
      message: 'ok',
      attempt: 3,
      remoteHost: 'mail.company.local',
    }),
  );
  await emit(
    ev('delivery', Outcome.TEMPFAIL, 9, {
      recipient: 'li.si@bj.company.local',
      smtpCode: 451,
      enhancedCode: '4.4.1',
      message: 'connection refused',
      attempt: 2,
      nextAttemptAt: new Date('2026-12-04T09:10:00.000Z'),
      remoteHost: 'mail.company.local',
    }),
  );
  // The same fact again (a redelivered input): the msg-id makes the stream drop it.
  await emit(
    ev('ingress', Outcome.ACCEPTED, 1, { smtpCode: 250, enhancedCode: '2.0.0', message: 'queued' }),
  );
  // Another mail's event must not show up in the trace.
  await emit(
    deliveryEvent({ mailId: other, stage: 'ingress', outcome: Outcome.ACCEPTED, at: t(5) }),
  );

  await store.update(traced, () => deferredRecord(traced));
  await store.update(other, () => ({ ...deferredRecord(other), from: '' }));
  await store.update(finished, () => ({
    ...deferredRecord(finished),
    stage: 'delivered',
    jobs: {},
  }));
});

afterAll(async () => {
  await bus?.close();
  await nats?.stop();
});

describe('mailmesh trace', () => {
  it('prints every event of the mail once, in time order, then its queue record', async () => {
    const r = await cli('trace', traced);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    const events = out.slice(0, out.indexOf('queue:'));
    expect(events).toHaveLength(5);
    expect(events.map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      ['2026-12-04T09:00:01.000Z', 'ingress', 'accepted'],
      ['2026-12-04T09:00:02.000Z', 'scanner', 'scanned'],
      ['2026-12-04T09:00:03.000Z', 'router', 'routed'],
      ['2026-12-04T09:00:09.000Z', 'delivery', 'tempfail'],
      ['2026-12-04T09:00:20.000Z', 'delivery', 'delivered'],
    ]);
    expect(events[0]).toMatch(/ - +250 2\.0\.0 +queued$/);
    expect(events[1]).toMatch(/clean \(score 0\.1\)$/);
    expect(events[3]).toContain('li.si@bj.company.local');
    expect(events[3]).toMatch(
      /451 4\.4\.1 +connection refused \[attempt 2, next 2026-12-04T09:10:00\.000Z, host mail\.company\.local\]$/,
    );
    expect(out.slice(out.indexOf('queue:') + 1)).toContain('  stage         deferred');
  });

  it('--json gives the events in order and the queue record', async () => {
    const r = await cli('trace', traced, '--json');
    expect(r.code).toBe(0);
    const body = JSON.parse(r.stdout) as {
      ok: boolean;
      mailId: string;
      events: { stage: string; outcome: string; smtpCode?: number; attempt?: number }[];
      queue: QueueRecord | null;
    };
    expect(body.ok).toBe(true);
    expect(body.mailId).toBe(traced);
    expect(body.events.map((e) => `${e.stage}/${e.outcome}`)).toEqual([
      'ingress/accepted',
      'scanner/scanned',
      'router/routed',
      'delivery/tempfail',
      'delivery/delivered',
    ]);
    expect(body.events[3]).toMatchObject({ smtpCode: 451, attempt: 2 });
    expect(body.queue?.stage).toBe('deferred');
  });

  it('exits 1 with "no events for <id>" for an unknown mail id (the built executable)', async () => {
    const r = await mailmesh(['trace', unknown, '--nats', nats.url]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim()).toBe(`mailmesh trace: no events for ${unknown}`);
  });

  it('exits 1 naming the expected format for a malformed id', async () => {
    expect(MAIL_ID_PATTERN.test('01JNOTAMAILID')).toBe(false);
    const r = await cli('trace', '01JNOTAMAILID');
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([
      expect.stringMatching(
        /^mailmesh trace: "01JNOTAMAILID" is not a mail id: expected a 26-character ULID/,
      ),
    ]);
  });

  it('says a Message-ID lookup needs the API service', async () => {
    const r = await cli('trace', '<m1@company.local>');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('lookup by Message-ID needs the API service (not built yet)');
  });
});

describe('mailmesh queue', () => {
  it('ls lists pending mail only, oldest first, with stage, attempts, next attempt and destinations', async () => {
    const r = await cli('queue', 'ls');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    expect(out[0]).toMatch(/^MAIL ID +STAGE +ATTEMPTS +NEXT ATTEMPT +FROM +DESTINATIONS$/);
    const rows = [
      [traced, 'deferred', '3', '2026-12-04T09:10:00.000Z', 'wang.wu@company.local'],
      [other, 'deferred', '3', '2026-12-04T09:10:00.000Z', '<>'],
    ].sort((a, b) => ((a[0] ?? '') < (b[0] ?? '') ? -1 : 1));
    expect(out.slice(1).map((l) => l.split(/\s+/).slice(0, 5))).toEqual(rows);
    expect(out.find((l) => l.startsWith(traced))).toMatch(
      /mailbox sh\.company\.local, smart host mail\.company\.local:587$/,
    );
  });

  it('ls --all --json includes finished mail', async () => {
    const r = await cli('queue', 'ls', '--all', '--json');
    expect(r.code).toBe(0);
    const body = JSON.parse(r.stdout) as { ok: boolean; mails: QueueRecord[] };
    expect(body.mails.map((m) => [m.mailId, m.stage])).toEqual(
      [
        [traced, 'deferred'],
        [other, 'deferred'],
        [finished, 'delivered'],
      ].sort((a, b) => ((a[0] ?? '') < (b[0] ?? '') ? -1 : 1)),
    );
  });

  it('show prints stage, destinations, attempts, next attempt and last error', async () => {
    const r = await cli('queue', 'show', traced);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = lines(r.stdout);
    expect(out).toContain('stage         deferred');
    expect(out).toContain('next attempt  2026-12-04T09:10:00.000Z');
    expect(out).toContain(
      'job remote:mail.company.local:587: deferred, smart host mail.company.local:587',
    );
    expect(out).toContain('  attempts      2');
    expect(out).toContain(
      '  last error    connect 451 4.4.1: connection refused (host mail.company.local)',
    );
    expect(out).toContain('job local:sh.company.local: delivered, mailbox sh.company.local');
    expect(out).toContain(
      '  rcpt zhang.san@sh.company.local: delivered attempts 1 at 2026-12-04T09:00:03.000Z',
    );
  });

  it('show --json prints the record as stored', async () => {
    const r = await cli('queue', 'show', traced, '--json');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { mail: QueueRecord }).mail).toEqual(await store.get(traced));
  });

  it('show exits 1 for an unknown or malformed id', async () => {
    const missing = await cli('queue', 'show', unknown);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe(`mailmesh queue show: no queue record for ${unknown}`);
    const bad = await cli('queue', 'show', 'nope');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('expected a 26-character ULID');
  });

  it('retry and delete refuse finished and unknown mail with one reason each, changing nothing', async () => {
    const before = await store.get(finished);
    for (const action of ['retry', 'delete']) {
      const done = await cli('queue', action, finished);
      expect(done.code).toBe(1);
      expect(lines(done.stderr)).toEqual([
        `mailmesh queue ${action}: mail ${finished} is ${before!.stage}: nothing is left to deliver`,
      ]);
      const missing = await cli('queue', action, unknown, '--json');
      expect(missing.code).toBe(1);
      expect(JSON.parse(missing.stdout)).toMatchObject({
        ok: false,
        error: { code: 'QueueControlError' },
      });
      expect(missing.stderr).toContain(`no queue record for ${unknown}`);
    }
    expect(await store.get(finished)).toEqual(before);
  });

  it('retry leaves a deferred job whose message is not in the stream as it is, and says so', async () => {
    const mailId = newMailId();
    await store.update(mailId, () => deferredRecord(mailId));
    const before = await store.get(mailId);
    const r = await cli('queue', 'retry', mailId);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual([
      `${mailId} remote:mail.company.local:587: left as it is (smart host mail.company.local:587): its deferred job message is not in the stream, so it is being attempted already or waits for its scheduled attempt`,
    ]);
    expect(await store.get(mailId)).toEqual(before);
  });

  it('delete marks the pending recipients deleted, drops the mail from ls and logs a DELETED event', async () => {
    const mailId = newMailId();
    await store.update(mailId, () => deferredRecord(mailId));
    const r = await cli('queue', 'delete', mailId, '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      ok: true,
      mailId,
      recipients: ['li.si@bj.company.local'],
      removedMessages: 0,
    });
    const after = (await store.get(mailId))!;
    // The local job was delivered before; the remote one will not be.
    expect(after.stage).toBe('partial');
    expect(after.jobs['remote:mail.company.local:587']).toMatchObject({
      state: 'deleted',
      recipients: { 'li.si@bj.company.local': { state: 'deleted', attempts: 2 } },
    });
    expect(after.jobs['remote:mail.company.local:587']?.nextAttemptAt).toBeUndefined();
    const ls = await cli('queue', 'ls', '--json');
    expect(
      (JSON.parse(ls.stdout) as { mails: QueueRecord[] }).mails.map((m) => m.mailId),
    ).not.toContain(mailId);
    const trace = await cli('trace', mailId);
    expect(trace.code).toBe(0);
    expect(trace.stdout).toMatch(
      /delivery\s+deleted\s+li\.si@bj\.company\.local\s.*deleted from the queue by mailmesh queue delete \(.*\); no DSN sent/,
    );
    const again = await cli('queue', 'delete', mailId);
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toBe(
      `mailmesh queue delete: mail ${mailId} is partial: nothing is left to deliver`,
    );
  });
});
