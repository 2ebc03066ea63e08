import { expect } from 'vitest';
import { StreamingMerge } from '../../src/merge/streaming-merge.ts';
import type { Xorshift } from '../../src/instruments/rng.ts';
import type { WaveBatch } from '../../src/schema/batch.ts';
import { makeRecordsBatch, recordColumns } from '../../src/schema/waveform.ts';
import type { RecordColumns } from '../../src/schema/waveform.ts';
import { eventsOf, waveBatch } from './waves.ts';
import type { Ev } from './waves.ts';
import { sameBytes } from './bytes.ts';

/** The merge's expected output: a stable sort of the inputs' concatenation by (t, pid, channel). */
/** Inner path of the merges the tests make (each merge test file runs once per path). */
export let testKernel: 'native' | 'wasm' | 'js' = 'wasm';
export const KERNELS = ['native', 'wasm', 'js'] as const;
export function useKernel(k: 'native' | 'wasm' | 'js'): void {
  testKernel = k;
}

export function reference(inputs: Ev[][]): Ev[] {
  const all = inputs.flat(); // concatenation in input order
  const idx = all.map((_, i) => i);
  idx.sort((a, b) => {
    const x = all[a]!;
    const y = all[b]!;
    if (x.t !== y.t) return x.t < y.t ? -1 : 1;
    if (x.pid !== y.pid) return x.pid - y.pid;
    if (x.ch !== y.ch) return x.ch - y.ch;
    return a - b; // stable
  });
  return idx.map((i) => all[i]!);
}

/**
 * Splits each input into random batches and pushes them in a random interleaving, draining as it
 * goes; `wrap` may change each batch before it is pushed (e.g. move its samples).
 */
export function runMerge(rng: Xorshift, inputs: Ev[][], maxOutputRows = 1000, wrap: (wb: WaveBatch) => WaveBatch = (wb) => wb): WaveBatch[] {
  // The kernel path copies inputs in by chunks: chunks of 1 to 8 rows put chunk ends everywhere.
  const kernelChunkRows = 1 + Math.floor(rng.next() * 8);
  // Half the runs end output batches by samples early and often (the default: 1 Mi samples).
  const maxOutputSamples = rng.next() < 0.5 ? 1 + Math.floor(rng.next() * 4000) : 1 << 20;
  const m = new StreamingMerge({ kernel: testKernel, output: 'records', maxOutputRows, maxOutputSamples, silenceTimeoutMs: 1e12, kernelChunkRows });
  if (m.path !== testKernel) throw new Error(`merge path ${m.path}, asked for ${testKernel}`);
  const queues = inputs.map((evs, k) => {
    m.addInput(`in${k}`);
    const batches: Ev[][] = [];
    let i = 0;
    while (i < evs.length) {
      const size = 1 + Math.floor(rng.next() * Math.max(1, evs.length / 3));
      batches.push(evs.slice(i, i + size));
      i += size;
    }
    return batches;
  });
  const out: WaveBatch[] = [];
  // How the output is taken, per run: returned by drain, given to a sink that keeps it, to one that
  // copies it and gives it back (recycle), or to one that copies it and borrows it (views of the
  // kernel's output area, valid only in the sink).
  const consumer = (['return', 'keep', 'recycle', 'borrow'] as const)[Math.floor(rng.next() * 4)]!;
  const sink = (b: WaveBatch) => {
    if (consumer === 'keep') return void out.push(b);
    out.push(copyBatch(b));
    if (consumer === 'recycle') m.recycle(b);
  };
  const take = (final: boolean) => {
    const drain = final ? m.finish.bind(m) : m.drain.bind(m);
    if (consumer === 'return') out.push(...drain());
    else drain(sink, { borrow: consumer === 'borrow' });
  };
  let live = queues.map((q, k) => (q.length ? k : -1)).filter((k) => k >= 0);
  inputs.forEach((evs, k) => evs.length === 0 && m.end(`in${k}`));
  while (live.length > 0) {
    const k = live[Math.floor(rng.next() * live.length)]!;
    m.push(`in${k}`, wrap(waveBatch(`in${k}`, queues[k]!.shift()!)));
    if (queues[k]!.length === 0) {
      if (rng.next() < 0.5) m.end(`in${k}`);
      live = live.filter((x) => x !== k);
    }
    take(false);
  }
  take(true);
  for (const [i, b] of out.entries()) {
    const n = b.batch.numRows;
    if (n > maxOutputRows || (b.samples.length > maxOutputSamples && n > 1)) {
      throw new Error(`output batch ${i}: ${n} rows, ${b.samples.length} samples; limits ${maxOutputRows} rows, ${maxOutputSamples} samples (more only for one event)`);
    }
  }
  return out;
}

/** A deep copy of a batch (its columns and samples in new buffers). */
export function copyBatch(wb: WaveBatch): WaveBatch {
  const c = recordColumns(wb.batch);
  const copy = Object.fromEntries(Object.entries(c).map(([k, v]) => [k, v.slice()])) as unknown as RecordColumns;
  return { ...wb, batch: makeRecordsBatch(copy), samples: wb.samples.slice() };
}

/** Checks that the merged output is exactly the reference: order, waves, event_id, a contiguous pool. */
export function expectMergedExactly(out: WaveBatch[], inputs: Ev[][]) {
  const got = eventsOf(out);
  const ref = reference(inputs);
  expect(got.length).toBe(ref.length);
  let expectOffset = 0n;
  for (let i = 0; i < ref.length; i++) {
    const g = got[i]!;
    const r = ref[i]!;
    if (g.t !== r.t || g.pid !== r.pid || g.ch !== r.ch || g.src !== r.src || !sameBytes(g.wave, r.wave)) {
      throw new Error(`event ${i}: got (t ${g.t}, pid ${g.pid}, ch ${g.ch}, src ${g.src}) expected (t ${r.t}, pid ${r.pid}, ch ${r.ch}, src ${r.src}), waves equal: ${sameBytes(g.wave, r.wave)}`);
    }
    expect(g.eventId).toBe(BigInt(i));
    expect(g.globalOffset).toBe(expectOffset); // contiguous global pool
    expectOffset += BigInt(g.wave.length);
  }
}
