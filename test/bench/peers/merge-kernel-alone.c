/*
 * The native merge kernel's loop alone (src/merge/native/merge-core.h, driven from C: no Node, no
 * push-time check, no JS between merge steps), for the merge-kernel bench
 * (test/bench/merge-kernel.bench.ts): how fast the loop itself is, so the merge bench's figures
 * can be split into loop and glue.
 *
 * Usage: merge-kernel-alone K N BATCH REPS. K inputs of N / K events each, in batches of BATCH rows
 * (each column its own allocation, as Arrow's are); Poisson timestamps (mean gap 1000), so the
 * inputs interleave event by event; lengths 1..63 samples (mean 32); pid 0, channel = input. Each
 * rep merges everything (a borrowing consumer: output batches of 8192 rows / 1 Mi samples reused)
 * and prints `kernel SECONDS RECORDS SAMPLES`, then `memcpy SECONDS BYTES`: a plain memcpy of the
 * same column and sample bytes in the same run (the reference). Then an untimed merge checks its
 * output (key order, event ids, contiguous offsets, each waveform equal to its source, every record
 * once) and prints `ok`; exit 1 with a message on stderr otherwise.
 */
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "../../../src/merge/native/merge-core.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint64_t rs = 88172645463325252ull;
static double rnd(void) {
  rs ^= rs << 13;
  rs ^= rs >> 7;
  rs ^= rs << 17;
  return (double)(rs >> 11) * (1.0 / 9007199254740992.0);
}

/* Sample j of event r of input s: what the check expects. */
static inline uint16_t sampleOf(int s, int64_t r, int j) {
  return (uint16_t)((s * 7919 + r * 31 + j * 3) & 0x3fff);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "merge-kernel-alone: out of memory\n");
    exit(1);
  }
  return p;
}

static int nIn, nb;
static int64_t per, BATCH;
static Batch **in; /* in[s][b] */

static void makeInputs(void) {
  in = xmalloc(sizeof(Batch *) * (size_t)nIn);
  for (int s = 0; s < nIn; s++) {
    in[s] = calloc((size_t)nb, sizeof(Batch));
    double t = 0;
    for (int b = 0; b < nb; b++) {
      int64_t n = per - (int64_t)b * BATCH;
      if (n > BATCH) n = BATCH;
      int64_t *ts = xmalloc(n * 8), *tm = calloc(n, 8), *off = xmalloc(n * 8);
      double *base = calloc(n, 8);
      int32_t *pid = calloc(n, 4), *dt = calloc(n, 4), *len = xmalloc(n * 4);
      uint32_t *fl = calloc(n, 4);
      int16_t *ch = xmalloc(n * 2), *tt = calloc(n, 2);
      int64_t o = 0;
      for (int64_t i = 0; i < n; i++) {
        t += 1 + floor(-log(1 - rnd()) * 1000);
        ts[i] = (int64_t)t;
        ch[i] = (int16_t)s;
        len[i] = 1 + (int32_t)(rnd() * 63);
        off[i] = o;
        o += len[i];
      }
      uint16_t *smp = xmalloc(o * 2);
      for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < len[i]; j++) smp[off[i] + j] = sampleOf(s, (int64_t)b * BATCH + i, j);
      in[s][b] = (Batch){ts, tm, off, base, pid, dt, fl, len, ch, tt, smp, n, o};
    }
  }
}

static K k; /* the kernel's state (merge-core.h) */
static Shared sh;
static int *bi;
/* Check state */
static int verifying;
static const char *bad;
static int64_t prevT, total, totalSamples, *cursor;
static int prevCh;

static void check(void) {
  const size_t R = (size_t)k.R;
  const int64_t *ots = (const int64_t *)k.outCols, *ooff = (const int64_t *)(k.outCols + 16 * R), *oid = (const int64_t *)(k.outCols + 32 * R);
  const int32_t *olen = (const int32_t *)(k.outCols + 52 * R);
  const int16_t *och = (const int16_t *)(k.outCols + 56 * R);
  int64_t so = 0;
  for (int i = 0; i < sh.outN; i++) {
    int s = och[i];
    if (ots[i] < prevT || (ots[i] == prevT && s < prevCh)) bad = "records out of key order";
    prevT = ots[i];
    prevCh = s;
    if (oid[i] != total + i) bad = "event ids not consecutive";
    if (ooff[i] != so) bad = "wave offsets not contiguous";
    if (s < 0 || s >= nIn) {
      bad = "channel out of range";
      return;
    }
    int64_t r = cursor[s]++;
    for (int j = 0; j < olen[i]; j++)
      if (k.outSmp[so + j] != sampleOf(s, r, j)) bad = "waveform differs from its source";
    so += olen[i];
  }
}

/* One merge of every input; returns records merged. */
static int64_t mergeAll(void) {
  k.m = nIn;
  for (int s = 0; s < nIn; s++) {
    bi[s] = 0;
    k.sb[s] = in[s][0];
    k.sRow[s] = 0;
    k.sEnd[s] = (int32_t)in[s][0].n;
  }
  k.pendingReplay = -1;
  k.prevWinner = -1;
  k.b = KEY_MAX;
  sh.outN = sh.outS = 0;
  sh.nextId = 0;
  if (buildTree(&k) != 0) {
    fprintf(stderr, "merge-kernel-alone: out of memory\n");
    exit(1);
  }
  total = totalSamples = 0;
  for (;;) {
    int st = runMerge(&k);
    if (st == OUT_FULL || st == DONE) {
      if (verifying) check();
      total += sh.outN;
      totalSamples += sh.outS;
      sh.outN = sh.outS = 0;
      if (st == DONE) break;
    } else if (st == SLOT_EMPTY) {
      int s = sh.emptySlot;
      if (++bi[s] < nb && in[s][bi[s]].n > 0) {
        k.sb[s] = in[s][bi[s]];
        k.sRow[s] = 0;
        k.sEnd[s] = (int32_t)in[s][bi[s]].n;
      } else {
        memset(&k.sb[s], 0, sizeof(Batch));
        k.sRow[s] = k.sEnd[s] = 0;
      }
      k.pendingReplay = s;
    } else {
      fprintf(stderr, "merge-kernel-alone: status %d (an event longer than the sample area?)\n", st);
      exit(1);
    }
  }
  return total;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: merge-kernel-alone nIn N BATCH REPS\n");
    return 2;
  }
  nIn = atoi(argv[1]);
  int64_t N = atoll(argv[2]);
  BATCH = atoll(argv[3]);
  int reps = atoi(argv[4]);
  if (nIn < 1 || nIn > MAX_SLOTS || N < nIn || BATCH < 1 || reps < 1) {
    fprintf(stderr, "merge-kernel-alone: nIn from 1 to %d, N >= nIn, BATCH >= 1, REPS >= 1\n", MAX_SLOTS);
    return 2;
  }
  per = N / nIn;
  nb = (int)((per + BATCH - 1) / BATCH);
  makeInputs();
  k.sh = &sh;
  k.R = 8192;
  k.sampleCap = 1 << 20;
  k.budget = 1 << 20;
  k.outCols = xmalloc((size_t)k.R * 60);
  k.outSmp = xmalloc(((size_t)k.sampleCap + SLACK) * 2);
  k.node = xmalloc(sizeof(Key) * nIn);
  k.sb = xmalloc(sizeof(Batch) * nIn);
  k.sRow = xmalloc(sizeof(int32_t) * nIn);
  k.sEnd = xmalloc(sizeof(int32_t) * nIn);
  k.cap = nIn;
  bi = xmalloc(sizeof(int) * nIn);
  cursor = calloc(nIn, sizeof(int64_t));
  /* The reference: memcpy of the same bytes (52 bytes of columns a record and the samples). */
  int64_t bytes = 0;
  for (int s = 0; s < nIn; s++)
    for (int b = 0; b < nb; b++) bytes += in[s][b].n * 52 + in[s][b].S * 2;
  uint8_t *dst = xmalloc((size_t)bytes);
  memset(dst, 0, (size_t)bytes); /* its pages faulted in before the timed copies */
  mergeAll(); /* warm-up */
  for (int rep = 0; rep < reps; rep++) {
    double t0 = now();
    int64_t n = mergeAll();
    double t1 = now();
    printf("kernel %.6f %lld %lld\n", t1 - t0, (long long)n, (long long)totalSamples);
    t0 = now();
    uint8_t *d = dst;
    for (int s = 0; s < nIn; s++) {
      for (int b = 0; b < nb; b++) {
        const Batch *x = &in[s][b];
        const size_t n8 = (size_t)x->n * 8, n4 = (size_t)x->n * 4, n2 = (size_t)x->n * 2;
        memcpy(d, x->ts, n8), d += n8;
        memcpy(d, x->time, n8), d += n8;
        memcpy(d, x->off, n8), d += n8;
        memcpy(d, x->base, n8), d += n8;
        memcpy(d, x->pid, n4), d += n4;
        memcpy(d, x->dt, n4), d += n4;
        memcpy(d, x->flags, n4), d += n4;
        memcpy(d, x->len, n4), d += n4;
        memcpy(d, x->ch, n2), d += n2;
        memcpy(d, x->tt, n2), d += n2;
        memcpy(d, x->smp, (size_t)x->S * 2), d += x->S * 2;
      }
    }
    t1 = now();
    printf("memcpy %.6f %lld %u\n", t1 - t0, (long long)bytes, dst[bytes / 2]);
  }
  verifying = 1;
  prevT = INT64_MIN;
  prevCh = -1;
  int64_t n = mergeAll();
  if (!bad && n != per * nIn) bad = "records lost";
  for (int s = 0; !bad && s < nIn; s++)
    if (cursor[s] != per) bad = "an input's records not all merged";
  if (bad) {
    fprintf(stderr, "merge-kernel-alone: %s\n", bad);
    return 1;
  }
  printf("ok\n");
  return 0;
}
