import { describe, expect, it } from 'vitest';
import { auditKinds, consumers, stages, streams, subjects, type StreamSpec } from '../src/index.js';
import { MAIL_ID } from './fixtures.js';
import { subjectCovers, subjectsOverlap } from './subject-match.js';

const allStreams: readonly StreamSpec[] = Object.values(streams);
const allConsumers = Object.values(consumers);
const streamByName = new Map(allStreams.map((s) => [s.name, s]));

/** The streams that capture a concrete subject. */
const capturing = (subject: string) =>
  allStreams.filter((s) => s.subjects.some((p) => subjectCovers(p, subject)));

/** The consumers whose filter matches a concrete subject. */
const consuming = (subject: string) =>
  allConsumers.filter((c) => subjectCovers(c.filterSubject, subject));

describe('subject matcher', () => {
  it('detects overlap the way NATS does', () => {
    expect(subjectsOverlap('mail.accepted', 'mail.accepted')).toBe(true);
    expect(subjectsOverlap('mail.accepted', 'mail.scanned')).toBe(false);
    expect(subjectsOverlap('mail.>', 'mail.deliver.local.a')).toBe(true);
    expect(subjectsOverlap('mail.*', 'mail.accepted')).toBe(true);
    expect(subjectsOverlap('mail.*', 'mail.deliver.local.a')).toBe(false);
    expect(subjectsOverlap('mail.*.local.>', 'mail.deliver.*.x')).toBe(true);
    expect(subjectsOverlap('mail.deliver.local.>', 'mail.deliver.remote.>')).toBe(false);
    expect(subjectsOverlap('mail.deliver.>', 'mail.deliver')).toBe(false);
    expect(subjectsOverlap('a.b', 'a.b.c')).toBe(false);
    expect(subjectsOverlap('>', 'a')).toBe(true);
  });

  it('detects coverage the way NATS does', () => {
    expect(subjectCovers('mail.>', 'mail.accepted')).toBe(true);
    expect(subjectCovers('mail.>', 'mail.deliver.local.>')).toBe(true);
    expect(subjectCovers('mail.>', 'mail')).toBe(false);
    expect(subjectCovers('mail.*', 'mail.>')).toBe(false);
    expect(subjectCovers('mail.*', 'mail.*')).toBe(true);
    expect(subjectCovers('mail.accepted', 'mail.*')).toBe(false);
    expect(subjectCovers('event.*.x', 'event.delivery.x')).toBe(true);
    expect(subjectCovers('event.delivery.x', 'event.*.x')).toBe(false);
  });
});

describe('stream and consumer topology', () => {
  it('no two streams capture the same subject (NATS refuses overlapping streams)', () => {
    const all = allStreams.flatMap((s) => s.subjects.map((subject) => ({ s: s.name, subject })));
    for (const [i, a] of all.entries()) {
      for (const b of all.slice(i + 1)) {
        expect(subjectsOverlap(a.subject, b.subject), `${a.subject} vs ${b.subject}`).toBe(false);
      }
    }
  });

  it("every consumer's filter is covered by its stream's subjects", () => {
    for (const c of allConsumers) {
      const stream = streamByName.get(c.stream);
      expect(stream, c.durable).toBeDefined();
      expect(
        stream?.subjects.some((p) => subjectCovers(p, c.filterSubject)),
        `${c.durable}: ${c.filterSubject}`,
      ).toBe(true);
    }
  });

  it('no two consumers of the work-queue stream MAIL overlap', () => {
    expect(streams.mail.retention).toBe('workqueue');
    const onMail = allConsumers.filter((c) => c.stream === streams.mail.name);
    expect(onMail.length).toBeGreaterThanOrEqual(5);
    for (const [i, a] of onMail.entries()) {
      for (const b of onMail.slice(i + 1)) {
        expect(
          subjectsOverlap(a.filterSubject, b.filterSubject),
          `${a.durable} (${a.filterSubject}) vs ${b.durable} (${b.filterSubject})`,
        ).toBe(false);
      }
    }
  });

  it('every mail subject lands in MAIL and reaches exactly one consumer', () => {
    const cases: [string, string][] = [
      [subjects.accepted, 'scanner'],
      [subjects.scanned, 'router'],
      [subjects.quarantined, 'quarantine'],
      [subjects.deliverLocal('sh.company.local'), 'delivery-local'],
      [subjects.deliverLocal('local'), 'delivery-local'],
      [subjects.deliverRemote('relay.company.local'), 'delivery-remote'],
      [subjects.deliverRemote('remote'), 'delivery-remote'],
    ];
    for (const [subject, durable] of cases) {
      expect(
        capturing(subject).map((s) => s.name),
        subject,
      ).toEqual(['MAIL']);
      expect(
        consuming(subject).map((c) => c.durable),
        subject,
      ).toEqual([durable]);
    }
  });

  it('event subjects land in EVENTS and eventsOf selects one mail', () => {
    for (const stage of stages) {
      const subject = subjects.event(stage, MAIL_ID);
      expect(capturing(subject).map((s) => s.name)).toEqual(['EVENTS']);
      expect(subjectCovers(subjects.eventsOf(MAIL_ID), subject)).toBe(true);
      expect(subjectCovers(subjects.eventsOf('01ARZ3NDEKTSV4RRFFQ69G5FAW'), subject)).toBe(false);
    }
    expect(subjectCovers(subjects.eventAll, subjects.eventsOf(MAIL_ID))).toBe(true);
  });

  it('audit subjects land in AUDIT and reach the archiver', () => {
    for (const kind of auditKinds) {
      const subject = subjects.audit(kind);
      expect(capturing(subject).map((s) => s.name)).toEqual(['AUDIT']);
      expect(consuming(subject).map((c) => c.durable)).toEqual(['audit-archiver']);
    }
  });

  it('the inline-scan request subject is in no stream (a stream would ack the request)', () => {
    expect(capturing(subjects.inlineScan)).toEqual([]);
  });

  it('the wildcard constants cover what their builders produce', () => {
    expect(subjectCovers(subjects.deliverLocalAll, subjects.deliverLocal('a.b'))).toBe(true);
    expect(subjectCovers(subjects.deliverRemoteAll, subjects.deliverRemote('a.b'))).toBe(true);
    expect(subjectCovers(subjects.deliverAll, subjects.deliverLocalAll)).toBe(true);
    expect(subjectCovers(subjects.deliverAll, subjects.deliverRemoteAll)).toBe(true);
    expect(subjectCovers(subjects.mailAll, subjects.deliverAll)).toBe(true);
    expect(subjectCovers(subjects.deliverLocalAll, subjects.deliverRemote('a'))).toBe(false);
  });
});
