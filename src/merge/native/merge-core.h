/*
 * The merge of the native kernel (merge-kernel.c, the Node-API addon, includes it): no Node-API in
 * here, so a plain C program can drive it too (a scratch harness timed it alone).
 */
#ifndef DAQ_MERGE_CORE_H
#define DAQ_MERGE_CORE_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct napi_ref__;

/*
 * A merge key as one unsigned 128-bit number: the timestamp (sign bit flipped, so unsigned order is
 * signed order) above (pid, channel, slot) (k2 | slot). One comparison is then cmp + sbb, and gcc
 * selects with cmov: the tree's replay is the chain every record waits on, and with (int64, uint64)
 * pairs compared and selected by hand the loop alone (merge-kernel bench) ran 19.6 M records/s at
 * 64 inputs, now 26.1.
 */
typedef unsigned __int128 Key;
#define KEY_MAX (~(Key)0)
static inline Key mkKey(int64_t t, uint64_t p) {
  return ((Key)((uint64_t)t ^ 0x8000000000000000ull) << 64) | p;
}

enum { DONE = 0, SLOT_EMPTY = 1, OUT_FULL = 2, NEED_SAMPLES = 3 };
#define MAX_SLOTS 4096
/* Bytes after the output's samples: a short waveform is copied 128 bytes at a time. */
#define SLACK 128
/* Rows prefetched ahead of an input's head (its columns; its samples half as far). */
#ifndef AHEAD
#define AHEAD 8
#endif

typedef struct {
  const int64_t *ts, *time, *off;
  const double *base;
  const int32_t *pid, *dt;
  const uint32_t *flags;
  const int32_t *len;
  const int16_t *ch, *tt;
  const uint16_t *smp;
  int64_t n, S;
} Batch;

/* What JS reads without a call (src/merge/native-kernel.ts maps it: keep the two in step). */
typedef struct {
  int32_t outN, outS, emitted, emptySlot, needSamples, runs, badRow, pad2;
  int32_t lastPid, lastCh, pad0, pad1;
  int64_t lastTs, nextId;
} Shared;

typedef struct {
  Shared *sh;
  struct napi_ref__ *shRef; /* the addon keeps its ArrayBuffers alive through these (napi_ref) */
  int32_t R, sampleCap, budget;
  uint8_t *outCols;
  struct napi_ref__ *colsRef;
  uint16_t *outSmp;
  struct napi_ref__ *smpRef;
  int m, cap;
  Key *node; /* the loser tree: node j (1 .. m-1) holds the key that lost there */
  Batch *sb;
  int32_t *sRow, *sEnd;
  Key w; /* the winner's key (its slot in the low 16 bits) */
  int pendingReplay, prevWinner;
  Key b; /* the bound: rows with keys below it are merged */
} K;


static inline uint64_t k2(const Batch *x, int64_t r) {
  return ((uint64_t)((uint32_t)x->pid[r] ^ 0x80000000u) << 32) | ((uint64_t)(x->ch[r] + 32768) << 16);
}

/* Row r of slot s's batch as a key. */
static inline Key rowKey(const Batch *x, int64_t r, int s) {
  return mkKey(x->ts[r], k2(x, r) | (uint64_t)s);
}

static inline Key headKey(const K *k, int s) {
  const Batch *x = &k->sb[s];
  int32_t r = k->sRow[s];
  return x->ts && r < k->sEnd[s] ? rowKey(x, r, s) : KEY_MAX;
}

/* Slot s's new head key x goes up the tree: at each node the smaller key goes on, the other stays. */
static inline Key replay(Key *node, int m, int s, Key x) {
  for (int j = (s + m) >> 1; j >= 1; j >>= 1) {
    const Key l = node[j];
    const int sw = l < x;
    node[j] = sw ? x : l;
    x = sw ? l : x;
  }
  return x;
}

/* Slot s has head key x: the winner is set (the tree replayed unless there is one slot). */
static inline void advance(K *k, int s, Key x) {
  k->w = k->m > 1 ? replay(k->node, k->m, s, x) : x;
}

/*
 * Prefetches row r + AHEAD of x (its columns) and the samples of row r + AHEAD / 2. Always inlined:
 * left to itself gcc 12 found a function of only prefetches "pure" and dropped every call to it.
 */
static inline __attribute__((always_inline)) void prefetchAhead(const Batch *x, int64_t r, int64_t end) {
  int64_t q = r + AHEAD;
  if (q >= end) return;
  __builtin_prefetch(&x->ts[q]);
  __builtin_prefetch(&x->time[q]);
  __builtin_prefetch(&x->off[q]);
  __builtin_prefetch(&x->base[q]);
  __builtin_prefetch(&x->pid[q]);
  __builtin_prefetch(&x->dt[q]);
  __builtin_prefetch(&x->flags[q]);
  __builtin_prefetch(&x->len[q]);
  __builtin_prefetch(&x->ch[q]);
  __builtin_prefetch(&x->tt[q]);
  const uint16_t *w = x->smp + x->off[r + AHEAD / 2];
  __builtin_prefetch(w);
  __builtin_prefetch(w + 32);
}

/*
 * The output while a call runs: its columns' addresses and counters in locals (restrict: stores to
 * the output alias nothing else, so the compiler keeps the counters in registers), written back
 * to Shared by outClose.
 */
typedef struct {
  int64_t *restrict ts, *restrict time, *restrict off, *restrict id;
  double *restrict base;
  int32_t *restrict pid, *restrict dt, *restrict len;
  uint32_t *restrict flags;
  int16_t *restrict ch, *restrict tt;
  uint16_t *restrict smp;
  int32_t n, s, R, cap, budget;
  int64_t nextId;
} Out;

static inline void outOpen(const K *k, Out *o) {
  const size_t R = (size_t)k->R;
  uint8_t *oc = k->outCols;
  o->ts = (int64_t *)oc;
  o->time = (int64_t *)(oc + 8 * R);
  o->off = (int64_t *)(oc + 16 * R);
  o->base = (double *)(oc + 24 * R);
  o->id = (int64_t *)(oc + 32 * R);
  o->pid = (int32_t *)(oc + 40 * R);
  o->dt = (int32_t *)(oc + 44 * R);
  o->flags = (uint32_t *)(oc + 48 * R);
  o->len = (int32_t *)(oc + 52 * R);
  o->ch = (int16_t *)(oc + 56 * R);
  o->tt = (int16_t *)(oc + 58 * R);
  o->smp = k->outSmp;
  o->n = k->sh->outN;
  o->s = k->sh->outS;
  o->R = k->R;
  o->cap = k->sampleCap;
  o->budget = k->budget;
  o->nextId = k->sh->nextId;
}

/* Writes the counters back and records the key of the last output row (for JS's lastKey); returns st. */
static int outClose(K *k, const Out *o, int st) {
  Shared *sh = k->sh;
  sh->outN = o->n;
  sh->outS = o->s;
  sh->nextId = o->nextId;
  int32_t i = o->n - 1;
  if (i >= 0) {
    sh->lastTs = o->ts[i];
    sh->lastPid = o->pid[i];
    sh->lastCh = o->ch[i];
  }
  return st;
}

/* Copies row r of x to the output (flags ORed with f): DONE, or OUT_FULL / NEED_SAMPLES (then not copied). */
static inline int put(K *k, Out *o, const Batch *x, int64_t r, uint32_t f) {
  int32_t i = o->n;
  if (i == o->R) return OUT_FULL;
  int32_t len = x->len[r];
  int32_t s = o->s;
  if (len > o->budget - s && i > 0) return OUT_FULL;
  if (len > o->cap - s) {
    k->sh->needSamples = s + len;
    return NEED_SAMPLES;
  }
  o->ts[i] = x->ts[r];
  o->time[i] = x->time[r];
  o->off[i] = s;
  o->base[i] = x->base[r];
  o->id[i] = o->nextId++;
  o->pid[i] = x->pid[r];
  o->dt[i] = x->dt[r];
  o->flags[i] = x->flags[r] | f;
  o->len[i] = len;
  o->ch[i] = x->ch[r];
  o->tt[i] = x->tt[r];
  int64_t at = x->off[r];
  uint16_t *dst = o->smp + s;
  const uint16_t *src = x->smp + at;
  if (len <= 64 && at + 64 <= x->S) {
    /* 128 bytes whatever the length (the source has them; the output has slack): no loop exit to mispredict. */
#ifdef __AVX2__
    /* four 32-byte moves (memcpy of 128 bytes became eight 16-byte ones: 2-3 ns a record more at 64 inputs) */
    typedef uint8_t v32 __attribute__((vector_size(32), aligned(1)));
    const v32 *a = (const v32 *)src;
    v32 *d = (v32 *)dst;
    v32 x0 = a[0], x1 = a[1], x2 = a[2], x3 = a[3];
    d[0] = x0; d[1] = x1; d[2] = x2; d[3] = x3;
#else
    memcpy(dst, src, 128);
#endif
  } else {
    memcpy(dst, src, (size_t)len * 2);
  }
  o->n = i + 1;
  o->s = s + len;
  return DONE;
}

/*
 * Builds the tree over every slot's head key (slots set or exhausted): winners of the matches
 * bottom up, losers stay in the nodes; the overall winner in w. 0, or -1 out of memory.
 */
static int buildTree(K *k) {
  const int m = k->m;
  if (m <= 1) {
    k->w = m == 1 ? headKey(k, 0) : KEY_MAX;
    return 0;
  }
  Key *win = malloc(sizeof(Key) * 2 * (size_t)m);
  if (!win) return -1;
  for (int s = 0; s < m; s++) win[m + s] = headKey(k, s);
  for (int j = m - 1; j >= 1; j--) {
    const Key a = win[2 * j], b = win[2 * j + 1];
    win[j] = b < a ? b : a;
    k->node[j] = b < a ? a : b;
  }
  k->w = win[1];
  free(win);
  return 0;
}

/* Smallest key among the beaten opponents of slot w (the runner-up). */
static inline Key runnerUp(const K *k, int w) {
  Key x = KEY_MAX;
  for (int j = (w + k->m) >> 1; j >= 1; j >>= 1) x = k->node[j] < x ? k->node[j] : x;
  return x;
}

static int runMerge(K *k) {
  if (k->pendingReplay >= 0) {
    const int s = k->pendingReplay;
    k->pendingReplay = -1;
    advance(k, s, headKey(k, s));
  }
  Out o;
  outOpen(k, &o);
  Key *const node = k->node;
  const int m = k->m;
  const Key b = k->b;
  Key w = k->w;
  int st = DONE;
  while (w < b) {
    const int ws = (int)((uint64_t)w & 0xffff);
    const Batch *x = &k->sb[ws];
    int32_t r = k->sRow[ws];
    const int32_t end = k->sEnd[ws];
    if (ws != k->prevWinner) {
      /* One row; the tree then decides the next winner (this input again if due). */
      k->sh->runs++;
      k->prevWinner = ws;
      prefetchAhead(x, r, end);
      st = put(k, &o, x, r, 0);
      if (st == DONE) r++;
    } else {
      /* Won twice in a row: the run goes on while rows precede the runner-up and the bound. */
      Key lim = b;
      if (m > 1) {
        const Key ru = runnerUp(k, ws);
        lim = ru < lim ? ru : lim;
      }
      for (;;) {
        prefetchAhead(x, r, end);
        st = put(k, &o, x, r, 0);
        if (st != DONE) break;
        r++;
        if (r >= end || rowKey(x, r, ws) >= lim) break;
      }
    }
    k->sRow[ws] = r;
    if (st != DONE) {
      k->pendingReplay = ws; /* the head is row r: its key becomes the winner's when the caller comes back */
      break;
    }
    if (r >= end) {
      k->sh->emptySlot = ws;
      st = SLOT_EMPTY;
      break;
    }
    w = rowKey(x, r, ws);
    if (m > 1) w = replay(node, m, ws, w);
  }
  k->w = w;
  return outClose(k, &o, st);
}

#endif
