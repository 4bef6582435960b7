import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { greeting } from '../src/peers/greeting.js';
import { startHaraka, type HarakaPeer } from '../src/peers/haraka.js';
import { startMailmesh, type MailmeshPeer } from '../src/peers/mailmesh.js';
import { resultsTable, summarize } from '../src/report.js';
import { smtpSource } from '../src/source.js';

// The ingress benchmark's peers must accept what the benchmark sends, and the
// Mailmesh peer must hold every mail durably, before their figures mean anything.
// Small bounded loads only: the benchmark itself (src/ingress.ts) is not a test.
const load = { from: 'load@bench.example', to: 'sink@bench.local', size: 5120, timeoutMs: 60_000 };

describe('ingress benchmark peers', () => {
  let haraka: HarakaPeer;
  let mailmesh: MailmeshPeer;

  beforeAll(async () => {
    // allSettled: a peer that started is kept (and stopped in afterAll) even if the other failed.
    const [h, m] = await Promise.allSettled([
      startHaraka({ domain: 'bench.local' }),
      startMailmesh({ domain: 'bench.local', mailbox: 'sink', senderDomain: 'bench.example' }),
    ]);
    if (h.status === 'fulfilled') haraka = h.value;
    if (m.status === 'fulfilled') mailmesh = m.value;
    if (h.status === 'rejected') throw h.reason;
    if (m.status === 'rejected') throw m.reason;
  }, 120_000);
  afterAll(async () => {
    await Promise.all([haraka?.stop(), mailmesh?.stop()]);
  });

  it('stock Haraka with queue/discard takes the load and refuses other domains', async () => {
    expect(await greeting(haraka.port)).toMatch(/^220 haraka\.bench ESMTP/);
    await smtpSource({ ...load, port: haraka.port, sessions: 2, messages: 20 });
    // smtp-source stops at the first non-2xx reply: rcpt_to.in_host_list is in force.
    await expect(
      smtpSource({
        ...load,
        to: 'x@elsewhere.example',
        port: haraka.port,
        sessions: 1,
        messages: 1,
      }),
    ).rejects.toThrow(/exited/);
  });

  it('the Mailmesh ingress bin stores every mail in the spool and the MAIL stream', async () => {
    expect(await greeting(mailmesh.port)).toMatch(/^220 mx\.bench\.local ESMTP/);
    await mailmesh.purge();
    await smtpSource({ ...load, port: mailmesh.port, sessions: 4, messages: 40 });
    expect(await mailmesh.accepted()).toBe(40);
    expect(await mailmesh.spooled()).toBe(40);
    // Group commit: never more objects than mails (fewer when writes queued up).
    const objects = await mailmesh.spoolObjects();
    expect(objects).toBeGreaterThan(0);
    expect(objects).toBeLessThanOrEqual(40);
    await mailmesh.purge();
    expect(await mailmesh.accepted()).toBe(0);
    expect(mailmesh.pids().all).toHaveLength(3);
  });
});

describe('results table', () => {
  it('reports medians and ratios per session count', () => {
    const run = (messages: number, seconds: number, main: number, all: number) => ({
      messages,
      elapsedMs: seconds * 1000,
      mainCpuMs: main,
      allCpuMs: all,
    });
    const summaries = [
      summarize({ system: 'P', sessions: 10, runs: [run(100, 1, 0, 300), run(100, 2, 0, 100)] }),
      summarize({ system: 'M', sessions: 10, runs: [run(100, 0.5, 200, 400)] }),
    ].filter((s) => s !== undefined);
    expect(summaries[0]).toMatchObject({ rate: 75, allCpuMsPerMessage: 2 });
    expect(
      resultsTable(summaries, {
        systems: ['P', 'M'],
        sessions: [10, 50],
        baselines: ['P'],
        mainProcess: { M: 'ingress process' },
      }).split('\n'),
    ).toEqual([
      '| system | sessions | msg/s (median) | vs P | CPU ms/msg, main process | CPU ms/msg, all processes | runs |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
      '| P | 10 | 75 | 1.00× | — | 2.00 | 2 |',
      '| M | 10 | 200 | 2.67× | 2.00 (ingress process) | 4.00 | 1 |',
      '| P | 50 | — | — | — | — | 0 |',
      '| M | 50 | — | — | — | — | 0 |',
    ]);
  });
});
