// AssemblyScript (not TypeScript): the WebAssembly kernel of StreamingMerge, built by
// `npm run build:wasm` into ../merge-kernel.wasm (committed). Excluded from tsconfig.
//
// Staged input batch (n rows, S samples), as JS copies it in (src/merge/wasm-kernel.ts); ingest()
// turns it into records (below):
//   ts i64[n] | time i64[n] | wave_offset i64[n] | baseline f64[n] | pid i32[n] | dt i32[n] |
//   flags u32[n] | event_length i32[n] | channel i16[n] | trigger_type i16[n] | pad to 8 | samples u16[S]
// Output columns (capacity R rows):
//   ts i64[R] | time i64[R] | wave_offset i64[R] | baseline f64[R] | event_id i64[R] | pid i32[R] |
//   dt i32[R] | flags u32[R] | event_length i32[R] | channel i16[R] | trigger_type i16[R]
// Keys: (ts signed, k2 unsigned) with k2 = (pid ^ 2^31) << 32 | (channel + 2^15) << 16 | slot.
// An exhausted slot has k2 = u64 max (no real key: slot < 0xffff).

// Statuses returned by run() and append().
const DONE: i32 = 0; // the winner is not below the bound (or every slot is exhausted)
const SLOT_EMPTY: i32 = 1; // slot `emptySlot` has emitted its batch's last row: set its next batch
const OUT_FULL: i32 = 2; // the output holds R rows: take it
const NEED_SAMPLES: i32 = 3; // the next event's samples do not fit: grow the sample area

export const MAX_SLOTS: i32 = 4096;

// Slot tables (allocated by setSlots).
let m: i32 = 0;
let kTs: usize = 0; // i64[m]
let kP: usize = 0; // u64[m]
let node: usize = 0; // i32[m]
let sPtr: usize = 0; // usize[m]: address of the next record
let sRow: usize = 0; // i32[m]: next row
let sEnd: usize = 0; // i32[m]: end row

let winner: i32 = 0;
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
export let outN: i32 = 0;
export let outS: i32 = 0;
let nextId: i64 = 0;
// Key of the last emitted row.
export let lastTs: i64 = 0;
export let lastPid: i32 = 0;
export let lastCh: i32 = 0;
export let emitted: i32 = 0;
export let needSamples: i32 = 0;
/** Turns of the merge loop (runs of one input): their mean length tells bursts from interleaving. */
export let runs: i32 = 0;

export function alloc(size: usize): usize {
  return heap.alloc(size);
}

export function free(ptr: usize): void {
  heap.free(ptr);
}

export function setOutput(cap: i32, sampleCap: i32): usize {
  if (outCols) heap.free(outCols);
  outCols = heap.alloc(<usize>cap * 60);
  outCap = cap;
  if (!outSamples) {
    outSamples = heap.alloc(<usize>sampleCap * 2 + 16);
    outSampleCap = sampleCap;
  }
  outN = 0;
  outS = 0;
  return outCols;
}

export function growSamples(sampleCap: i32): void {
  outSamples = heap.realloc(outSamples, <usize>sampleCap * 2 + 16);
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
}

export function setSlots(count: i32): void {
  if (count > m || kTs == 0) {
    if (kTs) {
      heap.free(kTs);
      heap.free(kP);
      heap.free(node);
      heap.free(sPtr);
      heap.free(sRow);
      heap.free(sEnd);
    }
    const c = <usize>max(count, 1);
    kTs = heap.alloc(c * 8);
    kP = heap.alloc(c * 8);
    node = heap.alloc(c * 4);
    sPtr = heap.alloc(c * 4);
    sRow = heap.alloc(c * 4);
    sEnd = heap.alloc(c * 4);
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

export function ptrOf(s: i32): usize {
  return load<usize>(sPtr + (<usize>s << 2));
}

// A batch in the kernel is a sequence of records, each HDR bytes of fields then its samples
// (padded to 8 bytes): ts i64 @0, pk u64 @8 (key without slot), time i64 @16, baseline @24,
// pid i32 @32, dt i32 @36, flags u32 @40, len i32 @44, channel i16 @48, trigger_type i16 @50.
// One input is then one sequential stream of memory, however many inputs are merged.
const HDR: usize = 56;

@inline function nextRec(q: usize): usize {
  return q + HDR + ((<usize>load<i32>(q + 44) * 2 + 7) & ~7);
}

/**
 * Turns the columns staged at `st` (n rows, S samples, the column layout above) into a batch of
 * records (allocated here); returns its address, 0 when an event's samples lie outside the batch.
 */
export function ingest(st: usize, n: i32, S: i32): usize {
  const N = <usize>n;
  let size: usize = N * HDR;
  for (let r: usize = 0; r < N; r++) {
    const len = load<i32>(st + N * 44 + (r << 2));
    const off = load<i64>(st + (N << 4) + (r << 3));
    if (<u64>off > <u64>S || <u32>len > <u32>(S - <i32>off)) return 0;
    size += (<usize>len * 2 + 7) & ~7;
  }
  const b = heap.alloc(size);
  const sp = samplesAt(st, N);
  let q = b;
  for (let r: usize = 0; r < N; r++) {
    const r8 = r << 3;
    const r4 = r << 2;
    const r2 = r << 1;
    const pid = load<i32>(st + (N << 5) + r4);
    const ch = load<i16>(st + N * 48 + r2);
    const len = load<i32>(st + N * 44 + r4);
    store<i64>(q, load<i64>(st + r8));
    store<u64>(q, ((<u64>(<u32>pid ^ 0x80000000)) << 32) | (<u64>(<i32>ch + 32768) << 16), 8);
    store<i64>(q, load<i64>(st + (N << 3) + r8), 16);
    store<u64>(q, load<u64>(st + N * 24 + r8), 24);
    store<i32>(q, pid, 32);
    store<i32>(q, load<i32>(st + N * 36 + r4), 36);
    store<u32>(q, load<u32>(st + N * 40 + r4), 40);
    store<i32>(q, len, 44);
    store<i16>(q, ch, 48);
    store<i16>(q, load<i16>(st + N * 50 + r2), 50);
    const off = <usize>load<i64>(st + (N << 4) + r8);
    copySamples(q + HDR, sp + (off << 1), <usize>len);
    q += HDR + ((<usize>len * 2 + 7) & ~7);
  }
  return b;
}

@inline function samplesAt(b: usize, n: usize): usize {
  return b + ((n * 52 + 7) & ~7);
}

@inline function setKey(s: i32, q: usize): void {
  store<i64>(kTs + (<usize>s << 3), load<i64>(q));
  store<u64>(kP + (<usize>s << 3), load<u64>(q, 8) | <u64>s);
}

/** Slot s merges rows [row, end) of a batch; q: address of record `row`. */
export function setSlot(s: i32, q: usize, row: i32, end: i32): void {
  const o = <usize>s << 2;
  store<usize>(sPtr + o, q);
  store<i32>(sRow + o, row);
  store<i32>(sEnd + o, end);
  setKey(s, q);
}

export function exhaust(s: i32): void {
  store<i64>(kTs + (<usize>s << 3), i64.MAX_VALUE);
  store<u64>(kP + (<usize>s << 3), u64.MAX_VALUE);
}

/** After setSlot/exhaust of the slot reported by SLOT_EMPTY. */
export function refilled(s: i32): void {
  pendingReplay = s;
}

@inline function less(a: i32, b: i32): bool {
  const ta = load<i64>(kTs + (<usize>a << 3));
  const tb = load<i64>(kTs + (<usize>b << 3));
  if (ta != tb) return ta < tb;
  return load<u64>(kP + (<usize>a << 3)) < load<u64>(kP + (<usize>b << 3));
}

export function build(): void {
  if (m == 1) {
    store<i32>(node, 0);
    winner = 0;
    return;
  }
  const win = heap.alloc(<usize>m * 8);
  for (let s = 0; s < m; s++) store<i32>(win + (<usize>(m + s) << 2), s);
  for (let j = m - 1; j >= 1; j--) {
    const a = load<i32>(win + (<usize>(2 * j) << 2));
    const b = load<i32>(win + (<usize>(2 * j + 1) << 2));
    if (less(b, a)) {
      store<i32>(win + (<usize>j << 2), b);
      store<i32>(node + (<usize>j << 2), a);
    } else {
      store<i32>(win + (<usize>j << 2), a);
      store<i32>(node + (<usize>j << 2), b);
    }
  }
  winner = load<i32>(win + 4);
  store<i32>(node, winner);
  heap.free(win);
}

@inline function replay(s: i32): i32 {
  let w = s;
  let tw = load<i64>(kTs + (<usize>s << 3));
  let pw = load<u64>(kP + (<usize>s << 3));
  for (let j = (s + m) >> 1; j >= 1; j >>= 1) {
    const np = node + (<usize>j << 2);
    const l = load<i32>(np);
    const tl = load<i64>(kTs + (<usize>l << 3));
    const pl = load<u64>(kP + (<usize>l << 3));
    if (tl < tw || (tl == tw && pl < pw)) {
      store<i32>(np, w);
      w = l;
      tw = tl;
      pw = pl;
    }
  }
  store<i32>(node, w);
  return w;
}

/** The second-smallest slot: best of the winner's beaten opponents; -1 when m = 1. */
@inline function runnerUp(w: i32): i32 {
  let r = -1;
  for (let j = (w + m) >> 1; j >= 1; j >>= 1) {
    const l = load<i32>(node + (<usize>j << 2));
    if (r < 0 || less(l, r)) r = l;
  }
  return r;
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
  if (bytes >= 512) {
    memory.copy(dst, src, bytes);
    return;
  }
  let k: usize = 0;
  while (k + 16 <= bytes) {
    v128.store(dst + k, v128.load(src + k));
    k += 16;
  }
  if (k + 8 <= bytes) {
    store<u64>(dst + k, load<u64>(src + k));
    k += 8;
  }
  if (k + 4 <= bytes) {
    store<u32>(dst + k, load<u32>(src + k));
    k += 4;
  }
  if (k < bytes) store<u16>(dst + k, load<u16>(src + k));
}

/** Copies record q to the output, flags ORed with f. Returns DONE or NEED_SAMPLES (nothing copied; needSamples set). */
@inline function emitRec(q: usize, f: u32): i32 {
  const len = load<i32>(q, 44);
  if (len > outSampleCap - outS) {
    needSamples = outS + len;
    return NEED_SAMPLES;
  }
  const R = <usize>outCap;
  const oc = outCols;
  const o = <usize>outN;
  const o8 = o << 3;
  const o4 = o << 2;
  const o2 = o << 1;
  const ts = load<i64>(q);
  store<i64>(oc + o8, ts);
  store<i64>(oc + (R << 3) + o8, load<i64>(q, 16));
  store<i64>(oc + (R << 4) + o8, <i64>outS);
  store<u64>(oc + R * 24 + o8, load<u64>(q, 24)); // baseline: bits
  store<i64>(oc + (R << 5) + o8, nextId);
  const pid = load<i32>(q, 32);
  store<i32>(oc + R * 40 + o4, pid);
  store<i32>(oc + R * 44 + o4, load<i32>(q, 36));
  store<u32>(oc + R * 48 + o4, load<u32>(q, 40) | f);
  store<i32>(oc + R * 52 + o4, len);
  const ch = load<i16>(q, 48);
  store<i16>(oc + R * 56 + o2, ch);
  store<i16>(oc + R * 58 + o2, load<i16>(q, 50));
  copySamples(outSamples + (<usize>outS << 1), q + HDR, <usize>len);
  outS += len;
  outN++;
  nextId++;
  lastTs = ts;
  lastPid = pid;
  lastCh = ch;
  return DONE;
}

/** Address after `append`: the next record. */
export let cursor: usize = 0;

/** `count` records from q, flags ORed with f (late events): returns a status; `emitted` records were copied, `cursor` is the next. */
export function append(q: usize, count: i32, f: u32): i32 {
  emitted = 0;
  cursor = q;
  for (let r = 0; r < count; r++) {
    if (outN == outCap) return OUT_FULL;
    const st = emitRec(cursor, f);
    if (st != DONE) return st;
    emitted++;
    cursor = nextRec(cursor);
  }
  return DONE;
}

/** Address of record `count` from q. */
export function skip(q: usize, count: i32): usize {
  for (let r = 0; r < count; r++) q = nextRec(q);
  return q;
}

/**
 * Merges: emits rows in key order while the smallest head is below the bound. Returns DONE,
 * SLOT_EMPTY (emptySlot: setSlot or exhaust it, then refilled), OUT_FULL or NEED_SAMPLES.
 */
export function run(): i32 {
  let w = winner;
  if (pendingReplay >= 0) {
    w = replay(pendingReplay);
    pendingReplay = -1;
  }
  while (true) {
    const wo = <usize>w << 3;
    const t = load<i64>(kTs + wo);
    const p = load<u64>(kP + wo);
    if (!(t < bTs || (t == bTs && p < bP))) {
      winner = w;
      return DONE;
    }
    const s4 = <usize>w << 2;
    let q = load<usize>(sPtr + s4);
    let r = load<i32>(sRow + s4);
    const end = load<i32>(sEnd + s4);
    // Won twice in a row: the run goes on while rows precede the runner-up and the bound.
    let limT: i64 = t;
    let limP: u64 = p + 1; // one row (or rows with equal keys) only: the loser tree decides the next
    if (w == prevWinner && m > 1) {
      limT = bTs;
      limP = bP;
      const u = runnerUp(w);
      const ut = load<i64>(kTs + (<usize>u << 3));
      const up = load<u64>(kP + (<usize>u << 3));
      if (ut < limT || (ut == limT && up < limP)) {
        limT = ut;
        limP = up;
      }
    }
    prevWinner = w;
    runs++;
    const ws = <u64>w;
    while (true) {
      if (outN == outCap) {
        store<usize>(sPtr + s4, q);
        store<i32>(sRow + s4, r);
        setKey(w, q);
        pendingReplay = w;
        winner = w;
        return OUT_FULL;
      }
      const st = emitRec(q, 0);
      if (st != DONE) {
        store<usize>(sPtr + s4, q);
        store<i32>(sRow + s4, r);
        setKey(w, q);
        pendingReplay = w;
        winner = w;
        return st;
      }
      r++;
      q = nextRec(q);
      if (r >= end) break;
      const nt = load<i64>(q);
      if (nt > limT) break;
      if (nt == limT && (load<u64>(q, 8) | ws) >= limP) break;
    }
    store<usize>(sPtr + s4, q);
    store<i32>(sRow + s4, r);
    if (r >= end) {
      emptySlot = w;
      winner = w;
      return SLOT_EMPTY;
    }
    setKey(w, q);
    w = replay(w);
  }
  return DONE;
}
