export type DeepReadonly<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends ReadonlyMap<infer K, infer V>
    ? ReadonlyMap<DeepReadonly<K>, DeepReadonly<V>>
    : T extends ReadonlySet<infer V>
      ? ReadonlySet<DeepReadonly<V>>
      : T extends object
        ? { readonly [P in keyof T]: DeepReadonly<T[P]> }
        : T;

/**
 * Freezes a value and everything reachable from it (objects, arrays, Map/Set
 * contents). Maps and Sets cannot be frozen in place, so their mutators are
 * replaced by throwing functions. Typed arrays are left as they are (freezing
 * a non-empty one throws).
 */
export function deepFreeze<T>(value: T, seen = new WeakSet<object>()): T {
  if (value === null || typeof value !== 'object' || seen.has(value)) return value;
  seen.add(value);
  if (ArrayBuffer.isView(value)) return value;
  if (value instanceof Map) {
    for (const [k, v] of value) {
      deepFreeze(k, seen);
      deepFreeze(v, seen);
    }
    lockCollection(value, ['set', 'delete', 'clear']);
  } else if (value instanceof Set) {
    for (const v of value) deepFreeze(v, seen);
    lockCollection(value, ['add', 'delete', 'clear']);
  } else {
    for (const key of Reflect.ownKeys(value)) {
      deepFreeze((value as Record<string | symbol, unknown>)[key], seen);
    }
  }
  return Object.freeze(value);
}

function lockCollection(c: object, methods: readonly string[]): void {
  for (const m of methods) {
    Object.defineProperty(c, m, {
      value: () => {
        throw new TypeError(`cannot ${m} on a frozen configuration snapshot`);
      },
    });
  }
}
