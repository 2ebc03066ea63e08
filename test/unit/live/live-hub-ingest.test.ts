import { firstValueFrom, filter } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { minMaxDecimate } from '../../../src/live/decimate.ts';
import { LiveHub } from '../../../src/live/live-hub.ts';
import type { LiveFrame } from '../../../src/live/live-hub.ts';
import { makeScalarBatch, scalarSchema } from '../../../src/schema/scalar.ts';
import type { StreamInfo } from '../../../src/schema/batch.ts';

/**
 * LiveHub's ingest path does no work per point unless a tag is watched: last values are folded in
 * lazily from queued batches (newest first, stopping once every tag is met) and only watched tags'
 * points go into rings. These tests compare both with a plain per-point reference.
 */
const TAGS = 1000;
const info: StreamInfo = {
  name: 'big.tags',
  kind: 'scalar',
  schema: scalarSchema,
  lineage: { plugin: 'test', version: '1', optionsHash: '', inputs: [] },
  tags: Array.from({ length: TAGS }, (_, i) => ({ id: i, name: `g${i}`, unit: 'V', type: 'float64' as const })),
};

/** A deterministic pseudo-random generator (xorshift32). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

/** Pushes batches of `rows` rows, tags drawn by `pick`, and records every point per tag (the reference). */
class Feeder {
  /** Every point pushed, per tag: times (ms) and values, in push order. */
  readonly points = new Map<number, { t: number[]; v: number[] }>();
  private tMs = 1_700_000_000_000;
  constructor(
    readonly hub: LiveHub,
    readonly random = rng(7),
  ) {}

  push(rows: number, pick: (i: number) => number): void {
    const ts = new BigInt64Array(rows);
    const tag = new Uint32Array(rows);
    const value = new Float64Array(rows);
    for (let i = 0; i < rows; i++) {
      ts[i] = BigInt(this.tMs++) * 1_000_000n;
      const t = Number(ts[i]) / 1e6; // the hub's ms, rounded as it rounds them
      tag[i] = pick(i);
      value[i] = Math.round((this.random() - 0.5) * 2e6) / 8;
      if (tag[i]! < TAGS) {
        let p = this.points.get(tag[i]!);
        if (!p) this.points.set(tag[i]!, (p = { t: [], v: [] }));
        p.t.push(t);
        p.v.push(value[i]!);
      }
    }
    this.hub.push({ kind: 'scalar', stream: info.name, batch: makeScalarBatch({ timestampNs: ts, tag, value, quality: new Uint8Array(rows) }) });
  }

  /** Forgets the reference points (what a ring subscribed from now on should hold). */
  forget(): void {
    this.points.clear();
  }
}

function hubWithBig(): LiveHub {
  const hub = new LiveHub();
  hub.addStream(info);
  return hub;
}

/** The rows of a trend frame for one tag id. */
function series(frame: LiveFrame, id: number): { t: number[]; min: number[]; max: number[] } {
  const tag = frame.batch.getChild('tag')!.toArray() as Uint32Array;
  const t = frame.batch.getChild('t_ms')!.toArray() as Float64Array;
  const min = frame.batch.getChild('min')!.toArray() as Float64Array;
  const max = frame.batch.getChild('max')!.toArray() as Float64Array;
  const out = { t: [] as number[], min: [] as number[], max: [] as number[] };
  for (let i = 0; i < tag.length; i++) {
    if (tag[i] !== id) continue;
    out.t.push(t[i]!);
    out.min.push(min[i]!);
    out.max.push(max[i]!);
  }
  return out;
}

describe('LiveHub ingest', () => {
  it('last values: lazily folded, newest point per tag over any number of batches, tags in any order', () => {
    const hub = hubWithBig();
    const f = new Feeder(hub);
    const r = rng(11);
    const expectLast = () => {
      const lv = hub.lastValues(info.name);
      expect(lv.length).toBe(TAGS);
      for (let id = 0; id < TAGS; id++) {
        const p = f.points.get(id);
        const got = lv[id]!;
        expect(got.tag).toBe(`g${id}`);
        if (!p) {
          expect(got.value).toBeNaN();
          continue;
        }
        expect(got.value).toBe(p.v[p.v.length - 1]);
        expect(got.tMs).toBe(p.t[p.t.length - 1]);
      }
    };
    expectLast(); // nothing pushed: NaN everywhere
    // Tag 999 appears once, early: later folds stop before reaching it and must keep it.
    f.push(10, (i) => (i === 3 ? 999 : i));
    // Random tags (some never seen: ids 900..998), ids beyond the table ignored, batches of odd sizes.
    for (let b = 0; b < 12; b++) f.push(30_001 + b, () => (r() < 0.001 ? 5000 : Math.floor(r() * 900)));
    expect(hub.stats()['pending_rows']).toBeLessThan(1 << 18); // folded on the way, the queue is bounded
    expectLast();
    // Round-robin tags (a fold meets every tag in the newest rows and stops), then a read mid-queue.
    for (let b = 0; b < 3; b++) f.push(65_536, (i) => (i * 7 + b) % 950);
    expectLast();
    f.push(5, (i) => 940 + i);
    expectLast();
    expect(hub.stats()['pending_rows']).toBe(0);
  });

  for (const watched of [1, 3, 6]) {
    it(`a viewer subscribing mid-run gets exactly the points pushed since, min/max decimated (${watched} tag(s) watched: ${watched === 1 ? 'indexOf' : 'one scan'})`, async () => {
      const hub = hubWithBig();
      const f = new Feeder(hub);
      const r = rng(watched);
      // Before any viewer: nothing goes into rings.
      for (let b = 0; b < 3; b++) f.push(20_000, () => Math.floor(r() * TAGS));
      expect(hub.stats()['trend_rings']).toBe(0);
      // Tag 0 is dense (about half the rows: past indexOf's hit limit), the others sparse.
      const ids = [0, 1, 2, 997, 998, 999].slice(0, watched);
      const frames: LiveFrame[] = [];
      const sub = hub.stream$(info.name, { tags: ids.map((i) => `g${i}`), pixels: 2000, intervalMs: 20 }).subscribe((fr) => frames.push(fr));
      expect(hub.stats()['trend_rings']).toBe(watched);
      f.forget();
      for (let b = 0; b < 4; b++) f.push(4_001 + b, () => (r() < 0.5 ? 0 : r() < 0.01 ? 999 : Math.floor(r() * TAGS)));
      await new Promise((res) => setTimeout(res, 60));
      sub.unsubscribe();
      expect(frames.length).toBeGreaterThan(0);
      const frame = frames[frames.length - 1]!;
      for (const id of ids) {
        const p = f.points.get(id) ?? { t: [], v: [] };
        const want = minMaxDecimate(Float64Array.from(p.v), 2000, Float64Array.from(p.t));
        const got = series(frame, id);
        expect(got.t).toEqual([...want.x]);
        expect(got.min).toEqual([...want.min]);
        expect(got.max).toEqual([...want.max]);
        if (id === 0) expect(p.v.length).toBeGreaterThan(2000); // really decimated
        else expect(p.v.length).toBeLessThanOrEqual(2000); // one bucket per point
      }
      // The last viewer gone: no rings, no scan.
      expect(hub.stats()['trend_rings']).toBe(0);
    });
  }

  it('batches with tags in id order (found by arithmetic) and nearly so (scanned) give the same rings', async () => {
    const hub = hubWithBig();
    const f = new Feeder(hub);
    const ids = [0, 5, 998, 999];
    const frames: LiveFrame[] = [];
    const sub = hub.stream$(info.name, { tags: ids.map((i) => `g${i}`), pixels: 5000, intervalMs: 20 }).subscribe((fr) => frames.push(fr));
    let phase = 0;
    const inOrder = (rows: number) => {
      const p0 = phase;
      f.push(rows, (i) => (p0 + i) % TAGS);
      phase = (p0 + rows) % TAGS;
    };
    inOrder(2500); // from id 0, two and a half rounds
    inOrder(1); // a single row
    inOrder(999); // phase 501 .. wraps to 499
    inOrder(3); // phase 500 ..
    expect(hub.inOrderBatches).toBe(4);
    // Not in order: one row swapped, a row beyond the ids, a short table order mismatch.
    f.push(2000, (i) => (i === 1500 ? 999 : i === 1999 ? 1500 : i % TAGS));
    f.push(1200, (i) => (i === 5 ? 5000 : (i + 3) % TAGS));
    f.push(10, (i) => 990 + i); // ids 990..999 in order (still in order: counts)
    expect(hub.inOrderBatches).toBe(5);
    await new Promise((res) => setTimeout(res, 60));
    sub.unsubscribe();
    const frame = frames[frames.length - 1]!;
    for (const id of ids) {
      const p = f.points.get(id)!;
      const got = series(frame, id);
      expect(got.t).toEqual(p.t);
      expect(got.max).toEqual(p.v);
    }
  });

  it('last values while tags are watched: batches in id order folded by arithmetic, exact across layout changes', () => {
    const hub = hubWithBig();
    const f = new Feeder(hub);
    const r = rng(5);
    const sub = hub.stream$(info.name, { tags: ['g3', 'g500'], intervalMs: 3_600_000 }).subscribe();
    const expectLast = () => {
      const lv = hub.lastValues(info.name);
      for (let id = 0; id < TAGS; id++) {
        const p = f.points.get(id);
        if (!p) {
          expect(lv[id]!.value).toBeNaN();
          continue;
        }
        expect(lv[id]!.value).toBe(p.v[p.v.length - 1]);
        expect(lv[id]!.tMs).toBe(p.t[p.t.length - 1]);
      }
    };
    let phase = 0;
    const inOrder = (rows: number) => {
      const p0 = phase;
      f.push(rows, (i) => (p0 + i) % TAGS);
      phase = (p0 + rows) % TAGS;
    };
    inOrder(2_345); // more than two rounds, from id 0
    expectLast();
    inOrder(1_500); // phase 345: the last round wraps
    expectLast();
    expect(hub.inOrderFolds).toBe(2);
    const before = hub.inOrderBatches;
    // Layout changes: random tags after an in-order batch (the newest is no longer in order) ...
    inOrder(3_000);
    f.push(700, () => Math.floor(r() * TAGS));
    expectLast();
    // ... an in-order batch shorter than a round over an older full one ...
    inOrder(1_200);
    inOrder(400);
    expectLast();
    // ... one row out of order in an otherwise round-robin batch (scanned, not by arithmetic) ...
    f.push(2_000, (i) => (i === 1_999 ? 7 : (phase + i) % TAGS));
    expectLast();
    expect(hub.inOrderBatches).toBe(before + 3);
    // ... and after the last viewer left, nothing checks the order: the plain fold.
    inOrder(1_000);
    sub.unsubscribe();
    f.push(300, () => Math.floor(r() * TAGS));
    inOrder(1_000);
    expectLast();
    expect(hub.inOrderFolds).toBe(2);
  });

  it('a second viewer of other tags joining later: each ring starts at its own subscription', async () => {
    const hub = hubWithBig();
    const f = new Feeder(hub);
    const first$ = hub.stream$(info.name, { tags: ['g10'], pixels: 100, intervalMs: 20 });
    const a: LiveFrame[] = [];
    const sa = first$.subscribe((fr) => a.push(fr));
    f.push(1000, (i) => 10 + (i % 20)); // g10 .. g29
    const t10 = [...f.points.get(10)!.t];
    f.forget();
    const b$ = hub.stream$(info.name, { tags: ['g11'], pixels: 100, intervalMs: 20 }).pipe(filter((fr) => fr.batch.numRows > 0));
    const bFrame = firstValueFrom(b$);
    f.push(1000, (i) => 10 + (i % 20));
    const t10b = f.points.get(10)!.t;
    const got = await bFrame;
    await new Promise((res) => setTimeout(res, 40));
    sa.unsubscribe();
    expect(series(got, 11).t.length).toBe(50); // only the second batch's 50 points of g11
    expect(series(got, 11).t[0]).toBe(f.points.get(11)!.t[0]);
    const last = a[a.length - 1]!;
    expect(series(last, 10).t.length).toBe(100); // 50 + 50 points, 100 pixels: one bucket each
    expect(series(last, 10).t).toEqual([...t10, ...t10b]);
  });
});
