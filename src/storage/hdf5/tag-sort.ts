import type { ScalarSegmentPart } from '../segment.ts';

export interface SortedScalars {
  timestampNs: BigInt64Array;
  value: Float64Array;
  quality: Uint8Array;
  /**
   * One row per tag present: rows [start, start+count) hold that tag's points. No per-point tag
   * column: the index names every row's tag (`np.repeat(tag, count)`).
   */
  index: { tag: Uint32Array; start: BigInt64Array; count: BigInt64Array };
}

/** Where the sorted columns go (each `p.tag.length` long): e.g. views on the WebAssembly heap. */
export interface SortOutput {
  timestampNs: BigInt64Array;
  value: Float64Array;
  quality: Uint8Array;
}

/**
 * Sorts points by (tag, time) with a stable counting sort on the tag id: O(points + tags), no
 * object per point. Points of one tag arrive in time order (each instrument emits them so), which
 * the stable sort keeps; a tag whose points are out of order is sorted on its own slice.
 * `into`: arrays to sort into (every element is written), instead of new ones — the segment
 * writer sorts straight into h5wasm's heap, which saves allocating and copying ~17 bytes a point.
 */
export function sortByTagThenTime(p: Pick<ScalarSegmentPart, 'timestampNs' | 'tag' | 'value' | 'quality'>, into?: SortOutput): SortedScalars {
  const n = p.tag.length;
  if (into && (into.timestampNs.length !== n || into.value.length !== n || into.quality.length !== n)) {
    throw new RangeError(`sortByTagThenTime: output arrays of ${into.timestampNs.length}/${into.value.length}/${into.quality.length} elements for ${n} points`);
  }
  let maxTag = 0;
  for (let i = 0; i < n; i++) if (p.tag[i]! > maxTag) maxTag = p.tag[i]!;
  const counts = new Uint32Array(maxTag + 2);
  for (let i = 0; i < n; i++) counts[p.tag[i]! + 1]!++;
  for (let t = 1; t < counts.length; t++) counts[t]! += counts[t - 1]!;
  const out: SortOutput = into ?? {
    timestampNs: new BigInt64Array(n),
    value: new Float64Array(n),
    quality: new Uint8Array(n),
  };
  // One scatter pass: each point goes straight to its row (no permutation array to write and read
  // back); timestamps move as 32-bit words (no BigInt per point).
  const cursor = counts.slice(0, maxTag + 1);
  const srcW = new Int32Array(p.timestampNs.buffer, p.timestampNs.byteOffset, n * 2);
  const dstW = new Int32Array(out.timestampNs.buffer, out.timestampNs.byteOffset, n * 2);
  const tag = p.tag;
  const value = p.value;
  const quality = p.quality;
  const ov = out.value;
  const oq = out.quality;
  for (let i = 0; i < n; i++) {
    const r = cursor[tag[i]!]!++;
    dstW[2 * r] = srcW[2 * i]!;
    dstW[2 * r + 1] = srcW[2 * i + 1]!;
    ov[r] = value[i]!;
    oq[r] = quality[i]!;
  }

  let present = 0;
  for (let t = 0; t <= maxTag; t++) if (counts[t + 1]! > counts[t]!) present++;
  const index = { tag: new Uint32Array(present), start: new BigInt64Array(present), count: new BigInt64Array(present) };
  // int64 start/count written as (lo, hi) 32-bit words: no BigInt per tag (a million per segment).
  const startW = new Uint32Array(index.start.buffer);
  const countW = new Uint32Array(index.count.buffer);
  let k = 0;
  for (let t = 0; t <= maxTag; t++) {
    const a = counts[t]!;
    const b = counts[t + 1]!;
    if (b === a) continue;
    // Usually already in time order; sort this tag's slice if not.
    let sorted = true;
    for (let r = a + 1; r < b; r++) {
      // (hi, lo) int32 words: signed high word, unsigned low word — no BigInt per point.
      const h1 = dstW[2 * r + 1]!;
      const h0 = dstW[2 * r - 1]!;
      if (h1 < h0 || (h1 === h0 && dstW[2 * r]! >>> 0 < dstW[2 * r - 2]! >>> 0)) {
        sorted = false;
        break;
      }
    }
    if (!sorted) sortSlice(out, a, b);
    index.tag[k] = t;
    startW[2 * k] = a; // a, b < 2^32: the rows of one segment
    countW[2 * k] = b - a;
    k++;
  }
  return { timestampNs: out.timestampNs, value: out.value, quality: out.quality, index };
}

/** Sorts rows [a, b) by time (stable: equal times keep arrival order), through typed arrays. */
function sortSlice(o: SortOutput, a: number, b: number): void {
  const n = b - a;
  const idx = new Uint32Array(n);
  for (let r = 0; r < n; r++) idx[r] = a + r;
  const t = o.timestampNs;
  idx.sort((x, y) => (t[x]! < t[y]! ? -1 : t[x]! > t[y]! ? 1 : x - y));
  const ts = new BigInt64Array(n);
  const v = new Float64Array(n);
  const q = new Uint8Array(n);
  for (let r = 0; r < n; r++) {
    ts[r] = t[idx[r]!]!;
    v[r] = o.value[idx[r]!]!;
    q[r] = o.quality[idx[r]!]!;
  }
  t.set(ts, a);
  o.value.set(v, a);
  o.quality.set(q, a);
}
