/*
 * The native kernel of StreamingMerge: a Node-API addon, built at `npm ci` (scripts/build-native.mjs,
 * or `npm run build:native`) into build/merge-kernel.node when a C compiler is there. Without it the
 * merge uses the WebAssembly kernel (src/merge/wasm), which does the same work at ~0.6 of the
 * speed at 64 inputs: WebAssembly has no prefetch instruction, so that kernel copies each input a
 * chunk at a time into its memory, where this one reads the inputs' Arrow columns where they lie
 * and prefetches each input's rows a few rows ahead of the merge.
 *
 * Same merge as src/merge/wasm/assembly/merge-kernel.ts (read its header): a loser tree over the
 * inputs' head keys (ts signed, k2 unsigned; k2 = (pid ^ 2^31) << 32 | (channel + 2^15) << 16 |
 * slot), replayed without branches on the data; runs (one input winning again) copied while they
 * stay below the runner-up and the bound. Here each winning row is copied out as it wins (11
 * columns, wave_offset rewritten, event_id assigned, and its samples), which natively was faster
 * than writing the order first (test/bench/peers/merge-native.c).
 *
 * Memory: JS gives each batch's typed arrays to describe(), which returns a small ArrayBuffer
 * holding their addresses (a Batch); the JS side keeps the typed arrays alive (and undetached) as
 * long as it keeps that descriptor, and a slot copies the Batch it merges. prepare() checks a batch
 * (key order, every waveform inside its samples) before it is merged: the merge then reads no
 * address outside the arrays it was given. Output goes to an area of two ArrayBuffers JS gives
 * (create, setArea: the columns in the WebAssembly kernel's layout, and the samples, which grow on
 * NEED_SAMPLES into one this addon makes), so that a full output batch can leave as it lies while
 * the kernel goes on in a new area; the small counters JS reads (outN, outS, nextId, ...) live in a
 * shared ArrayBuffer (Shared).
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "merge-core.h"

/* ---- Node-API plumbing ---- */

#define CHECK(env, call)                                                      \
  do {                                                                        \
    if ((call) != napi_ok) {                                                  \
      const napi_extended_error_info *info_ = NULL;                           \
      napi_get_last_error_info((env), &info_);                                \
      bool pending_ = false;                                                  \
      napi_is_exception_pending((env), &pending_);                            \
      if (!pending_)                                                          \
        napi_throw_error((env), NULL, info_ && info_->error_message ? info_->error_message : "merge-kernel: Node-API call failed"); \
      return NULL;                                                            \
    }                                                                         \
  } while (0)

#define ARGS(n)                                                               \
  size_t argc = (n);                                                          \
  napi_value argv[(n) > 0 ? (n) : 1];                                         \
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));           \
  if (argc < (size_t)(n)) {                                                   \
    napi_throw_type_error(env, NULL, "merge-kernel: too few arguments");      \
    return NULL;                                                              \
  }

static napi_value num(napi_env env, double v) {
  napi_value r;
  if (napi_create_double(env, v, &r) != napi_ok) return NULL;
  return r;
}

static int getI32(napi_env env, napi_value v, int32_t *out) {
  if (napi_get_value_int32(env, v, out) != napi_ok) {
    napi_throw_type_error(env, NULL, "merge-kernel: a number was expected");
    return 0;
  }
  return 1;
}

static int getI64(napi_env env, napi_value v, int64_t *out) {
  bool lossless;
  if (napi_get_value_bigint_int64(env, v, out, &lossless) != napi_ok) {
    napi_throw_type_error(env, NULL, "merge-kernel: a bigint was expected");
    return 0;
  }
  return 1;
}

static K *getK(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) {
    napi_throw_type_error(env, NULL, "merge-kernel: not a kernel handle");
    return NULL;
  }
  return (K *)p;
}

/* The Batch in a descriptor made by describe(). */
static const Batch *getBatch(napi_env env, napi_value v) {
  void *data = NULL;
  size_t len = 0;
  if (napi_get_arraybuffer_info(env, v, &data, &len) != napi_ok || len != sizeof(Batch)) {
    napi_throw_type_error(env, NULL, "merge-kernel: not a batch descriptor");
    return NULL;
  }
  return (const Batch *)data;
}

static void finalizeK(napi_env env, void *data, void *hint) {
  (void)hint;
  K *k = (K *)data;
  if (k->shRef) napi_delete_reference(env, k->shRef);
  if (k->colsRef) napi_delete_reference(env, k->colsRef);
  if (k->smpRef) napi_delete_reference(env, k->smpRef);
  free(k->node);
  free(k->sb);
  free(k->sRow);
  free(k->sEnd);
  free(k);
}

/* A new ArrayBuffer of `bytes` that k keeps alive through *ref (an old one is let go). */
static napi_value keptBuffer(napi_env env, size_t bytes, void **data, napi_ref *ref) {
  napi_value ab;
  if (napi_create_arraybuffer(env, bytes, data, &ab) != napi_ok) {
    napi_throw_range_error(env, NULL, "merge-kernel: cannot allocate its output area");
    return NULL;
  }
  if (*ref) napi_delete_reference(env, *ref);
  *ref = NULL;
  if (napi_create_reference(env, ab, 1, ref) != napi_ok) return NULL;
  return ab;
}

/*
 * The output goes to ArrayBuffers JS gives (so that a full output batch can leave as it is, the
 * kernel taking new ones): cols of R * 60 bytes at least (the columns at fixed offsets, 8-byte
 * aligned), smp of cap samples and SLACK bytes more. k keeps both alive until it is given others.
 */
static int useArea(napi_env env, K *k, napi_value cols, napi_value smp, int32_t cap) {
  void *cd = NULL, *sd = NULL;
  size_t cn = 0, sn = 0;
  if (napi_get_arraybuffer_info(env, cols, &cd, &cn) != napi_ok || napi_get_arraybuffer_info(env, smp, &sd, &sn) != napi_ok) {
    napi_throw_type_error(env, NULL, "merge-kernel: the output area must be two ArrayBuffers");
    return 0;
  }
  if (cap < 1 || cn < (size_t)k->R * 60 || sn < (size_t)cap * 2 + SLACK || ((uintptr_t)cd & 7) || ((uintptr_t)sd & 1)) {
    napi_throw_range_error(env, NULL, "merge-kernel: the output area is too small or misaligned");
    return 0;
  }
  napi_ref cr = NULL, sr = NULL;
  if (napi_create_reference(env, cols, 1, &cr) != napi_ok || napi_create_reference(env, smp, 1, &sr) != napi_ok) {
    if (cr) napi_delete_reference(env, cr);
    return 0;
  }
  if (k->colsRef) napi_delete_reference(env, k->colsRef);
  if (k->smpRef) napi_delete_reference(env, k->smpRef);
  k->colsRef = cr;
  k->smpRef = sr;
  k->outCols = cd;
  k->outSmp = sd;
  k->sampleCap = cap;
  return 1;
}

/* ---- Exported functions (JS: src/merge/native-kernel.ts) ---- */

/* create(maxRows, budget, cols, smp, cap) -> [handle, shared ArrayBuffer]; the output area as setArea's */
static napi_value create(napi_env env, napi_callback_info info) {
  ARGS(5);
  int32_t R, budget, cap;
  if (!getI32(env, argv[0], &R) || !getI32(env, argv[1], &budget) || !getI32(env, argv[4], &cap)) return NULL;
  if (R < 1 || budget < 1) {
    napi_throw_range_error(env, NULL, "merge-kernel: output sizes must be positive");
    return NULL;
  }
  K *k = calloc(1, sizeof(K));
  if (!k) {
    napi_throw_range_error(env, NULL, "merge-kernel: out of memory");
    return NULL;
  }
  napi_value handle;
  if (napi_create_external(env, k, finalizeK, NULL, &handle) != napi_ok) {
    free(k);
    return NULL;
  }
  k->R = R;
  k->budget = budget;
  k->pendingReplay = -1;
  k->prevWinner = -1;
  if (!useArea(env, k, argv[2], argv[3], cap)) return NULL;
  void *d;
  napi_value sh = keptBuffer(env, sizeof(Shared), &d, &k->shRef);
  if (!sh) return NULL;
  k->sh = (Shared *)d;
  memset(k->sh, 0, sizeof(Shared));
  k->sh->emptySlot = -1;
  k->sh->badRow = -1;
  napi_value arr;
  CHECK(env, napi_create_array_with_length(env, 2, &arr));
  CHECK(env, napi_set_element(env, arr, 0, handle));
  CHECK(env, napi_set_element(env, arr, 1, sh));
  return arr;
}

/* setArea(h, cols, smp, cap): the output goes there from now; only between output batches (outN = outS = 0). */
static napi_value setArea(napi_env env, napi_callback_info info) {
  ARGS(4);
  K *k = getK(env, argv[0]);
  int32_t cap;
  if (!k || !getI32(env, argv[3], &cap)) return NULL;
  if (k->sh->outN || k->sh->outS) {
    napi_throw_range_error(env, NULL, "merge-kernel: the output area changes only between output batches");
    return NULL;
  }
  useArea(env, k, argv[1], argv[2], cap);
  return NULL;
}

/* growSamples(h, cap) -> the new samples ArrayBuffer (the samples so far copied over) */
static napi_value growSamples(napi_env env, napi_callback_info info) {
  ARGS(2);
  K *k = getK(env, argv[0]);
  int32_t cap;
  if (!k || !getI32(env, argv[1], &cap)) return NULL;
  if (cap < k->sampleCap) {
    napi_throw_range_error(env, NULL, "merge-kernel: the sample area only grows");
    return NULL;
  }
  uint16_t *old = k->outSmp;
  napi_ref oldRef = k->smpRef;
  k->smpRef = NULL;
  void *d;
  napi_value smp = keptBuffer(env, (size_t)cap * 2 + SLACK, &d, &k->smpRef);
  if (!smp) {
    k->smpRef = oldRef;
    return NULL;
  }
  memcpy(d, old, (size_t)k->sh->outS * 2);
  napi_delete_reference(env, oldRef);
  k->outSmp = d;
  k->sampleCap = cap;
  return smp;
}

static const struct {
  napi_typedarray_type type;
  const char *name;
} COLS[11] = {
    {napi_bigint64_array, "timestamp"},  {napi_bigint64_array, "time"},   {napi_bigint64_array, "wave_offset"},
    {napi_float64_array, "baseline"},    {napi_int32_array, "pid"},       {napi_int32_array, "dt"},
    {napi_uint32_array, "flags"},        {napi_int32_array, "event_length"}, {napi_int16_array, "channel"},
    {napi_int16_array, "trigger_type"}, {napi_uint16_array, "samples"},
};

/* describe(timestamp, time, wave_offset, baseline, pid, dt, flags, event_length, channel, trigger_type, samples) -> descriptor */
static napi_value describe(napi_env env, napi_callback_info info) {
  ARGS(11);
  const void *ptr[11];
  size_t n = 0;
  size_t S = 0;
  for (int c = 0; c < 11; c++) {
    napi_typedarray_type type;
    size_t length;
    void *data;
    bool is = false;
    napi_is_typedarray(env, argv[c], &is);
    if (!is || napi_get_typedarray_info(env, argv[c], &type, &length, &data, NULL, NULL) != napi_ok || type != COLS[c].type) {
      napi_throw_type_error(env, NULL, COLS[c].name);
      return NULL;
    }
    if (c == 0) n = length;
    if (c == 10) {
      S = length;
    } else if (length != n) {
      napi_throw_range_error(env, NULL, COLS[c].name);
      return NULL;
    }
    ptr[c] = data;
  }
  if (n > 0x7fffffff) {
    napi_throw_range_error(env, NULL, "merge-kernel: more than 2^31 rows in a batch");
    return NULL;
  }
  void *d;
  napi_value ab;
  CHECK(env, napi_create_arraybuffer(env, sizeof(Batch), &d, &ab));
  Batch *b = d;
  b->ts = ptr[0];
  b->time = ptr[1];
  b->off = ptr[2];
  b->base = ptr[3];
  b->pid = ptr[4];
  b->dt = ptr[5];
  b->flags = ptr[6];
  b->len = ptr[7];
  b->ch = ptr[8];
  b->tt = ptr[9];
  b->smp = ptr[10];
  b->n = (int64_t)n;
  b->S = (int64_t)S;
  return ab;
}

/*
 * prepare(h, desc, hasPrev, pTs, pP) -> 0; 1 when row sh.badRow is below the previous row (row 0:
 * below (pTs, pP) when hasPrev); else 2 when an event's samples lie outside the batch's.
 */
static napi_value prepare(napi_env env, napi_callback_info info) {
  ARGS(5);
  K *k = getK(env, argv[0]);
  if (!k) return NULL;
  const Batch *x = getBatch(env, argv[1]);
  if (!x) return NULL;
  bool hasPrev;
  int64_t pTs, pPs;
  CHECK(env, napi_get_value_bool(env, argv[2], &hasPrev));
  if (!getI64(env, argv[3], &pTs) || !getI64(env, argv[4], &pPs)) return NULL;
  const uint64_t pP = (uint64_t)pPs;
  const int64_t n = x->n, S = x->S;
  int64_t lt = hasPrev ? pTs : INT64_MIN;
  uint64_t lp = hasPrev ? pP : 0;
  int orderBad = 0, offsetsBad = 0;
  for (int64_t r = 0; r < n; r++) {
    int64_t t = x->ts[r];
    uint64_t p = k2(x, r);
    orderBad |= (t < lt) | ((t == lt) & (p < lp));
    lt = t;
    lp = p;
    int64_t len = x->len[r];
    int64_t off = x->off[r];
    offsetsBad |= ((uint64_t)off > (uint64_t)S) | ((uint64_t)len > (uint64_t)(S - off));
  }
  k->sh->badRow = -1;
  int st = 0;
  if (orderBad) {
    lt = pTs;
    lp = pP;
    for (int64_t r = 0; r < n; r++) {
      int64_t t = x->ts[r];
      uint64_t p = k2(x, r);
      if ((r > 0 || hasPrev) && (t < lt || (t == lt && p < lp))) {
        k->sh->badRow = (int32_t)r;
        st = 1;
        break;
      }
      lt = t;
      lp = p;
    }
  }
  if (st == 0 && offsetsBad) st = 2;
  return num(env, st);
}

/* setSlots(h, m): a new merge step over m slots (setSlot or exhaust each, then build). */
static napi_value setSlots(napi_env env, napi_callback_info info) {
  ARGS(2);
  K *k = getK(env, argv[0]);
  int32_t m;
  if (!k || !getI32(env, argv[1], &m)) return NULL;
  if (m < 0 || m > MAX_SLOTS) {
    napi_throw_range_error(env, NULL, "merge-kernel: slot count out of range");
    return NULL;
  }
  if (m > k->cap || !k->node) {
    int c = m > 1 ? m : 1;
    free(k->node);
    free(k->sb);
    free(k->sRow);
    free(k->sEnd);
    k->node = malloc(sizeof(Key) * c);
    k->sb = malloc(sizeof(Batch) * c);
    k->sRow = malloc(sizeof(int32_t) * c);
    k->sEnd = malloc(sizeof(int32_t) * c);
    if (!k->node || !k->sb || !k->sRow || !k->sEnd) {
      k->cap = 0;
      napi_throw_range_error(env, NULL, "merge-kernel: out of memory");
      return NULL;
    }
    k->cap = c;
  }
  memset(k->sb, 0, sizeof(Batch) * (size_t)(m > 1 ? m : 1));
  memset(k->sRow, 0, sizeof(int32_t) * (size_t)(m > 1 ? m : 1));
  memset(k->sEnd, 0, sizeof(int32_t) * (size_t)(m > 1 ? m : 1));
  k->m = m;
  k->pendingReplay = -1;
  k->prevWinner = -1;
  k->sh->emptySlot = -1;
  k->sh->emitted = 0;
  return NULL;
}

static int slotArg(napi_env env, K *k, napi_value v, int32_t *s) {
  if (!getI32(env, v, s)) return 0;
  if (*s < 0 || *s >= k->m) {
    napi_throw_range_error(env, NULL, "merge-kernel: no such slot");
    return 0;
  }
  return 1;
}

/* setSlot(h, s, desc, row, end): slot s merges rows [row, end) of the (prepared) batch. */
static napi_value setSlot(napi_env env, napi_callback_info info) {
  ARGS(5);
  K *k = getK(env, argv[0]);
  int32_t s, row, end;
  if (!k || !slotArg(env, k, argv[1], &s)) return NULL;
  const Batch *x = getBatch(env, argv[2]);
  if (!x || !getI32(env, argv[3], &row) || !getI32(env, argv[4], &end)) return NULL;
  if (row < 0 || end < row || end > x->n) {
    napi_throw_range_error(env, NULL, "merge-kernel: rows out of the batch");
    return NULL;
  }
  k->sb[s] = *x;
  k->sRow[s] = row;
  k->sEnd[s] = end;
  return NULL;
}

/* exhaust(h, s): slot s has nothing more to merge. */
static napi_value exhaust(napi_env env, napi_callback_info info) {
  ARGS(2);
  K *k = getK(env, argv[0]);
  int32_t s;
  if (!k || !slotArg(env, k, argv[1], &s)) return NULL;
  memset(&k->sb[s], 0, sizeof(Batch));
  k->sRow[s] = 0;
  k->sEnd[s] = 0;
  return NULL;
}

/* refilled(h, s): after setSlot / exhaust of the slot SLOT_EMPTY reported. */
static napi_value refilled(napi_env env, napi_callback_info info) {
  ARGS(2);
  K *k = getK(env, argv[0]);
  int32_t s;
  if (!k || !slotArg(env, k, argv[1], &s)) return NULL;
  k->pendingReplay = s;
  return NULL;
}

/* build(h): the tree over every slot's head key. */
static napi_value build(napi_env env, napi_callback_info info) {
  ARGS(1);
  K *k = getK(env, argv[0]);
  if (!k) return NULL;
  if (buildTree(k) != 0) {
    napi_throw_range_error(env, NULL, "merge-kernel: out of memory");
    return NULL;
  }
  return NULL;
}

/* rowOf(h, s) -> slot s's next row */
static napi_value rowOf(napi_env env, napi_callback_info info) {
  ARGS(2);
  K *k = getK(env, argv[0]);
  int32_t s;
  if (!k || !slotArg(env, k, argv[1], &s)) return NULL;
  return num(env, k->sRow[s]);
}

/* setBound(h, ts, p): rows with (ts, k2) below this are merged (p: the u64's bits as an i64). */
static napi_value setBound(napi_env env, napi_callback_info info) {
  ARGS(3);
  K *k = getK(env, argv[0]);
  int64_t t, p;
  if (!k || !getI64(env, argv[1], &t) || !getI64(env, argv[2], &p)) return NULL;
  k->b = mkKey(t, (uint64_t)p);
  return NULL;
}

/* run(h) -> DONE, SLOT_EMPTY (sh.emptySlot), OUT_FULL or NEED_SAMPLES (sh.needSamples) */
static napi_value run(napi_env env, napi_callback_info info) {
  ARGS(1);
  K *k = getK(env, argv[0]);
  if (!k) return NULL;
  if (k->m == 0) return num(env, DONE);
  return num(env, runMerge(k));
}

/* append(h, desc, row, count, flags) -> status; sh.emitted rows of [row, row + count) were appended, flags ORed in. */
static napi_value append(napi_env env, napi_callback_info info) {
  ARGS(5);
  K *k = getK(env, argv[0]);
  if (!k) return NULL;
  const Batch *x = getBatch(env, argv[1]);
  int32_t row, count;
  uint32_t f;
  if (!x || !getI32(env, argv[2], &row) || !getI32(env, argv[3], &count)) return NULL;
  CHECK(env, napi_get_value_uint32(env, argv[4], &f));
  if (row < 0 || count < 0 || (int64_t)row + count > x->n) {
    napi_throw_range_error(env, NULL, "merge-kernel: rows out of the batch");
    return NULL;
  }
  Out o;
  outOpen(k, &o);
  int st = DONE;
  int32_t r = row;
  for (; r < row + count; r++) {
    st = put(k, &o, x, r, f);
    if (st != DONE) break;
  }
  k->sh->emitted = r - row;
  return num(env, outClose(k, &o, st));
}

#define FN(name) {#name, NULL, name, NULL, NULL, NULL, napi_default, NULL}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      FN(create), FN(setArea), FN(growSamples), FN(describe), FN(prepare), FN(setSlots), FN(setSlot), FN(exhaust),
      FN(refilled), FN(build), FN(rowOf), FN(setBound), FN(run), FN(append),
  };
  if (napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns) != napi_ok) return NULL;
  napi_value v;
  if (napi_create_int32(env, (int32_t)sizeof(Shared), &v) != napi_ok) return NULL;
  napi_set_named_property(env, exports, "sharedBytes", v);
  if (napi_create_int32(env, (int32_t)sizeof(Batch), &v) != napi_ok) return NULL;
  napi_set_named_property(env, exports, "batchBytes", v);
  return exports;
}

#ifndef NODE_GYP_MODULE_NAME
#define NODE_GYP_MODULE_NAME merge_kernel
#endif
NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
