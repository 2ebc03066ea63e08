import type { RecordColumns } from '../schema/waveform.ts';

/**
 * 32-bit views of a records batch's 64-bit columns. Reading a BigInt64Array element allocates a
 * BigInt; the merge compares and copies through these views instead, with plain numbers:
 * timestamp = hi·2^32 + lo (hi signed, lo unsigned, little-endian words).
 */
export interface KeyViews {
  tsLo: Uint32Array;
  tsHi: Int32Array;
  pid: Int32Array;
  ch: Int16Array;
  /** wave_offset words (batch-local offsets fit in 2^53). */
  offLo: Uint32Array;
  offHi: Int32Array;
}

export function keyViews(c: RecordColumns): KeyViews {
  return { tsLo: w32(c.timestamp), tsHi: i32(c.timestamp), pid: c.pid, ch: c.channel, offLo: w32(c.wave_offset), offHi: i32(c.wave_offset) };
}

// Module-level, not closures in keyViews: it runs per batch, and under tsx every closure made also
// gets its name set (esbuild's keepNames), which costs more than the views.
function w32(a: BigInt64Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length * 2);
}

function i32(a: BigInt64Array): Int32Array {
  return new Int32Array(a.buffer, a.byteOffset, a.length * 2);
}

/** A key held as numbers. */
export interface NumKey {
  hi: number;
  lo: number;
  pid: number;
  ch: number;
}

/** Compares row r of v with key k: <0, 0, >0. */
export function cmpRowKey(v: KeyViews, r: number, k: NumKey): number {
  const hi = v.tsHi[2 * r + 1]!;
  if (hi !== k.hi) return hi < k.hi ? -1 : 1;
  const lo = v.tsLo[2 * r]!;
  if (lo !== k.lo) return lo < k.lo ? -1 : 1;
  const p = v.pid[r]!;
  if (p !== k.pid) return p - k.pid;
  return v.ch[r]! - k.ch;
}

/** Compares row a of va with row b of vb. */
export function cmpRows(va: KeyViews, a: number, vb: KeyViews, b: number): number {
  const ha = va.tsHi[2 * a + 1]!;
  const hb = vb.tsHi[2 * b + 1]!;
  if (ha !== hb) return ha < hb ? -1 : 1;
  const la = va.tsLo[2 * a]!;
  const lb = vb.tsLo[2 * b]!;
  if (la !== lb) return la < lb ? -1 : 1;
  const pa = va.pid[a]!;
  const pb = vb.pid[b]!;
  if (pa !== pb) return pa - pb;
  return va.ch[a]! - vb.ch[b]!;
}

export function rowKey(v: KeyViews, r: number): NumKey {
  return { hi: v.tsHi[2 * r + 1]!, lo: v.tsLo[2 * r]!, pid: v.pid[r]!, ch: v.ch[r]! };
}

export function cmpNumKeys(a: NumKey, b: NumKey): number {
  if (a.hi !== b.hi) return a.hi < b.hi ? -1 : 1;
  if (a.lo !== b.lo) return a.lo < b.lo ? -1 : 1;
  if (a.pid !== b.pid) return a.pid - b.pid;
  return a.ch - b.ch;
}

export const MIN_NUM_KEY: NumKey = { hi: -(2 ** 31), lo: 0, pid: -(2 ** 31), ch: -(2 ** 15) };

/** Key of a timestamp (ps) with the smallest pid and channel: "anything at or after t". */
export function timeKey(tPs: bigint): NumKey {
  return { hi: Number(BigInt.asIntN(32, tPs >> 32n)), lo: Number(BigInt.asUintN(32, tPs)), pid: MIN_NUM_KEY.pid, ch: MIN_NUM_KEY.ch };
}

export function keyTime(k: NumKey): bigint {
  return (BigInt(k.hi) << 32n) | BigInt(k.lo);
}

/** First row in [lo, hi) with key >= k (or > k when `after`). */
export function lowerBound(v: KeyViews, lo: number, hi: number, k: NumKey, after: boolean): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = cmpRowKey(v, mid, k);
    if (c < 0 || (after && c === 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * First row in [from, to) that does not come before the key (hi, lo, p = pid·2^16 + channel +
 * 2^15); rows equal to the key come before it when `after`. Exponential search from `from`, then
 * binary search: O(log of the run length), so short runs cost a comparison or two.
 */
export function gallop(v: KeyViews, from: number, to: number, hi: number, lo: number, p: number, after: boolean): number {
  // Rows before `a` come before the key; probe a, a+1, a+3, a+7, ... (no closure: this is hot).
  let a = from;
  let step = 1;
  let b = to;
  while (a < to) {
    const probe = a + step - 1;
    if (probe >= to) break;
    if (!rowBefore(v, probe, hi, lo, p, after)) {
      b = probe;
      break;
    }
    a = probe + 1;
    step *= 2;
  }
  while (a < b) {
    const mid = (a + b) >>> 1;
    if (rowBefore(v, mid, hi, lo, p, after)) a = mid + 1;
    else b = mid;
  }
  return a;
}

function rowBefore(v: KeyViews, r: number, hi: number, lo: number, p: number, after: boolean): boolean {
  const h = v.tsHi[2 * r + 1]!;
  if (h !== hi) return h < hi;
  const l = v.tsLo[2 * r]!;
  if (l !== lo) return l < lo;
  const q = v.pid[r]! * 65536 + v.ch[r]! + 32768;
  if (q !== p) return q < p;
  return after;
}
