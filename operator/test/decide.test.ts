import { describe, expect, test } from 'vitest';
import { parseAutoscale } from '../src/autoscale/annotations.js';
import { decideScale, type Recommendation } from '../src/autoscale/decide.js';
import { mergeConditions } from '../src/conditions.js';
import { AutoscaleConfigError } from '../src/errors.js';
import { WorkQueue } from '../src/queue.js';

const base = { min: 1, max: 10, target: 100, history: [] as Recommendation[] };

describe('decideScale', () => {
  test('scales up at once to ceil(metric / target), clamped to max', () => {
    expect(decideScale({ ...base, current: 1, metric: 450, now: 0 })).toMatchObject({
      desired: 5,
      reason: 'ScaleUp',
    });
    expect(decideScale({ ...base, current: 2, metric: 5000, now: 0 })).toMatchObject({
      desired: 10,
      recommended: 10,
      reason: 'ScaleUp',
    });
  });

  test('stays within the 10% tolerance', () => {
    // 4 replicas, 430 per 4 = 107.5 per replica: ratio 1.075.
    expect(decideScale({ ...base, current: 4, metric: 430, now: 0 })).toMatchObject({
      desired: 4,
      reason: 'WithinTolerance',
    });
    // ratio 1.11 leaves the band.
    expect(decideScale({ ...base, current: 4, metric: 444, now: 0 })).toMatchObject({
      desired: 5,
      reason: 'ScaleUp',
    });
    expect(
      decideScale({ ...base, current: 4, metric: 444, now: 0 }, { tolerance: 0.2 }).desired,
    ).toBe(4);
  });

  test('scale-down waits for the stabilisation window, then takes the highest recent recommendation', () => {
    const policy = { scaleDownStabilizationMs: 1_000 };
    let d = decideScale({ ...base, current: 8, metric: 800, now: 0 }, policy);
    expect(d).toMatchObject({ desired: 8, reason: 'WithinTolerance' });
    d = decideScale({ ...base, current: 8, metric: 0, now: 500, history: d.history }, policy);
    expect(d).toMatchObject({ desired: 8, recommended: 1, reason: 'Stabilizing' });
    d = decideScale({ ...base, current: 8, metric: 300, now: 900, history: d.history }, policy);
    expect(d.reason).toBe('Stabilizing');
    // At 1,100 the 8 from t=0 has left the window; the highest left is 3 (t=900).
    d = decideScale({ ...base, current: 8, metric: 0, now: 1_100, history: d.history }, policy);
    expect(d).toMatchObject({ desired: 3, reason: 'ScaleDown' });
    d = decideScale({ ...base, current: 3, metric: 0, now: 2_000, history: d.history }, policy);
    expect(d).toMatchObject({ desired: 1, reason: 'ScaleDown' });
  });

  test('clamps to min and max and repairs replicas set outside them', () => {
    expect(decideScale({ ...base, current: 1, metric: 0, now: 0 })).toMatchObject({
      desired: 1,
      reason: 'AtMin',
    });
    expect(decideScale({ ...base, current: 10, metric: 99_999, now: 0 })).toMatchObject({
      desired: 10,
      reason: 'AtMax',
    });
    expect(decideScale({ ...base, min: 2, current: 0, metric: 0, now: 0 })).toMatchObject({
      desired: 2,
      reason: 'BelowMin',
    });
    expect(decideScale({ ...base, current: 15, metric: 0, now: 0 })).toMatchObject({
      desired: 10,
      reason: 'AboveMax',
    });
  });

  test('from zero replicas the metric alone decides', () => {
    expect(decideScale({ ...base, min: 0, current: 0, metric: 250, now: 0 })).toMatchObject({
      desired: 3,
      reason: 'ScaleUp',
    });
    expect(decideScale({ ...base, min: 0, current: 0, metric: 0, now: 0 }).desired).toBe(0);
  });

  test('refuses nonsense bounds', () => {
    expect(() => decideScale({ ...base, target: 0, current: 1, metric: 1, now: 0 })).toThrow(
      RangeError,
    );
    expect(() => decideScale({ ...base, min: 5, max: 2, current: 1, metric: 1, now: 0 })).toThrow(
      RangeError,
    );
  });
});

describe('parseAutoscale', () => {
  test('reads the annotations', () => {
    expect(
      parseAutoscale({
        'mailmesh.io/autoscale-metric': 'consumer:scanner',
        'mailmesh.io/autoscale-target': '100',
        'mailmesh.io/autoscale-max': '8',
        'mailmesh.io/autoscale-window': '60',
      }),
    ).toEqual({
      metric: {
        kind: 'consumer',
        consumer: expect.objectContaining({ stream: 'MAIL', durable: 'scanner' }) as unknown,
      },
      target: 100,
      min: 1,
      max: 8,
      windowMs: 60_000,
    });
    expect(
      parseAutoscale({
        'mailmesh.io/autoscale-metric': 'sessions',
        'mailmesh.io/autoscale-target': '50',
        'mailmesh.io/autoscale-max': '4',
      })?.metric,
    ).toEqual({ kind: 'sessions', service: 'ingress' });
    expect(
      parseAutoscale({
        'mailmesh.io/autoscale-metric': 'sessions:mailstore',
        'mailmesh.io/autoscale-target': '50',
        'mailmesh.io/autoscale-max': '4',
      })?.metric,
    ).toEqual({ kind: 'sessions', service: 'mailstore' });
    expect(parseAutoscale({})).toBeUndefined();
  });

  test.each([
    [
      {
        'mailmesh.io/autoscale-metric': 'consumer:nope',
        'mailmesh.io/autoscale-target': '1',
        'mailmesh.io/autoscale-max': '2',
      },
      /unknown consumer "nope"/,
    ],
    [
      {
        'mailmesh.io/autoscale-metric': 'cpu',
        'mailmesh.io/autoscale-target': '1',
        'mailmesh.io/autoscale-max': '2',
      },
      /must be sessions/,
    ],
    [
      { 'mailmesh.io/autoscale-metric': 'sessions', 'mailmesh.io/autoscale-max': '2' },
      /autoscale-target: is required/,
    ],
    [
      {
        'mailmesh.io/autoscale-metric': 'sessions',
        'mailmesh.io/autoscale-target': '0',
        'mailmesh.io/autoscale-max': '2',
      },
      /must be > 0/,
    ],
    [
      {
        'mailmesh.io/autoscale-metric': 'sessions',
        'mailmesh.io/autoscale-target': 'ten',
        'mailmesh.io/autoscale-max': '2',
      },
      /non-negative integer/,
    ],
    [
      {
        'mailmesh.io/autoscale-metric': 'sessions',
        'mailmesh.io/autoscale-target': '1',
        'mailmesh.io/autoscale-min': '3',
        'mailmesh.io/autoscale-max': '2',
      },
      /must be >= min \(3\)/,
    ],
  ])('refuses %j', (annotations, message) => {
    expect(() => parseAutoscale(annotations)).toThrow(AutoscaleConfigError);
    expect(() => parseAutoscale(annotations)).toThrow(message);
  });
});

describe('WorkQueue', () => {
  test('dedupes, never hands one key to two workers, and re-queues a key added while in flight', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('a');
    q.add('b');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    q.add('a'); // in flight: marked dirty, not queued
    expect(await q.get()).toBe('b');
    expect(q.length).toBe(0);
    q.done('a');
    expect(await q.get()).toBe('a');
    q.done('a');
    q.done('b');
    q.shutDown();
    expect(await q.get()).toBeUndefined();
  });

  test('backs off exponentially per key until forgotten', () => {
    const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 35 });
    expect([
      q.addRateLimited('k'),
      q.addRateLimited('k'),
      q.addRateLimited('k'),
      q.addRateLimited('k'),
    ]).toEqual([10, 20, 35, 35]);
    q.forget('k');
    expect(q.addRateLimited('k')).toBe(10);
    q.shutDown();
  });
});

test('mergeConditions keeps lastTransitionTime while a status holds', () => {
  const t0 = new Date('2026-01-01T00:00:00Z');
  const t1 = new Date('2026-01-01T00:05:00Z');
  const first = mergeConditions(
    undefined,
    [{ type: 'Ready', status: 'False', reason: 'SecretMissing', message: 'x' }],
    1,
    t0,
  );
  const same = mergeConditions(
    first,
    [{ type: 'Ready', status: 'False', reason: 'PolicyMissing', message: 'y' }],
    2,
    t1,
  );
  expect(same[0]).toEqual({
    type: 'Ready',
    status: 'False',
    observedGeneration: 2,
    lastTransitionTime: '2026-01-01T00:00:00Z',
    reason: 'PolicyMissing',
    message: 'y',
  });
  const flipped = mergeConditions(
    same,
    [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'ok' }],
    2,
    t1,
  );
  expect(flipped[0]?.lastTransitionTime).toBe('2026-01-01T00:05:00Z');
});
