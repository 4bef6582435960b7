import { configKeys, kvBuckets } from '@mailmesh/proto';
import type { KV } from '@nats-io/kv';
import { startNats, type NatsPeer } from '@mailmesh/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  ConfigBuildError,
  ConfigNotReadyError,
  connectBus,
  provision,
  watchConfig,
  type Bus,
  type Snapshot,
} from '../src/index.js';
import { captureLog, until } from './helpers.js';

let nats: NatsPeer;
let bus: Bus;
let kv: KV;

beforeAll(async () => {
  nats = await startNats();
  bus = await connectBus({ servers: nats.url, name: 'runtime-config-test' });
  await provision(bus, { streams: [], consumers: [], kv: [kvBuckets.config] });
  kv = await bus.kv(kvBuckets.config);
});

afterAll(async () => {
  await bus?.close();
  await nats?.stop();
});

const text = new TextDecoder();
const json = (v: unknown): string => JSON.stringify(v);

interface Platform {
  readonly a: number;
  readonly b: number;
  readonly domains: readonly string[];
  readonly revision: number;
}

/** A strict build: `platform` must be {a, b} with a === b, domains come from `domain.*` keys. */
function build(entries: ReadonlyMap<string, Uint8Array>, revision: number): Platform {
  const raw = entries.get(configKeys.platform);
  const p = raw ? (JSON.parse(text.decode(raw)) as { a: number; b: number }) : { a: 0, b: 0 };
  if (p.a !== p.b) throw new Error(`platform.a (${p.a}) must equal platform.b (${p.b})`);
  const domains = [...entries.keys()]
    .filter((k) => k.startsWith(configKeys.domainPrefix))
    .map((k) => k.slice(configKeys.domainPrefix.length))
    .sort();
  return { a: p.a, b: p.b, domains, revision };
}

describe('watchConfig', () => {
  it('starts from the existing keys, sees updates and deletes, and swaps whole snapshots', async () => {
    await kv.put(configKeys.platform, json({ a: 1, b: 1 }));
    await kv.put(configKeys.domain('sh.company.local'), json({}));
    const { log } = captureLog();
    const changes: [Snapshot<Platform>, Snapshot<Platform> | undefined][] = [];
    const w = watchConfig(bus, build, {
      log,
      onChange: (next, prev) => changes.push([next, prev]),
    });
    expect(() => w.current()).toThrow(ConfigNotReadyError);
    await w.ready;
    const first = w.current();
    expect(first.value).toEqual({
      a: 1,
      b: 1,
      domains: ['sh.company.local'],
      revision: first.revision,
    });
    expect(Object.isFrozen(first.value.domains)).toBe(true);
    expect(changes).toHaveLength(1);

    await kv.put(configKeys.domain('bj.company.local'), json({}));
    await until('update seen', () => w.current().value.domains.length === 2);
    expect(w.current().value.domains).toEqual(['bj.company.local', 'sh.company.local']);
    expect(first.value.domains).toEqual(['sh.company.local']);

    await kv.delete(configKeys.domain('sh.company.local'));
    await until('delete seen', () => w.current().value.domains.length === 1);
    expect(w.current().value.domains).toEqual(['bj.company.local']);
    const last = changes.at(-1);
    expect(last?.[1]?.value.domains).toEqual(['bj.company.local', 'sh.company.local']);
    await w.stop();
  });

  it('keeps the old snapshot live when build() throws, and recovers on the next good revision', async () => {
    await kv.put(configKeys.platform, json({ a: 5, b: 5 }));
    const { log, lines } = captureLog();
    const w = watchConfig(bus, build, { log });
    await w.ready;
    const good = w.current();
    expect(good.value.a).toBe(5);

    const badRev = await kv.put(configKeys.platform, json({ a: 6, b: 7 }));
    await until('rejection', () => w.lastError !== undefined);
    expect(w.lastError).toBeInstanceOf(ConfigBuildError);
    expect(w.lastError?.revision).toBe(badRev);
    expect(w.lastError?.message).toMatch(/platform.a \(6\) must equal platform.b \(7\)/);
    expect(w.current()).toBe(good);
    expect(lines.some((l) => l['event'] === 'config.rejected' && l['revision'] === badRev)).toBe(
      true,
    );

    await kv.put(configKeys.platform, json({ a: 8, b: 8 }));
    await until('recovery', () => w.current().value.a === 8);
    expect(w.lastError).toBeUndefined();
    await w.stop();
  });

  it('never shows a reader a half-updated snapshot while many updates land', async () => {
    const w = watchConfig(bus, build, {});
    await w.ready;
    let stop = false;
    let reads = 0;
    let lastRevision = 0;
    const bad: string[] = [];
    const reader = (async () => {
      while (!stop) {
        for (let i = 0; i < 200; i++) {
          const s = w.current();
          reads++;
          if (s.value.a !== s.value.b) bad.push(`torn value at ${s.revision}`);
          if (s.value.revision !== s.revision) bad.push(`value/revision mismatch at ${s.revision}`);
          if (s.revision < lastRevision) bad.push(`revision went back to ${s.revision}`);
          if (!Object.isFrozen(s.value)) bad.push('not frozen');
          // Writes go platform(i) then, every 10th, domain d<i>: a snapshot of one revision
          // holds every d<j> with j < i and none with j > i.
          const i = s.value.a - 1000;
          if (i > 0) {
            const js = s.value.domains
              .map((d) => /^d(\d+)\./.exec(d)?.[1])
              .filter((x): x is string => x !== undefined)
              .map(Number);
            if (js.some((j) => j > i)) bad.push(`domain from the future at ${s.revision}`);
            if (js.filter((j) => j < i).length !== Math.floor((i - 1) / 10)) {
              bad.push(`missing domains at ${s.revision}`);
            }
          }
          lastRevision = s.revision;
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    const writes = 300;
    let lastPut = 0;
    for (let i = 1; i <= writes; i++) {
      lastPut = await kv.put(configKeys.platform, json({ a: 1000 + i, b: 1000 + i }));
      if (i % 10 === 0) await kv.put(configKeys.domain(`d${i}.company.local`), json({}));
    }
    await until(
      'caught up',
      () => w.current().revision >= lastPut && w.current().value.a === 1000 + writes,
    );
    stop = true;
    await reader;
    await w.stop();
    expect(bad).toEqual([]);
    expect(reads).toBeGreaterThan(writes);
    expect(w.current().value.domains).toContain('d300.company.local');
  });

  it('builds an empty configuration from an empty bucket', async () => {
    const spec = { ...kvBuckets.config, bucket: 'mailmesh-config-empty' };
    await provision(bus, { streams: [], consumers: [], kv: [spec] });
    const w = watchConfig(bus, build, { bucket: spec });
    await w.ready;
    expect(w.current().value).toEqual({ a: 0, b: 0, domains: [], revision: 0 });
    await w.stop();
  });
});
