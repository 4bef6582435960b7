/**
 * A small typed reader over parsed JSON that throws `ConfigError` with the exact
 * key and path of the first defect. Hand-written rather than a schema library:
 * the documents are small, the types are declared explicitly in compiled.ts (they
 * are the contract with the CRD compiler), and every message names the field.
 */
import { isIP } from 'node:net';
import { assertDnsName, InvalidNameError } from '@mailmesh/proto';
import { ConfigError } from '../errors.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const fieldPath = (path: string, field: string | number): string =>
  typeof field === 'number' ? `${path}[${field}]` : path ? `${path}.${field}` : field;

const describe = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;

/** Reads one JSON object at `path` of document `key`. */
export class Reader {
  private readonly obj: Readonly<Record<string, unknown>>;

  constructor(
    readonly key: string,
    readonly path: string,
    value: unknown,
    private readonly known?: readonly string[],
  ) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ConfigError(key, path, `must be an object, got ${describe(value)}`);
    }
    this.obj = value as Record<string, unknown>;
    if (known !== undefined) {
      for (const k of Object.keys(this.obj)) {
        if (!known.includes(k)) {
          throw new ConfigError(
            key,
            fieldPath(path, k),
            `unknown field (known: ${known.join(', ')})`,
          );
        }
      }
    }
  }

  fail(field: string | number | undefined, problem: string): never {
    throw new ConfigError(
      this.key,
      field === undefined ? this.path : fieldPath(this.path, field),
      problem,
    );
  }

  has(field: string): boolean {
    return this.obj[field] !== undefined;
  }

  raw(field: string): unknown {
    return this.obj[field];
  }

  string(field: string): string {
    const v = this.obj[field];
    if (typeof v !== 'string') this.fail(field, `must be a string, got ${describe(v)}`);
    return v;
  }

  optString(field: string): string | undefined {
    return this.has(field) ? this.string(field) : undefined;
  }

  nonEmpty(field: string): string {
    const v = this.string(field);
    if (v === '') this.fail(field, 'must not be empty');
    return v;
  }

  boolean(field: string, fallback?: boolean): boolean {
    const v = this.obj[field];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'boolean') this.fail(field, `must be true or false, got ${describe(v)}`);
    return v;
  }

  /** A non-negative safe integer (`min` defaults to 0). */
  int(field: string, opts: { min?: number; max?: number; fallback?: number } = {}): number {
    const v = this.obj[field];
    if (v === undefined && opts.fallback !== undefined) return opts.fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
      this.fail(field, `must be an integer, got ${describe(v)}`);
    }
    const min = opts.min ?? 0;
    if (v < min) this.fail(field, `must be at least ${min}`);
    if (opts.max !== undefined && v > opts.max) this.fail(field, `must be at most ${opts.max}`);
    return v;
  }

  oneOf<T extends string>(field: string, values: readonly T[], fallback?: T): T {
    if (!this.has(field) && fallback !== undefined) return fallback;
    const v = this.string(field);
    if (!(values as readonly string[]).includes(v)) {
      this.fail(field, `must be one of ${values.join(', ')}, got ${JSON.stringify(v)}`);
    }
    return v as T;
  }

  object(field: string, known?: readonly string[]): Reader {
    return new Reader(this.key, fieldPath(this.path, field), this.obj[field], known);
  }

  optObject(field: string, known?: readonly string[]): Reader | undefined {
    return this.has(field) ? this.object(field, known) : undefined;
  }

  /** An array (absent = empty unless `required`), each element read by `item`. */
  array<T>(
    field: string,
    item: (value: unknown, path: string, index: number) => T,
    required = false,
  ): T[] {
    const v = this.obj[field];
    if (v === undefined && !required) return [];
    if (!Array.isArray(v)) this.fail(field, `must be an array, got ${describe(v)}`);
    const base = fieldPath(this.path, field);
    return v.map((e: unknown, i) => item(e, fieldPath(base, i), i));
  }

  strings(field: string, check?: (s: string, path: string) => string): string[] {
    return this.array(field, (e, p) => {
      if (typeof e !== 'string')
        throw new ConfigError(this.key, p, `must be a string, got ${describe(e)}`);
      return check ? check(e, p) : e;
    });
  }

  /** A plain JSON object kept as is (after checking it is one). */
  record(field: string): Record<string, unknown> {
    const v = this.obj[field];
    if (v === undefined) return {};
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      this.fail(field, `must be an object, got ${describe(v)}`);
    }
    return v as Record<string, unknown>;
  }
}

export function child(
  key: string,
  path: string,
  value: unknown,
  known?: readonly string[],
): Reader {
  return new Reader(key, path, value, known);
}

/** A lowercase DNS name (names.ts rules). */
export function dnsName(key: string, path: string, name: string): string {
  try {
    return assertDnsName('domain', name);
  } catch (err) {
    if (!(err instanceof InvalidNameError)) throw err;
    throw new ConfigError(key, path, `must be a lowercase DNS name: ${err.reason}`, { cause: err });
  }
}

const LOCAL_PART = /^[a-z0-9!#$&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$&'*+/=?^_`{|}~-]+)*$/;

/** An RFC 5321 dot-atom local part in lowercase (no quoted local parts in configuration). */
export function localPart(key: string, path: string, s: string): string {
  if (s.length === 0 || s.length > 64 || !LOCAL_PART.test(s)) {
    throw new ConfigError(
      key,
      path,
      `must be a lowercase dot-atom local part, got ${JSON.stringify(s)}`,
    );
  }
  return s;
}

/** `local@domain`, lowercase. */
export function address(key: string, path: string, s: string): string {
  const at = s.lastIndexOf('@');
  if (at <= 0) throw new ConfigError(key, path, `must be local@domain, got ${JSON.stringify(s)}`);
  localPart(key, path, s.slice(0, at));
  dnsName(key, path, s.slice(at + 1));
  return s;
}

export interface Cidr {
  readonly network: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** `a.b.c.d/n`, `x::/n` or a single address (a /32 or /128). */
export function cidr(key: string, path: string, s: string): Cidr {
  const slash = s.indexOf('/');
  const ip = slash === -1 ? s : s.slice(0, slash);
  const family = isIP(ip);
  if (family === 0)
    throw new ConfigError(
      key,
      path,
      `must be an IP address or CIDR block, got ${JSON.stringify(s)}`,
    );
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const p = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) {
      throw new ConfigError(key, path, `prefix length must be 0-${max}, got ${JSON.stringify(p)}`);
    }
    prefix = Number(p);
  }
  return { network: ip, prefix, family: family === 4 ? 'ipv4' : 'ipv6' };
}

/** `host:port` with an IP host (`127.0.0.1:25`, `[::1]:25`, `0.0.0.0:25`). */
export function hostPort(key: string, path: string, s: string): string {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!m || host === undefined || isIP(host) === 0 || port < 1 || port > 65_535) {
    throw new ConfigError(key, path, `must be IP:PORT or [IPv6]:PORT, got ${JSON.stringify(s)}`);
  }
  return s;
}
