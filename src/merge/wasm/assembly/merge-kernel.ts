// AssemblyScript (not TypeScript): the WebAssembly kernel of StreamingMerge, built by
// `npm run build:wasm` into ../merge-kernel.wasm (committed). Excluded from tsconfig.
//
// The merge runs in two steps, so that the step with a dependency chain touches little memory:
//  1. the merge loop reads keys only (each input's keys are two sequential streams) and writes the
//     output order as (batch, row) pairs; its loser tree holds the keys in its nodes and replays
//     without branches on the data (a select per level: interleaved inputs make those branches a
//     coin toss);
//  2. a gather copies the rows' 11 columns and samples in that order. Its loads depend on nothing
//     but the order, so the CPU keeps many cache misses in flight.
// Rows are gathered before any call returns: no block is referenced after a call, so JS may free
// or refill the blocks it is done with.
//
// JS copies input batches in a chunk at a time (a few hundred rows of one input and their
// samples), as the merge reaches them, so the blocks being merged stay in cache however many inputs
// there are. A block (allocated by JS with alloc(batchBytes(n, S)), columns copied in, then
// setBlock()):
//   n i32 @0 | S i32 @4 | base i64 @8 (wave_offset of the block's first sample) | H = 16:
//   ts i64[n] | time i64[n] | wave_offset i64[n] | baseline f64[n] | pid i32[n] | dt i32[n] |
//   flags u32[n] | event_length i32[n] | channel i16[n] | trigger_type i16[n] | pad to 8 |
//   samples u16[S] | SLACK bytes of slack (vector copies overread)
// Whole batches are checked first (prepare(), on a scratch copy of their key, length and offset
// columns).
// Output columns (capacity R rows):
//   ts i64[R] | time i64[R] | wave_offset i64[R] | baseline f64[R] | event_id i64[R] | pid i32[R] |
//   dt i32[R] | flags u32[R] | event_length i32[R] | channel i16[R] | trigger_type i16[R]
// Keys: (ts signed, k2 unsigned) with k2 = (pid ^ 2^31) << 32 | (channel + 2^15) << 16 | slot.
// An exhausted slot has the key (i64 max, u64 max): above any bound.

// Statuses returned by run() and append().
const DONE: i32 = 0; // the winner is not below the bound (or every slot is exhausted)
const SLOT_EMPTY: i32 = 1; // slot `emptySlot` has emitted its batch's last row: set its next batch
const OUT_FULL: i32 = 2; // the output holds R rows: take it
const NEED_SAMPLES: i32 = 3; // the next event's samples do not fit: grow the sample area

export const MAX_SLOTS: i32 = 4096;

const H: usize = 16;
/** Bytes after a block's samples and after the output's: short waveforms are copied 128 bytes at a time. */
const SLACK: usize = 128;

// Slot tables (allocated by setSlots).
let m: i32 = 0;
let node: usize = 0; // (i64 ts, u64 k2)[m]: node j > 0 holds the loser of its match, node 0 unused
let sBlk: usize = 0; // usize[m]: the slot's batch
let sRow: usize = 0; // i32[m]: next row
let sEnd: usize = 0; // i32[m]: end row
let sN: usize = 0; // i32[m]: rows of the slot's batch (its header's n), so a win need not read the header
let sSB: usize = 0; // usize[m]: where sample `wave_offset` 0 of the slot's batch would be (samples start - 2 × base; wraps)
let sNext: usize = 0; // (i64 ts, u64 k2)[m]: key of the row after the slot's head (the key a win brings up, loaded a win early)

// Key of the current winner (its slot in the low 16 bits of wP).
let wT: i64 = i64.MAX_VALUE;
let wP: u64 = u64.MAX_VALUE;
let pendingReplay: i32 = -1;
let prevWinner: i32 = -1;
export let emptySlot: i32 = -1;

// Bound: rows with (ts, k2) < (bTs, bP) are emitted.
let bTs: i64 = 0;
let bP: u64 = 0;

// Output.
let outCols: usize = 0;
let outCap: i32 = 0;
let outSamples: usize = 0;
let outSampleCap: i32 = 0;
/** An output batch ends (OUT_FULL) before the event that would take its samples past this, unless that event is its first. */
let sampleBudget: i32 = 0;
let permBlk: usize = 0; // usize[R]: batch of output row i
let permRow: usize = 0; // i32[R]: its row
let permN: usize = 0; // i32[R]: its batch's rows, and
let permSB: usize = 0; // usize[R]: its sampleBase (so the gather need not wait for the batch's header)
export let outN: i32 = 0; // rows in the output (ordered)
export let outS: i32 = 0; // their samples
let gN: i32 = 0; // rows gathered
let gS: i32 = 0; // samples gathered
let gFlags: u32 = 0; // ORed into flags by the gather (late events)
let nextId: i64 = 0;
// Key of the last emitted row.
export let lastTs: i64 = 0;
export let lastPid: i32 = 0;
export let lastCh: i32 = 0;
export let emitted: i32 = 0;
export let needSamples: i32 = 0;
/** Runs merged (changes of the winning input): their mean length tells bursts from interleaving. */
export let runs: i32 = 0;
/** prepare(): the first row out of order. */
export let badRow: i32 = -1;

export function alloc(size: usize): usize {
  return heap.alloc(size);
}

export function free(ptr: usize): void {
  heap.free(ptr);
}

@inline function samplesOf(blk: usize, n: usize): usize {
  return blk + H + ((n * 52 + 7) & ~7);
}

/** k2 of row r of a batch of n rows whose columns start at c (without the slot). */
@inline function k2At(c: usize, n: usize, r: usize): u64 {
  const pid = load<i32>(c + (n << 5) + (r << 2));
  const ch = load<i16>(c + n * 48 + (r << 1));
  return ((<u64>(<u32>pid ^ 0x80000000)) << 32) | (<u64>(<i32>ch + 32768) << 16);
}

/** Bytes of a batch of n rows and S samples (layout above). */
export function batchBytes(n: i32, S: i32): usize {
  return samplesOf(0, <usize>n) + (<usize>S << 1) + SLACK;
}

/** Offset of the samples in a batch of n rows. */
export function samplesOffset(n: i32): usize {
  return samplesOf(0, <usize>n);
}

/** prepare(): events' samples lie in row order without overlap (so rows [a, b) use one range of samples). */
export let sequential: i32 = 0;

/**
 * Checks the batch at blk (n rows, S samples; its ts, wave_offset, pid, event_length and channel
 * columns copied in). Returns 0; 1 when row `badRow` is below the previous row (row 0: below
 * (pTs, pP) when hasPrev); else 2 when an event's samples lie outside the batch's. Sets
 * `sequential`.
 */
export function prepare(blk: usize, n: i32, S: i32, hasPrev: bool, pTs: i64, pP: u64): i32 {
  const N = <usize>n;
  const c = blk + H;
  const offCol = c + (N << 4);
  const pidCol = c + (N << 5);
  const lenCol = c + N * 44;
  const chCol = c + N * 48;
  // Branch-free over every row (flags ORed); only a bad batch is scanned again for its first bad row.
  let lt = hasPrev ? pTs : i64.MIN_VALUE;
  let lp = hasPrev ? pP : 0;
  let orderBad: i32 = 0;
  let offsetsBad: i32 = 0;
  let seqBad: i32 = 0;
  let prevEnd: i64 = 0;
  for (let r: usize = 0; r < N; r++) {
    const t = load<i64>(c + (r << 3));
    const pid = load<i32>(pidCol + (r << 2));
    const ch = load<i16>(chCol + (r << 1));
    const p = ((<u64>(<u32>pid ^ 0x80000000)) << 32) | (<u64>(<i32>ch + 32768) << 16);
    orderBad |= <i32>(t < lt) | (<i32>(t == lt) & <i32>(p < lp));
    lt = t;
    lp = p;
    const len = load<i32>(lenCol + (r << 2));
    const off = load<i64>(offCol + (r << 3));
    offsetsBad |= <i32>(<u64>off > <u64>S) | <i32>(<u32>len > <u32>(S - <i32>off));
    seqBad |= <i32>(off < prevEnd);
    prevEnd = off + <i64>len;
  }
  badRow = -1;
  if (orderBad) {
    lt = pTs;
    lp = pP;
    for (let r: usize = 0; r < N; r++) {
      const t = load<i64>(c + (r << 3));
      const p = k2At(c, N, r);
      if ((r > 0 || hasPrev) && (t < lt || (t == lt && p < lp))) {
        badRow = <i32>r;
        return 1;
      }
      lt = t;
      lp = p;
    }
  }
  sequential = <i32>(seqBad == 0);
  return offsetsBad ? 2 : 0;
}

/**
 * Header of a chunk copied in (rows already checked): n rows, S samples, offsets relative to `base`
 * (an integer below 2^53, as f64: JS passes a number, no BigInt).
 */
export function setBlock(blk: usize, n: i32, S: i32, base: f64): void {
  store<i32>(blk, n);
  store<i32>(blk, S, 4);
  store<i64>(blk, <i64>base, 8);
}

export function setOutput(cap: i32, sampleCap: i32, budget: i32): usize {
  sampleBudget = budget;
  if (outCols) {
    heap.free(outCols);
    heap.free(permBlk);
    heap.free(permRow);
    heap.free(permN);
    heap.free(permSB);
  }
  outCols = heap.alloc(<usize>cap * 60);
  permBlk = heap.alloc(<usize>cap * 4);
  permRow = heap.alloc(<usize>cap * 4);
  permN = heap.alloc(<usize>cap * 4);
  permSB = heap.alloc(<usize>cap * 4);
  outCap = cap;
  if (!outSamples) {
    outSamples = heap.alloc(<usize>sampleCap * 2 + SLACK);
    outSampleCap = sampleCap;
  }
  resetOutput();
  return outCols;
}

export function growSamples(sampleCap: i32): void {
  outSamples = heap.realloc(outSamples, <usize>sampleCap * 2 + SLACK);
  outSampleCap = sampleCap;
}

export function outColsPtr(): usize {
  return outCols;
}

export function outSamplesPtr(): usize {
  return outSamples;
}

/** The output was taken: start a new batch. */
export function resetOutput(): void {
  outN = 0;
  outS = 0;
  gN = 0;
  gS = 0;
}

export function setSlots(count: i32): void {
  if (count > m || node == 0) {
    if (node) {
      heap.free(node);
      heap.free(sBlk);
      heap.free(sRow);
      heap.free(sEnd);
      heap.free(sNext);
      heap.free(sN);
      heap.free(sSB);
    }
    const c = <usize>max(count, 1);
    node = heap.alloc(c * 16);
    sBlk = heap.alloc(c * 4);
    sRow = heap.alloc(c * 4);
    sEnd = heap.alloc(c * 4);
    sNext = heap.alloc(c * 16);
    sN = heap.alloc(c * 4);
    sSB = heap.alloc(c * 4);
  }
  m = count;
  pendingReplay = -1;
  prevWinner = -1;
  emptySlot = -1;
  emitted = 0;
}

export function rowOf(s: i32): i32 {
  return load<i32>(sRow + (<usize>s << 2));
}

/** Slot s merges rows [row, end) of the batch at blk. */
export function setSlot(s: i32, blk: usize, row: i32, end: i32): void {
  const o = <usize>s << 2;
  store<usize>(sBlk + o, blk);
  store<i32>(sRow + o, row);
  store<i32>(sEnd + o, end);
  const n = <usize>load<i32>(blk);
  store<i32>(sN + o, <i32>n);
  store<usize>(sSB + o, sampleBase(blk, n));
  cacheNext(s, blk, row + 1, end);
}

/** Where sample `wave_offset` 0 of the block at blk (n rows) would be: its samples' start less twice its base (wraps). */
@inline function sampleBase(blk: usize, n: usize): usize {
  return samplesOf(blk, n) - (<usize>load<i64>(blk, 8) << 1);
}

/** sNext of slot s: the key of row r of the batch at blk (rows end at `end`). */
@inline function cacheNext(s: i32, blk: usize, r: i32, end: i32): void {
  const a = sNext + (<usize>s << 4);
  if (r < end) {
    const c = blk + H;
    store<i64>(a, load<i64>(c + (<usize>r << 3)));
    store<u64>(a, k2At(c, <usize>load<i32>(sN + (<usize>s << 2)), <usize>r) | <u64>s, 8);
  } else {
    store<i64>(a, i64.MAX_VALUE);
    store<u64>(a, u64.MAX_VALUE, 8);
  }
}

/** Slot s has nothing more to merge. */
export function exhaust(s: i32): void {
  const o = <usize>s << 2;
  store<usize>(sBlk + o, 0);
  store<i32>(sRow + o, 0);
  store<i32>(sEnd + o, 0);
}

/** After setSlot/exhaust of the slot reported by SLOT_EMPTY. */
export function refilled(s: i32): void {
  pendingReplay = s;
}

@inline function keyTs(s: i32): i64 {
  const o = <usize>s << 2;
  const blk = load<usize>(sBlk + o);
  if (blk == 0) return i64.MAX_VALUE;
  return load<i64>(blk + H + (<usize>load<i32>(sRow + o) << 3));
}

@inline function keyP(s: i32): u64 {
  const o = <usize>s << 2;
  const blk = load<usize>(sBlk + o);
  if (blk == 0) return u64.MAX_VALUE;
  return k2At(blk + H, <usize>load<i32>(blk), <usize>load<i32>(sRow + o)) | <u64>s;
}

/** Builds the tree over every slot's head key (slots set or exhausted). */
export function build(): void {
  if (m == 1) {
    wT = keyTs(0);
    wP = keyP(0);
    return;
  }
  // Winners of the matches, bottom up (leaves: slot keys); losers stay in the nodes.
  const win = heap.alloc(<usize>m * 32);
  for (let s = 0; s < m; s++) {
    const a = win + (<usize>(m + s) << 4);
    store<i64>(a, keyTs(s));
    store<u64>(a, keyP(s), 8);
  }
  for (let j = m - 1; j >= 1; j--) {
    const a = win + (<usize>(2 * j) << 4);
    const b = a + 16;
    const at = load<i64>(a);
    const ap = load<u64>(a, 8);
    const bt = load<i64>(b);
    const bp = load<u64>(b, 8);
    const bLess = bt < at || (bt == at && bp < ap);
    const w = win + (<usize>j << 4);
    const l = node + (<usize>j << 4);
    store<i64>(w, bLess ? bt : at);
    store<u64>(w, bLess ? bp : ap, 8);
    store<i64>(l, bLess ? at : bt);
    store<u64>(l, bLess ? ap : bp, 8);
  }
  wT = load<i64>(win + 16);
  wP = load<u64>(win + 24);
  heap.free(win);
}

/** Slot s (the last winner) has a new head key (t, p): plays it up the tree; the winner lands in (wT, wP). */
@inline function replay(s: i32, t: i64, p: u64): void {
  for (let j = (s + m) >> 1; j >= 1; j >>= 1) {
    const a = node + (<usize>j << 4);
    const lt = load<i64>(a);
    const lp = load<u64>(a, 8);
    const sw = <i32>(lt < t) | (<i32>(lt == t) & <i32>(lp < p));
    store<i64>(a, select<i64>(t, lt, sw));
    store<u64>(a, select<u64>(p, lp, sw), 8);
    t = select<i64>(lt, t, sw);
    p = select<u64>(lp, p, sw);
  }
  wT = t;
  wP = p;
}

/** The smallest key among the winner's beaten opponents (the runner-up), into (ruT, ruP). */
let ruT: i64 = 0;
let ruP: u64 = 0;
@inline function runnerUp(w: i32): void {
  let t = i64.MAX_VALUE;
  let p = u64.MAX_VALUE;
  for (let j = (w + m) >> 1; j >= 1; j >>= 1) {
    const a = node + (<usize>j << 4);
    const lt = load<i64>(a);
    const lp = load<u64>(a, 8);
    const sw = <i32>(lt < t) | (<i32>(lt == t) & <i32>(lp < p));
    t = select<i64>(lt, t, sw);
    p = select<u64>(lp, p, sw);
  }
  ruT = t;
  ruP = p;
}

export function setBound(ts: i64, p: u64): void {
  bTs = ts;
  bP = p;
}

export function setNextId(id: i64): void {
  nextId = id;
}

export function getNextId(): i64 {
  return nextId;
}

@inline function copySamples(dst: usize, src: usize, len: usize): void {
  const bytes = len << 1;
  // Vector copies may write past the end (into the next event's place, written after, or the
  // output's slack) and read past the source's end (the next rows' samples, or the block's slack).
  if (bytes <= 128) {
    // 128 bytes whatever the length: no loop whose exit the CPU would mispredict.
    v128.store(dst, v128.load(src));
    v128.store(dst, v128.load(src, 16), 16);
    v128.store(dst, v128.load(src, 32), 32);
    v128.store(dst, v128.load(src, 48), 48);
    v128.store(dst, v128.load(src, 64), 64);
    v128.store(dst, v128.load(src, 80), 80);
    v128.store(dst, v128.load(src, 96), 96);
    v128.store(dst, v128.load(src, 112), 112);
    return;
  }
  if (bytes > 256) {
    memory.copy(dst, src, bytes);
    return;
  }
  for (let k: usize = 0; k < bytes; k += 16) v128.store(dst + k, v128.load(src + k));
}

/** Copies rows [gN, outN) of the order into the output columns and samples. */
function gather(): void {
  const R = <usize>outCap;
  const oc = outCols;
  const f = gFlags;
  let s = gS;
  let id = nextId;
  const end = outN;
  let i = gN;
  if (i == end) return;
  for (; i < end; i++) {
    const blk = load<usize>(permBlk + (<usize>i << 2));
    const r = <usize>load<i32>(permRow + (<usize>i << 2));
    const n = <usize>load<i32>(permN + (<usize>i << 2));
    const c = blk + H;
    const o = <usize>i;
    const o8 = o << 3;
    const o4 = o << 2;
    const o2 = o << 1;
    const a8 = c + (r << 3);
    const a4 = c + (n << 5) + (r << 2);
    const a2 = c + n * 48 + (r << 1);
    const len = load<i32>(a4 + (n << 2) * 3);
    const src = load<usize>(permSB + (<usize>i << 2)) + (<usize>load<i64>(a8 + (n << 4)) << 1);
    store<i64>(oc + o8, load<i64>(a8));
    store<i64>(oc + (R << 3) + o8, load<i64>(a8 + (n << 3)));
    store<i64>(oc + (R << 4) + o8, <i64>s);
    store<u64>(oc + R * 24 + o8, load<u64>(a8 + n * 24)); // baseline: bits
    store<i64>(oc + (R << 5) + o8, id);
    store<i32>(oc + R * 40 + o4, load<i32>(a4));
    store<i32>(oc + R * 44 + o4, load<i32>(a4 + (n << 2)));
    store<u32>(oc + R * 48 + o4, load<u32>(a4 + (n << 3)) | f);
    store<i32>(oc + R * 52 + o4, len);
    store<i16>(oc + R * 56 + o2, load<i16>(a2));
    store<i16>(oc + R * 58 + o2, load<i16>(a2 + (n << 1)));
    copySamples(outSamples + (<usize>s << 1), src, <usize>len);
    s += len;
    id++;
  }
  // Key of the last row.
  const blk = load<usize>(permBlk + (<usize>(end - 1) << 2));
  const r = <usize>load<i32>(permRow + (<usize>(end - 1) << 2));
  const n = <usize>load<i32>(blk);
  lastTs = load<i64>(blk + H + (r << 3));
  lastPid = load<i32>(blk + H + (n << 5) + (r << 2));
  lastCh = load<i16>(blk + H + n * 48 + (r << 1));
  gN = end;
  gS = s;
  nextId = id;
}

/** Gathers, then returns st. */
@inline function finish(st: i32): i32 {
  gather();
  return st;
}

/** Puts row r of the batch at blk next in the output order: DONE, or OUT_FULL / NEED_SAMPLES (then not put). */
@inline function putRow(blk: usize, r: i32, lenCol: usize, n: usize, sb: usize): i32 {
  if (outN == outCap) return OUT_FULL;
  const len = load<i32>(lenCol + (<usize>r << 2));
  if (len > sampleBudget - outS && outN > 0) return OUT_FULL;
  if (len > outSampleCap - outS) {
    needSamples = outS + len;
    return NEED_SAMPLES;
  }
  store<usize>(permBlk + (<usize>outN << 2), blk);
  store<i32>(permRow + (<usize>outN << 2), r);
  store<i32>(permN + (<usize>outN << 2), <i32>n);
  store<usize>(permSB + (<usize>outN << 2), sb);
  outN++;
  outS += len;
  return DONE;
}

/**
 * Appends rows [row, row + count) of the batch at blk, flags ORed with f (late events, in arrival
 * order): returns a status; `emitted` rows were appended.
 */
export function append(blk: usize, row: i32, count: i32, f: u32): i32 {
  emitted = 0;
  const n = <usize>load<i32>(blk);
  const lenCol = blk + H + n * 44;
  const sb = sampleBase(blk, n);
  let st = DONE;
  for (let r = row; r < row + count; r++) {
    st = putRow(blk, r, lenCol, n, sb);
    if (st != DONE) break;
    emitted++;
  }
  gFlags = f;
  gather();
  gFlags = 0;
  return st;
}

/**
 * Merges: puts rows in key order while the smallest head is below the bound, and gathers them.
 * Returns DONE, SLOT_EMPTY (emptySlot: setSlot or exhaust it, then refilled), OUT_FULL or
 * NEED_SAMPLES.
 */
export function run(): i32 {
  if (pendingReplay >= 0) {
    const s = pendingReplay;
    pendingReplay = -1;
    if (m == 1) {
      wT = keyTs(0);
      wP = keyP(0);
    } else {
      replay(s, keyTs(s), keyP(s));
    }
  }
  while (true) {
    const t = wT;
    const p = wP;
    if (!(t < bTs || (t == bTs && p < bP))) return finish(DONE);
    const w = <i32>(p & 0xffff);
    const o = <usize>w << 2;
    const blk = load<usize>(sBlk + o);
    let r = load<i32>(sRow + o);
    const end = load<i32>(sEnd + o);
    const n = <usize>load<i32>(sN + o);
    const sb = load<usize>(sSB + o);
    const tsCol = blk + H;
    const lenCol = tsCol + n * 44;
    const ws = <u64>w;
    if (w != prevWinner) {
      // One row; the key of the next comes from sNext, loaded a win ahead, so the replay does not
      // wait for the block's memory (the tree decides the next winner, this slot again if due).
      runs++;
      prevWinner = w;
      const st = putRow(blk, r, lenCol, n, sb);
      if (st != DONE) {
        pendingReplay = w; // the head (row r) stays the winner until the caller comes back
        return finish(st);
      }
      r++;
      store<i32>(sRow + o, r);
      if (r >= end) {
        emptySlot = w;
        return finish(SLOT_EMPTY);
      }
      const a = sNext + o * 4;
      const nt = load<i64>(a);
      const np = load<u64>(a, 8);
      cacheNext(w, blk, r + 1, end);
      if (m == 1) {
        wT = nt;
        wP = np;
      } else {
        replay(w, nt, np);
      }
      continue;
    }
    // Won twice in a row: the run goes on while rows precede the runner-up and the bound.
    let limT: i64 = bTs;
    let limP: u64 = bP;
    if (m > 1) {
      runnerUp(w);
      if (ruT < limT || (ruT == limT && ruP < limP)) {
        limT = ruT;
        limP = ruP;
      }
    }
    let st = DONE;
    while (true) {
      st = putRow(blk, r, lenCol, n, sb);
      if (st != DONE) break;
      r++;
      if (r >= end) break;
      const nt = load<i64>(tsCol + (<usize>r << 3));
      if (nt > limT) break;
      if (nt == limT && (k2At(tsCol, n, <usize>r) | ws) >= limP) break;
    }
    store<i32>(sRow + o, r);
    if (st != DONE) {
      // The slot's head is row r: its key stays the winner until the caller comes back.
      pendingReplay = w;
      return finish(st);
    }
    if (r >= end) {
      emptySlot = w;
      return finish(SLOT_EMPTY);
    }
    cacheNext(w, blk, r + 1, end);
    if (m == 1) {
      wT = load<i64>(tsCol + (<usize>r << 3));
      wP = k2At(tsCol, n, <usize>r) | ws;
    } else {
      replay(w, load<i64>(tsCol + (<usize>r << 3)), k2At(tsCol, n, <usize>r) | ws);
    }
  }
  return DONE;
}
