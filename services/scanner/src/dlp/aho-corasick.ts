/**
 * A small Aho-Corasick automaton over UTF-16 code units (Aho & Corasick 1975).
 *
 * Why not a library: the maintained npm one (modern-ahocorasick 3) segments text into
 * grapheme clusters with Intl.Segmenter and took 1-4 s to scan 60 000 characters
 * against 3 000 keywords on Node 20 (see bench/scanner/README.md); DLP text here is
 * already folded and squeezed (dlp/normalize.ts), so code units are the right unit
 * and the whole automaton is ~80 lines. Transitions live in one Map keyed by
 * `state * 65536 + codeUnit`; failure links and dictionary-suffix links make a scan
 * O(text + matches).
 */

export interface KeywordHit<T> {
  readonly start: number;
  /** Exclusive. */
  readonly end: number;
  readonly data: T;
}

export class KeywordMatcher<T> {
  private readonly next = new Map<number, number>();
  /** Failure link per state. */
  private readonly fail: number[] = [0];
  /** Pattern index ending at a state, -1 if none. */
  private readonly terminal: number[] = [-1];
  /** Nearest state on the failure chain that is terminal (dictionary suffix link), -1 if none. */
  private readonly outLink: number[] = [-1];
  private readonly lengths: number[] = [];
  private readonly data: T[] = [];

  constructor(patterns: ReadonlyArray<{ readonly pattern: string; readonly data: T }>) {
    for (const { pattern, data } of patterns) {
      if (pattern === '') continue;
      let s = 0;
      for (let i = 0; i < pattern.length; i++) {
        const key = s * 65536 + pattern.charCodeAt(i);
        let t = this.next.get(key);
        if (t === undefined) {
          t = this.fail.length;
          this.fail.push(0);
          this.terminal.push(-1);
          this.outLink.push(-1);
          this.next.set(key, t);
        }
        s = t;
      }
      if (this.terminal[s] === -1) {
        this.terminal[s] = this.lengths.length;
        this.lengths.push(pattern.length);
        this.data.push(data);
      }
    }
    this.link();
  }

  get size(): number {
    return this.lengths.length;
  }

  private link(): void {
    // Children per state, to walk the trie breadth first.
    const children: Array<Array<[number, number]>> = this.fail.map(() => []);
    for (const [key, t] of this.next) children[Math.floor(key / 65536)]?.push([key % 65536, t]);
    const queue: number[] = [];
    for (const [, t] of children[0] ?? []) queue.push(t);
    for (let qi = 0; qi < queue.length; qi++) {
      const s = queue[qi] ?? 0;
      for (const [cu, t] of children[s] ?? []) {
        let f = this.fail[s] ?? 0;
        let target = this.next.get(f * 65536 + cu);
        while (target === undefined && f !== 0) {
          f = this.fail[f] ?? 0;
          target = this.next.get(f * 65536 + cu);
        }
        const ft = target ?? 0;
        this.fail[t] = ft;
        this.outLink[t] = (this.terminal[ft] ?? -1) >= 0 ? ft : (this.outLink[ft] ?? -1);
        queue.push(t);
      }
    }
  }

  /** Every occurrence of every pattern, overlapping ones included, by end position. */
  *all(text: string): Generator<KeywordHit<T>> {
    let s = 0;
    for (let i = 0; i < text.length; i++) {
      const cu = text.charCodeAt(i);
      let t = this.next.get(s * 65536 + cu);
      while (t === undefined && s !== 0) {
        s = this.fail[s] ?? 0;
        t = this.next.get(s * 65536 + cu);
      }
      s = t ?? 0;
      for (
        let o = (this.terminal[s] ?? -1) >= 0 ? s : (this.outLink[s] ?? -1);
        o >= 0;
        o = this.outLink[o] ?? -1
      ) {
        const p = this.terminal[o] ?? -1;
        const len = this.lengths[p] ?? 0;
        yield { start: i + 1 - len, end: i + 1, data: this.data[p] as T };
      }
    }
  }

  /** Non-overlapping hits, leftmost first and the longest at each start. */
  search(text: string): KeywordHit<T>[] {
    const hits = [...this.all(text)].sort((a, b) => a.start - b.start || b.end - a.end);
    const out: KeywordHit<T>[] = [];
    let edge = 0;
    for (const h of hits) {
      if (h.start < edge) continue;
      out.push(h);
      edge = h.end;
    }
    return out;
  }
}
