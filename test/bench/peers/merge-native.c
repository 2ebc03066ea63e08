/*
 * A native peer of the streaming merge, for the merge bench (test/bench/merge.bench.ts): the same
 * k-way merge of the same events, in C (gcc -O3 -march=native), so the bench can print what one
 * core of this machine does natively beside what the merge does.
 *
 * It does what StreamingMerge's kernel does with a borrowing consumer, with every advantage a
 * native program has: each input is one contiguous run of columns (no batches, no checks, no
 * watermark, no copy into a working area), and the output goes to one reused area.
 *  - a loser tree over the inputs' head keys (timestamp, then pid, channel and input, as the
 *    kernel's keys), replayed without branches on the data;
 *  - each winning row is copied out at once: 11 columns (wave_offset rewritten to the global
 *    position, event_id assigned) and its samples (memcpy), into output batches of up to 8192 rows
 *    and 1 Mi samples. (Writing the order first and gathering after, as the WebAssembly kernel
 *    does, ran 5-10 % slower here: 42 vs 46 M records/s at k = 2, 13.0-13.5 vs 13.5-14.9 at 64.)
 *  - software prefetch of each input's rows a few rows ahead (WebAssembly has no prefetch
 *    instruction; the kernel's chunk copies stand in for it). At k = 64 this took the peer from
 *    13.7-14.6 to 18.4-19.4 M records/s (three runs each, 8 rows ahead; 16 and 32 were slower);
 *  - each full output batch is handed to consume(), which reads it (as the bench's sink does).
 *
 * Input (written by the bench): "DAQMERGE", int64 k, then per input int64 n, int64 S and its
 * arrays: timestamp i64[n], time i64[n], wave_offset i64[n] (into this input's samples),
 * baseline f64[n], pid i32[n], dt i32[n], flags u32[n], event_length i32[n], channel i16[n],
 * trigger_type i16[n], samples u16[S].
 * Usage: merge-native FILE REPS. Prints one line per rep: `seconds records samples`, then
 * `ok` once an untimed run has checked the output (key order, offsets contiguous, event ids,
 * every waveform byte-identical to its source); exit 1 and a message on stderr otherwise.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  int64_t *ts, *time, *off;
  double *base;
  int32_t *pid, *dt;
  uint32_t *flags;
  int32_t *len;
  int16_t *ch, *tt;
  uint16_t *smp;
  int64_t n, S;
} Input;

#define R 8192
#define SAMPLE_BUDGET (1 << 20)
#ifndef AHEAD
#define AHEAD 8 /* rows prefetched ahead; -DAHEAD=0 builds the peer without prefetch */
#endif

static int k;
static Input *in;
static int64_t *row; /* per input: next row */
static int64_t *nodeT; /* loser tree: node j > 0 holds the loser of its match */
static uint64_t *nodeP;

static int64_t oTs[R], oTime[R], oOff[R], oId[R];
static double oBase[R];
static int32_t oPid[R], oDt[R], oLen[R];
static uint32_t oFlags[R];
static int16_t oCh[R], oTt[R];
static uint16_t *oSmp;

static int64_t nextId, nextSample, consumedRows, consumedSamples;
static int verifying;
static const char *bad;
static int64_t prevT;
static uint64_t prevP; /* key of the last row consumed (k2 without the input) */

static void *xmalloc(size_t n) {
  void *p = NULL;
  if (posix_memalign(&p, 64, n ? n : 64)) {
    fprintf(stderr, "merge-native: out of memory (%zu bytes)\n", n);
    exit(1);
  }
  return p;
}

static void readArr(FILE *f, void *p, size_t bytes, const char *name) {
  if (fread(p, 1, bytes, f) != bytes) {
    fprintf(stderr, "merge-native: input file ends inside %s\n", name);
    exit(1);
  }
}

/* k2 of row r of input s: (pid ^ 2^31) << 32 | (channel + 2^15) << 16 | s, compared unsigned. */
static inline uint64_t k2(const Input *x, int64_t r, int s) {
  return ((uint64_t)((uint32_t)x->pid[r] ^ 0x80000000u) << 32) | ((uint64_t)(x->ch[r] + 32768) << 16) | (uint64_t)s;
}

static inline void headKey(int s, int64_t *t, uint64_t *p) {
  const Input *x = &in[s];
  int64_t r = row[s];
  if (r < x->n) {
    *t = x->ts[r];
    *p = k2(x, r, s);
  } else {
    *t = INT64_MAX;
    *p = UINT64_MAX;
  }
}

/* Reads the output batch: the bench's sink counts rows; here the sums also keep the compiler honest. */
static int64_t checksum;
__attribute__((noinline)) static void consume(int n, int64_t S) {
  consumedRows += n;
  consumedSamples += S;
  checksum += oTs[n - 1] + oId[n - 1] + oOff[n - 1] + (S ? oSmp[S - 1] : 0);
  if (verifying) {
    for (int i = 0; i < n; i++) {
      uint64_t p = ((uint64_t)((uint32_t)oPid[i] ^ 0x80000000u) << 32) | ((uint64_t)(oCh[i] + 32768) << 16);
      if (oTs[i] < prevT || (oTs[i] == prevT && p < prevP)) bad = "records out of key order";
      prevT = oTs[i];
      prevP = p;
      if (oId[i] != oId[0] + i) bad = "event ids not consecutive";
      if (i > 0 && oOff[i] != oOff[i - 1] + oLen[i - 1]) bad = "wave offsets not contiguous";
    }
  }
}

/* The output batch is complete: hands it over and starts the next one. */
static void emitBatch(int n, int64_t S) {
  consume(n, S);
  nextId += n;
  nextSample += S;
}

static void mergeAll(void) {
  nextId = nextSample = consumedRows = consumedSamples = 0;
  for (int s = 0; s < k; s++) row[s] = 0;
  int64_t wT;
  uint64_t wP;
  /* Build: winners bottom up, losers stay in the nodes. */
  int64_t *winT = xmalloc(sizeof(int64_t) * 2 * (size_t)k);
  uint64_t *winP = xmalloc(sizeof(uint64_t) * 2 * (size_t)k);
  for (int s = 0; s < k; s++) headKey(s, &winT[k + s], &winP[k + s]);
  for (int j = k - 1; j >= 1; j--) {
    int64_t at = winT[2 * j], bt = winT[2 * j + 1];
    uint64_t ap = winP[2 * j], bp = winP[2 * j + 1];
    int bLess = bt < at || (bt == at && bp < ap);
    winT[j] = bLess ? bt : at;
    winP[j] = bLess ? bp : ap;
    nodeT[j] = bLess ? at : bt;
    nodeP[j] = bLess ? ap : bp;
  }
  wT = winT[1]; /* k = 1: the leaf itself */
  wP = winP[1];
  free(winT);
  free(winP);

  int outN = 0;
  int64_t outS = 0;
  while (!(wT == INT64_MAX && wP == UINT64_MAX)) {
    int s = (int)(wP & 0xffff);
    const Input *x = &in[s];
    int64_t r = row[s];
    int32_t len = x->len[r];
    if (outN == R || (outS + len > SAMPLE_BUDGET && outN > 0)) {
      emitBatch(outN, outS);
      outN = 0;
      outS = 0;
    }
    /* Prefetch: the input's row AHEAD rows on (its columns) and AHEAD / 2 on (its samples), so
       their cache misses overlap the merge instead of stalling it (the inputs are far larger
       than the caches, and 64 inputs are more sequential streams than the hardware follows). */
    if (AHEAD > 0 && r + AHEAD < x->n) {
      int64_t q = r + AHEAD;
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
    /* The row and its samples, copied as it wins. */
    int i = outN;
    oTs[i] = x->ts[r];
    oTime[i] = x->time[r];
    oOff[i] = nextSample + outS;
    oBase[i] = x->base[r];
    oId[i] = nextId + i;
    oPid[i] = x->pid[r];
    oDt[i] = x->dt[r];
    oFlags[i] = x->flags[r];
    oLen[i] = len;
    oCh[i] = x->ch[r];
    oTt[i] = x->tt[r];
    memcpy(oSmp + outS, x->smp + x->off[r], (size_t)len * 2);
    if (verifying && memcmp(oSmp + outS, x->smp + x->off[r], (size_t)len * 2) != 0) bad = "waveform differs from its source";
    outN++;
    outS += len;
    row[s] = ++r;
    int64_t t;
    uint64_t p;
    if (r < x->n) {
      t = x->ts[r];
      p = k2(x, r, s);
    } else {
      t = INT64_MAX;
      p = UINT64_MAX;
    }
    /* Replay from the leaf up: at each node the smaller key goes on, the larger stays. */
    for (int j = (s + k) >> 1; j >= 1; j >>= 1) {
      int64_t lt = nodeT[j];
      uint64_t lp = nodeP[j];
      int sw = (lt < t) | ((lt == t) & (lp < p));
      nodeT[j] = sw ? t : lt;
      nodeP[j] = sw ? p : lp;
      t = sw ? lt : t;
      p = sw ? lp : p;
    }
    wT = t;
    wP = p;
  }
  if (outN) emitBatch(outN, outS);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: merge-native FILE REPS\n");
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    perror(argv[1]);
    return 1;
  }
  char magic[8];
  int64_t kk;
  readArr(f, magic, 8, "the header");
  readArr(f, &kk, 8, "the header");
  if (memcmp(magic, "DAQMERGE", 8) != 0 || kk < 1 || kk > 4096) {
    fprintf(stderr, "merge-native: %s is not a merge input file\n", argv[1]);
    return 1;
  }
  k = (int)kk;
  in = xmalloc(sizeof(Input) * (size_t)k);
  int64_t totalRows = 0, totalSamples = 0, maxLen = 0;
  for (int s = 0; s < k; s++) {
    Input *x = &in[s];
    readArr(f, &x->n, 8, "an input's header");
    readArr(f, &x->S, 8, "an input's header");
    size_t n = (size_t)x->n;
    x->ts = xmalloc(n * 8);
    x->time = xmalloc(n * 8);
    x->off = xmalloc(n * 8);
    x->base = xmalloc(n * 8);
    x->pid = xmalloc(n * 4);
    x->dt = xmalloc(n * 4);
    x->flags = xmalloc(n * 4);
    x->len = xmalloc(n * 4);
    x->ch = xmalloc(n * 2);
    x->tt = xmalloc(n * 2);
    x->smp = xmalloc((size_t)x->S * 2);
    readArr(f, x->ts, n * 8, "timestamp");
    readArr(f, x->time, n * 8, "time");
    readArr(f, x->off, n * 8, "wave_offset");
    readArr(f, x->base, n * 8, "baseline");
    readArr(f, x->pid, n * 4, "pid");
    readArr(f, x->dt, n * 4, "dt");
    readArr(f, x->flags, n * 4, "flags");
    readArr(f, x->len, n * 4, "event_length");
    readArr(f, x->ch, n * 2, "channel");
    readArr(f, x->tt, n * 2, "trigger_type");
    readArr(f, x->smp, (size_t)x->S * 2, "samples");
    for (size_t r = 0; r < n; r++) {
      if (x->off[r] < 0 || x->len[r] < 0 || x->off[r] + x->len[r] > x->S) {
        fprintf(stderr, "merge-native: input %d row %zu: waveform outside the samples\n", s, r);
        return 1;
      }
      if (x->len[r] > maxLen) maxLen = x->len[r];
    }
    totalRows += x->n;
    totalSamples += x->S;
  }
  fclose(f);
  row = xmalloc(sizeof(int64_t) * (size_t)k);
  nodeT = xmalloc(sizeof(int64_t) * (size_t)k);
  nodeP = xmalloc(sizeof(uint64_t) * (size_t)k);
  oSmp = xmalloc(((size_t)SAMPLE_BUDGET + (size_t)maxLen) * 2);

  int reps = atoi(argv[2]);
  mergeAll(); /* warm-up */
  for (int i = 0; i < reps; i++) {
    double t0 = now();
    mergeAll();
    double dt = now() - t0;
    printf("%.6f %lld %lld\n", dt, (long long)consumedRows, (long long)consumedSamples);
  }
  verifying = 1;
  prevT = INT64_MIN;
  prevP = 0;
  mergeAll();
  if (!bad && consumedRows != totalRows) bad = "records lost";
  if (!bad && consumedSamples != totalSamples) bad = "samples lost";
  if (bad) {
    fprintf(stderr, "merge-native: %s\n", bad);
    return 1;
  }
  printf("ok %lld\n", (long long)(checksum & 0xff));
  return 0;
}
