/** Kubernetes quantities (`10Gi`, `500M`, `0`) as bytes, for quotas and size limits. */

const SUFFIX: Readonly<Record<string, number>> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** Bytes (rounded down), or undefined when `q` is not a quantity or not a safe integer. */
export function parseQuantity(q: string): number | undefined {
  const m = /^(0|[1-9][0-9]*)(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/.exec(q);
  if (!m) return undefined;
  const n = Math.floor(Number(`${m[1]}${m[2] ?? ''}`) * (SUFFIX[m[3] ?? ''] ?? 1));
  return Number.isSafeInteger(n) ? n : undefined;
}
