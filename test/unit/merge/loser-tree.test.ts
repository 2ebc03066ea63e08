import { describe, expect, it } from 'vitest';
import { LoserTree } from '../../../src/merge/loser-tree.ts';
import { gallop, keyViews } from '../../../src/merge/key-views.ts';
import { Xorshift } from '../../../src/instruments/rng.ts';
import { allocRecordColumns } from '../../../src/schema/waveform.ts';

interface Key {
  t: bigint;
  pid: number;
  ch: number;
}
const words = (t: bigint) => ({ hi: Number(BigInt.asIntN(32, t >> 32n)), lo: Number(BigInt.asUintN(32, t)) });
const cmp = (a: Key, b: Key) => (a.t !== b.t ? (a.t < b.t ? -1 : 1) : a.pid !== b.pid ? a.pid - b.pid : a.ch - b.ch);

describe('LoserTree', () => {
  it('yields the smallest key, ties by slot, exactly beyond 2^53 ps, over random replays', () => {
    const rng = new Xorshift(5);
    for (const m of [1, 2, 3, 5, 8, 13, 64]) {
      // Each slot: a sorted list of keys; many equal as float64 (differ below the 53rd bit).
      const lists: Key[][] = Array.from({ length: m }, () => {
        const n = Math.floor(rng.next() * 40);
        const ks: Key[] = Array.from({ length: n }, () => ({
          t: (rng.next() < 0.5 ? -(2n ** 60n) : 2n ** 60n) + BigInt(Math.floor(rng.next() * 50)) - (rng.next() < 0.1 ? 2n ** 40n : 0n),
          pid: Math.floor(rng.next() * 3) - 1,
          ch: Math.floor(rng.next() * 3) - 1,
        }));
        return ks.sort(cmp);
      });
      const tree = new LoserTree(m);
      const pos = lists.map(() => 0);
      const load = (s: number) => {
        const k = lists[s]![pos[s]!];
        if (!k) return tree.exhaust(s);
        const { hi, lo } = words(k.t);
        tree.set(s, hi, lo, k.pid, k.ch);
      };
      for (let s = 0; s < m; s++) load(s);
      tree.build();
      const got: Array<[number, number]> = [];
      for (;;) {
        const w = tree.winner();
        if (tree.t[w] === Infinity) break;
        got.push([w, pos[w]!]);
        pos[w]!++;
        load(w);
        tree.replay(w);
      }
      const ref = lists.flatMap((ks, s) => ks.map((k, i) => ({ k, s, i })));
      ref.sort((a, b) => cmp(a.k, b.k) || a.s - b.s || a.i - b.i);
      expect(got).toEqual(ref.map((r) => [r.s, r.i]));
    }
  });

  it('runnerUp is the second-smallest slot', () => {
    const rng = new Xorshift(6);
    for (let round = 0; round < 200; round++) {
      const m = 2 + Math.floor(rng.next() * 20);
      const tree = new LoserTree(m);
      const ks = Array.from({ length: m }, () => Math.floor(rng.next() * 5));
      ks.forEach((k, s) => tree.set(s, 0, k, 0, 0));
      tree.build();
      const order = ks.map((k, s) => [k, s] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      expect(tree.winner()).toBe(order[0]![1]);
      expect(tree.runnerUp()).toBe(order[1]![1]);
    }
  });
});

describe('gallop', () => {
  it('finds the first row not before a key, with and without equal rows counted before', () => {
    const n = 200;
    const c = allocRecordColumns(n);
    for (let i = 0; i < n; i++) {
      c.timestamp[i] = 2n ** 55n + BigInt(i >> 2); // runs of 4 equal timestamps
      c.pid[i] = (i >> 1) & 1; // per timestamp: pid 0, 0, 1, 1
      c.channel[i] = 0;
    }
    const v = keyViews(c);
    for (let from = 0; from < n; from += 7) {
      for (let i = 0; i < n; i += 3) {
        const { hi, lo } = words(c.timestamp[i]!);
        const p = c.pid[i]! * 65536 + 32768;
        const firstNotBelow = (after: boolean) => {
          for (let r = from; r < n; r++) {
            const d = c.timestamp[r]! < c.timestamp[i]! ? -1 : c.timestamp[r]! > c.timestamp[i]! ? 1 : c.pid[r]! - c.pid[i]!;
            if (d > 0 || (d === 0 && !after)) return r;
          }
          return n;
        };
        expect(gallop(v, from, n, hi, lo, p, false)).toBe(firstNotBelow(false));
        expect(gallop(v, from, n, hi, lo, p, true)).toBe(firstNotBelow(true));
      }
    }
  });
});
