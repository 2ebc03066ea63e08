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
  int64_t *nodeT;
  uint64_t *nodeP;
  Batch *sb;
  int32_t *sRow, *sEnd;
  int64_t wT;
  uint64_t wP;
  int pendingReplay, prevWinner;
  int64_t bT;
  uint64_t bP;
} K;


static inline uint64_t k2(const Batch *x, int64_t r) {
  return ((uint64_t)((uint32_t)x->pid[r] ^ 0x80000000u) << 32) | ((uint64_t)(x->ch[r] + 32768) << 16);
}

static inline void headKey(const K *k, int s, int64_t *t, uint64_t *p) {
  const Batch *x = &k->sb[s];
  int32_t r = k->sRow[s];
  if (x->ts && r < k->sEnd[s]) {
    *t = x->ts[r];
    *p = k2(x, r) | (uint64_t)s;
  } else {
    *t = INT64_MAX;
    *p = UINT64_MAX;
  }
}

static inline void replay(int64_t *nt, uint64_t *np, int m, int s, int64_t *wT, uint64_t *wP) {
  int64_t t = *wT;
  uint64_t p = *wP;
  for (int j = (s + m) >> 1; j >= 1; j >>= 1) {
    int64_t lt = nt[j];
    uint64_t lp = np[j];
    /* Branch-free (masks, not ?: which gcc turns into branches here): on interleaved inputs the
       comparison is a coin toss, and a mispredicted branch per level cost a third of the time. */
    const uint64_t sw = -(uint64_t)((lt < t) | ((lt == t) & (lp < p)));
    const uint64_t ut = (uint64_t)t, ult = (uint64_t)lt;
    nt[j] = (int64_t)((ut & sw) | (ult & ~sw));
    np[j] = (p & sw) | (lp & ~sw);
    t = (int64_t)((ult & sw) | (ut & ~sw));
    p = (lp & sw) | (p & ~sw);
  }
  *wT = t;
  *wP = p;
}

/* Slot s has head key (t, p): the winner is set (the tree replayed unless there is one slot). */
static inline void advance(K *k, int s, int64_t t, uint64_t p) {
  k->wT = t;
  k->wP = p;
  if (k->m > 1) replay(k->nodeT, k->nodeP, k->m, s, &k->wT, &k->wP);
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
 * bottom up, losers stay in the nodes; the overall winner in (wT, wP). 0, or -1 out of memory.
 */
static int buildTree(K *k) {
  const int m = k->m;
  if (m <= 1) {
    if (m == 1) {
      headKey(k, 0, &k->wT, &k->wP);
    } else {
      k->wT = INT64_MAX;
      k->wP = UINT64_MAX;
    }
    return 0;
  }
  int64_t *winT = malloc(sizeof(int64_t) * 2 * (size_t)m);
  uint64_t *winP = malloc(sizeof(uint64_t) * 2 * (size_t)m);
  if (!winT || !winP) {
    free(winT);
    free(winP);
    return -1;
  }
  for (int s = 0; s < m; s++) headKey(k, s, &winT[m + s], &winP[m + s]);
  for (int j = m - 1; j >= 1; j--) {
    int64_t at = winT[2 * j], bt = winT[2 * j + 1];
    uint64_t ap = winP[2 * j], bp = winP[2 * j + 1];
    int bLess = bt < at || (bt == at && bp < ap);
    winT[j] = bLess ? bt : at;
    winP[j] = bLess ? bp : ap;
    k->nodeT[j] = bLess ? at : bt;
    k->nodeP[j] = bLess ? ap : bp;
  }
  k->wT = winT[1];
  k->wP = winP[1];
  free(winT);
  free(winP);
  return 0;
}

/* Smallest key among the beaten opponents of slot w (the runner-up). */
static inline void runnerUp(const K *k, int w, int64_t *rt, uint64_t *rp) {
  int64_t t = INT64_MAX;
  uint64_t p = UINT64_MAX;
  for (int j = (w + k->m) >> 1; j >= 1; j >>= 1) {
    int64_t lt = k->nodeT[j];
    uint64_t lp = k->nodeP[j];
    int sw = (lt < t) | ((lt == t) & (lp < p));
    t = sw ? lt : t;
    p = sw ? lp : p;
  }
  *rt = t;
  *rp = p;
}

static int runMerge(K *k) {
  if (k->pendingReplay >= 0) {
    int s = k->pendingReplay;
    int64_t t;
    uint64_t p;
    k->pendingReplay = -1;
    headKey(k, s, &t, &p);
    advance(k, s, t, p);
  }
  Out o;
  outOpen(k, &o);
  int64_t *const nt = k->nodeT;
  uint64_t *const np = k->nodeP;
  const int m = k->m;
  const int64_t bT = k->bT;
  const uint64_t bP = k->bP;
  int64_t wT = k->wT;
  uint64_t wP = k->wP;
  int st = DONE;
  for (;;) {
    if (!(wT < bT || (wT == bT && wP < bP))) break;
    const int w = (int)(wP & 0xffff);
    const Batch *x = &k->sb[w];
    int32_t r = k->sRow[w];
    const int32_t end = k->sEnd[w];
    if (w != k->prevWinner) {
      /* One row; the tree then decides the next winner (this input again if due). */
      k->sh->runs++;
      k->prevWinner = w;
      prefetchAhead(x, r, end);
      st = put(k, &o, x, r, 0);
      if (st == DONE) r++;
    } else {
      /* Won twice in a row: the run goes on while rows precede the runner-up and the bound. */
      int64_t limT = bT;
      uint64_t limP = bP;
      if (m > 1) {
        int64_t ruT;
        uint64_t ruP;
        runnerUp(k, w, &ruT, &ruP);
        if (ruT < limT || (ruT == limT && ruP < limP)) {
          limT = ruT;
          limP = ruP;
        }
      }
      for (;;) {
        prefetchAhead(x, r, end);
        st = put(k, &o, x, r, 0);
        if (st != DONE) break;
        r++;
        if (r >= end) break;
        int64_t t = x->ts[r];
        if (t > limT) break;
        if (t == limT && (k2(x, r) | (uint64_t)w) >= limP) break;
      }
    }
    k->sRow[w] = r;
    if (st != DONE) {
      k->pendingReplay = w; /* the head is row r: its key becomes the winner's when the caller comes back */
      break;
    }
    if (r >= end) {
      k->sh->emptySlot = w;
      st = SLOT_EMPTY;
      break;
    }
    wT = x->ts[r];
    wP = k2(x, r) | (uint64_t)w;
    if (m > 1) replay(nt, np, m, w, &wT, &wP);
  }
  k->wT = wT;
  k->wP = wP;
  return outClose(k, &o, st);
}

#endif
