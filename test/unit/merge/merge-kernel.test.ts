import { describe, expect, it, vi } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { StreamingMerge } from '../../../src/merge/streaming-merge.ts';
import { blockSamplesOffset, chunkRowsFor, chunkSamplesFor, kernelModule, MergeKernel } from '../../../src/merge/wasm-kernel.ts';
import { OutputPool } from '../../../src/merge/output-pool.ts';
import { nativeKernel, NativeMergeKernel } from '../../../src/merge/native-kernel.ts';
import { SourceBatch, WaveOutputBuilder } from '../../../src/merge/wave-output.ts';
import { recordColumns, RecordFlags } from '../../../src/schema/waveform.ts';
import { Xorshift } from '../../../src/instruments/rng.ts';
import { isDaqError } from '../../../src/errors.ts';
import type { WaveBatch } from '../../../src/schema/batch.ts';
import { eventsOf, waveBatch } from '../../helpers/waves.ts';
import type { Ev } from '../../helpers/waves.ts';
import { copyBatch, expectMergedExactly, reference } from '../../helpers/merge.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');

/** The kernel `auto` takes here: the native one when it is built (npm ci, pretest), else WebAssembly's. */
const AUTO_KERNEL = nativeKernel().addon ? 'native' : 'wasm';
const AUTO_KERNEL_CLASS = nativeKernel().addon ? NativeMergeKernel : MergeKernel;

/**
 * k inputs of n events each (pid 0, channel s): event i of input s has lengthOf(s, i) samples
 * (a pattern of i, s and the sample's index) at time timeOf(s, i).
 */
function events(k: number, n: number, lengthOf: (s: number, i: number) => number, timeOf: (s: number, i: number) => bigint): Ev[][] {
  return Array.from({ length: k }, (_, s) =>
    Array.from({ length: n }, (_, i): Ev => {
      const wave = new Uint16Array(lengthOf(s, i));
      for (let j = 0; j < wave.length; j++) wave[j] = (i * 131 + j * 7 + s) & 0xffff;
      return { t: timeOf(s, i), pid: 0, ch: s, wave, src: s, seq: i };
    }),
  );
}

/** k inputs; event i of input s at a time that interleaves one by one (block 1) or in bursts of `block`. */
function phase(k: number, n: number, block: number, t0: bigint, seq0: number): Ev[][] {
  return Array.from({ length: k }, (_, s) =>
    Array.from({ length: n }, (_, i) => ({
      t: t0 + BigInt((Math.floor(i / block) * k + s) * block + (i % block)),
      pid: 0,
      ch: s,
      wave: Uint16Array.of(i & 0xffff, s, 7),
      src: s,
      seq: seq0 + i,
    })),
  );
}

describe('StreamingMerge: WebAssembly kernel and JS path', () => {
  it('the kernel loads here', () => {
    expect(kernelModule()).not.toBeNull();
    expect(new StreamingMerge({ output: 'r' }).path).toBe('js'); // auto: until inputs prove to interleave
    expect(new StreamingMerge({ output: 'r', kernel: 'wasm' }).path).toBe('wasm');
    expect(new StreamingMerge({ output: 'r', kernel: 'js' }).path).toBe('js');
    // JS lays blocks out itself: its formula must be the kernel's.
    const x = new WebAssembly.Instance(kernelModule()!, {}).exports as unknown as { samplesOffset(n: number): number; batchBytes(n: number, S: number): number };
    for (const n of [1, 2, 3, 255, 256, 8191]) {
      expect(blockSamplesOffset(n), `n = ${n}`).toBe(x.samplesOffset(n));
      expect(blockSamplesOffset(n) + 2 * 77 + 128, `n = ${n}`).toBe(x.batchBytes(n, 77));
    }
  });

  it('auto: the kernel for interleaved inputs, the JS path for bursts, back again; output exact', () => {
    const k = 3;
    const phases = [phase(k, 40_000, 1, 0n, 0), phase(k, 40_000, 1000, 10n ** 9n, 40_000), phase(k, 40_000, 1, 10n ** 10n, 80_000)];
    const inputs = Array.from({ length: k }, (_, s) => phases.flatMap((p) => p[s]!));
    const m = new StreamingMerge({ output: 'records', silenceTimeoutMs: 1e12, maxOutputRows: 5000 });
    for (let s = 0; s < k; s++) m.addInput(`in${s}`);
    const out: WaveBatch[] = [];
    const paths: string[] = [];
    const per = inputs[0]!.length;
    for (let i = 0; i < per; i += 4000) {
      for (let s = 0; s < k; s++) m.push(`in${s}`, waveBatch(`in${s}`, inputs[s]!.slice(i, i + 4000)));
      out.push(...m.drain());
      if (paths.at(-1) !== m.path) paths.push(m.path);
    }
    out.push(...m.finish());
    // Starts on JS; the first decision (after 2^12 events) falls within the first drain.
    expect(paths).toEqual([AUTO_KERNEL, 'js', AUTO_KERNEL]);
    expectMergedExactly(out, inputs);
  });

  it('auto changes path within one large drain (decision windows of 2^12, then 2^16 events), output exact', () => {
    const k = 4;
    const inputs = phase(k, 50_000, 1, 0n, 0);
    const m = new StreamingMerge({ output: 'records', silenceTimeoutMs: 1e12 });
    for (let s = 0; s < k; s++) m.addInput(`in${s}`);
    for (let s = 0; s < k; s++) m.push(`in${s}`, waveBatch(`in${s}`, inputs[s]!));
    expect(m.path).toBe('js');
    const take = vi.spyOn(AUTO_KERNEL_CLASS.prototype, 'take');
    let out: WaveBatch[];
    try {
      out = m.drain(); // 200,000 events below the watermark, interleaved
      expect(take).toHaveBeenCalled(); // the kernel built part of this drain's output
    } finally {
      take.mockRestore();
    }
    expect(m.path).toBe(AUTO_KERNEL);
    out.push(...m.finish());
    expectMergedExactly(out, inputs);
  });

  it('falls back to the JS path mid-stream (more than 4096 inputs), output exact', () => {
    const inputs = phase(4, 3000, 1, 0n, 0);
    const m = new StreamingMerge({ output: 'records', silenceTimeoutMs: 1e12, maxOutputRows: 700, kernel: 'wasm' });
    for (let s = 0; s < 4; s++) m.addInput(`in${s}`);
    const out: WaveBatch[] = [];
    for (let s = 0; s < 4; s++) m.push(`in${s}`, waveBatch(`in${s}`, inputs[s]!.slice(0, 1500)));
    out.push(...m.drain());
    expect(m.path).toBe('wasm');
    for (let s = 4; s <= 4096; s++) {
      m.addInput(`in${s}`);
      m.end(`in${s}`);
    }
    expect(m.path).toBe('js');
    for (let s = 0; s < 4; s++) m.push(`in${s}`, waveBatch(`in${s}`, inputs[s]!.slice(1500)));
    out.push(...m.drain(), ...m.finish());
    expectMergedExactly(out, inputs);
  });

  it('auto leaves the kernel for a batch whose waveforms lie outside its samples', () => {
    const m = new StreamingMerge({ output: 'r' });
    m.addInput('in0');
    (m as unknown as { toKernel(): void }).toKernel();
    expect(m.path).toBe(AUTO_KERNEL);
    const wb = waveBatch('in0', phase(1, 4, 1, 0n, 0)[0]!);
    recordColumns(wb.batch).wave_offset[3] = 100n;
    m.push('in0', wb);
    expect(m.path).toBe('js');
  });

  it('each kernel rejects a batch whose waveforms lie outside its samples (start past the end, or end past it)', () => {
    for (const kernel of ['wasm', 'native'] as const) {
      for (const [what, spoil] of [
        ['offset past the end', (c: ReturnType<typeof recordColumns>) => (c.wave_offset[3] = 100n)],
        ['last sample past the end', (c: ReturnType<typeof recordColumns>) => (c.event_length[3] = 4)], // 4 events of 3 samples: 9 + 4 > 12
        ['negative length', (c: ReturnType<typeof recordColumns>) => (c.event_length[1] = -1)],
      ] as const) {
        const wb = waveBatch('in0', phase(1, 4, 1, 0n, 0)[0]!);
        spoil(recordColumns(wb.batch));
        const m = new StreamingMerge({ output: 'r', kernel });
        m.addInput('in0');
        try {
          m.push('in0', wb);
          expect.unreachable(`${kernel}: ${what}`);
        } catch (e) {
          expect(isDaqError(e) && e.code, `${kernel}: ${what}`).toBe('DAQ_ERR_BATCH_INVALID');
        }
      }
    }
  });

  it('the committed merge-kernel.wasm is a fresh build of its source (npm run build:wasm)', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const args = pkg.scripts['build:wasm']!.split(/\s+/).slice(1);
    const o = args.indexOf('-o');
    const dir = mkdtempSync(path.join(tmpdir(), 'merge-kernel-'));
    try {
      args[o + 1] = path.join(dir, 'k.wasm');
      execFileSync(process.execPath, [path.join(ROOT, 'node_modules/assemblyscript/bin/asc.js'), ...args], { cwd: ROOT, stdio: 'pipe' });
      const fresh = readFileSync(path.join(dir, 'k.wasm'));
      const committed = readFileSync(path.join(ROOT, 'src/merge/wasm/merge-kernel.wasm'));
      expect(Buffer.compare(fresh, committed)).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('StreamingMerge kernel path: chunks and memory', () => {
  it('a buffered batch counts once on either path: the kernel holds chunks of it, not a copy', () => {
    const evs = phase(1, 2000, 1, 0n, 0)[0]!;
    const js = new StreamingMerge({ output: 'r', kernel: 'js' });
    const wasm = new StreamingMerge({ output: 'r', kernel: 'wasm', maxBufferedBytes: 0 });
    for (const m of [js, wasm]) {
      m.addInput('a');
      m.addInput('b'); // silent: holds everything back
      m.push('a', waveBatch('a', evs));
    }
    const jsBytes = js.bufferedBytes;
    expect(jsBytes).toBeGreaterThan(2000 * 60);
    expect(wasm.bufferedBytes).toBe(jsBytes);
    expect(wasm.stats().inputs['a']!.buffered_bytes).toBe(jsBytes);
    (wasm as unknown as { toJs(failed: boolean): void }).toJs(false);
    expect(wasm.path).toBe('js');
    (wasm as unknown as { toKernel(): void }).toKernel();
    expect(wasm.path).toBe('wasm');
    expect(wasm.bufferedBytes).toBe(jsBytes);
    wasm.end('b');
    const out = wasm.finish();
    expect(out.reduce((a, b) => a + b.batch.numRows, 0)).toBe(2000);
    expect(wasm.bufferedBytes).toBe(0);
  });

  it('chunks end at row counts and at 64 Ki samples; out-of-order samples and late events too; output exact', () => {
    const rng = new Xorshift(21);
    for (const chunk of [1, 2, 5, 256]) {
      // Two inputs, batches of 50 events; every 7th event 20000 samples long (a chunk's sample
      // budget ends after 3 of them).
      const inputs = events(2, 200, (_, i) => (i % 7 === 3 ? 20_000 : 1 + Math.floor(rng.next() * 40)), (s, i) => BigInt(i * 2 + s));
      const m = new StreamingMerge({ output: 'records', kernel: 'wasm', kernelChunkRows: chunk, maxOutputRows: 64, silenceTimeoutMs: 1e12 });
      m.addInput('in0');
      m.addInput('in1');
      const out: WaveBatch[] = [];
      for (let b = 0; b < 4; b++) {
        for (let s = 0; s < 2; s++) {
          let wb = waveBatch(`in${s}`, inputs[s]!.slice(b * 50, b * 50 + 50));
          // Batch 2 of input 1 stores its events' samples in reverse order (not sequential: one chunk).
          if (b === 2 && s === 1) wb = reversedSamples(wb);
          m.push(`in${s}`, wb);
        }
        out.push(...m.drain());
      }
      out.push(...m.finish());
      expect(m.path).toBe('wasm');
      expectMergedExactly(out, inputs);
    }
    // Late events (appended a chunk at a time, flagged): input b times out, then speaks.
    let now = 0;
    const m = new StreamingMerge({ output: 'records', kernel: 'wasm', kernelChunkRows: 2, silenceTimeoutMs: 10, now: () => now });
    m.addInput('a');
    m.addInput('b');
    const ev = (t: number, src: number, len: number): Ev => ({ t: BigInt(t), pid: 0, ch: src, wave: new Uint16Array(len).fill(t * 3 + 1), src, seq: t });
    m.push('a', waveBatch('a', [ev(10, 0, 3), ev(20, 0, 4)]));
    now = 8;
    m.push('a', waveBatch('a', []));
    now = 16;
    m.push('a', waveBatch('a', [ev(30, 0, 2)]));
    m.tick();
    expect(eventsOf(m.drain()).map((e) => e.t)).toEqual([10n, 20n]);
    const late = [ev(1, 1, 5), ev(2, 1, 1), ev(3, 1, 2), ev(4, 1, 3), ev(5, 1, 6)];
    m.push('b', waveBatch('b', [...late, ev(40, 1, 2)]));
    const got = eventsOf(m.finish());
    expect(got.map((e) => e.t)).toEqual([1n, 2n, 3n, 4n, 5n, 30n, 40n]);
    expect(got.map((e) => (e.flags & RecordFlags.LATE) !== 0)).toEqual([true, true, true, true, true, false, false]);
    expect(got.slice(0, 5).map((e) => [...e.wave])).toEqual(late.map((e) => [...e.wave]));
    expect(m.path).toBe('wasm');
  });

  it('chunk budgets are shared out among the inputs: samples past 16 inputs (1 Mi in all, 4 Ki at least), rows (16384 in all, 256 to 2048); 64 inputs of long events merge exactly', () => {
    expect([1, 2, 16, 17, 32, 64, 256, 4096].map(chunkSamplesFor)).toEqual([65536, 65536, 65536, 61680, 32768, 16384, 4096, 4096]);
    const k = new MergeKernel(kernelModule()!, 100, 1 << 20, new OutputPool());
    k.setSlots(64);
    expect(k.chunkSamples).toBe(16384);
    k.setSlots(3);
    expect(k.chunkSamples).toBe(65536);
    // Rows per chunk: 16384 shared out, 256 to 2048; or as set.
    expect([1, 8, 16, 32, 64, 4096].map(chunkRowsFor)).toEqual([2048, 2048, 1024, 512, 256, 256]);
    expect(k.chunkRows).toBe(2048);
    k.setSlots(64);
    expect(k.chunkRows).toBe(256);
    const fixed = new MergeKernel(kernelModule()!, 100, 1 << 20, new OutputPool(), 5);
    fixed.setSlots(64);
    expect(fixed.chunkRows).toBe(5);
    expect(() => new StreamingMerge({ output: 'r', kernelChunkRows: 0 })).toThrow(/kernelChunkRows must be an integer from 1/);
    // 64 inputs, 300 to 700 samples an event: chunks of 23 to 54 rows, cut by samples.
    const rng = new Xorshift(9);
    const inputs = events(64, 120, () => 300 + Math.floor(rng.next() * 400), (s, i) => BigInt(i * 64 + ((s * 7) % 64)));
    const m = new StreamingMerge({ output: 'records', kernel: 'wasm', silenceTimeoutMs: 1e12 });
    const copyRows = vi.spyOn(MergeKernel.prototype as unknown as { copyRows(b: unknown, a: number, e: number): number }, 'copyRows');
    try {
      inputs.forEach((_, s) => m.addInput(`in${s}`));
      inputs.forEach((evs, s) => m.push(`in${s}`, waveBatch(`in${s}`, evs)));
      const out: WaveBatch[] = [];
      m.finish((b) => out.push(b));
      expectMergedExactly(out, inputs);
      const rows = copyRows.mock.calls.map(([, a, e]) => e - a);
      expect(Math.max(...rows)).toBeLessThanOrEqual(Math.ceil(16384 / 300));
      expect(rows.length).toBeGreaterThan(64 * 2);
    } finally {
      copyRows.mockRestore();
    }
  });

  it('a merge step that stops at the watermark keeps its chunks for the next: rows are copied into the kernel once', () => {
    const inputs = phase(4, 1000, 1, 0n, 0);
    const m = new StreamingMerge({ output: 'records', kernel: 'wasm', kernelChunkRows: 2048, silenceTimeoutMs: 1e12 });
    const copyRows = vi.spyOn(MergeKernel.prototype as unknown as { copyRows(b: unknown, a: number, e: number): number }, 'copyRows');
    try {
      inputs.forEach((_, s) => m.addInput(`in${s}`));
      for (let s = 0; s < 3; s++) m.push(`in${s}`, waveBatch(`in${s}`, inputs[s]!));
      const out: WaveBatch[] = [];
      // Input 3 comes 100 events at a time: every drain stops part way through the other inputs' chunks.
      for (let i = 0; i < 1000; i += 100) {
        m.push('in3', waveBatch('in3', inputs[3]!.slice(i, i + 100)));
        m.drain((b) => out.push(b));
      }
      m.finish((b) => out.push(b));
      expectMergedExactly(out, inputs);
      // One chunk for each of inputs 0-2 (1000 rows), one per batch of input 3: none copied again.
      expect(copyRows.mock.calls.length).toBe(3 + 10);
    } finally {
      copyRows.mockRestore();
    }
  });

  it('recycled output batches are reused on either path: the same buffers come back, output still exact', () => {
    const k = 3;
    const inputs = phase(k, 3000, 1, 0n, 0);
    for (const [kernel, recycle] of [['wasm', false], ['wasm', true], ['js', false], ['js', true]] as const) {
      const m = new StreamingMerge({ output: 'records', kernel, maxOutputRows: 500, silenceTimeoutMs: 1e12 });
      for (let s = 0; s < k; s++) m.addInput(`in${s}`);
      const seen = new Set<ArrayBufferLike>();
      let reused = 0;
      const out: WaveBatch[] = [];
      for (let i = 0; i < 3000; i += 300) {
        for (let s = 0; s < k; s++) m.push(`in${s}`, waveBatch(`in${s}`, inputs[s]!.slice(i, i + 300)));
        for (const b of i + 300 < 3000 ? m.drain() : m.finish()) {
          const buf = recordColumns(b.batch).timestamp.buffer;
          if (seen.has(buf)) reused++;
          seen.add(buf);
          // A recycled batch is gone: keep a copy of its events to check.
          out.push(recycle ? copyBatch(b) : b);
          if (recycle) {
            m.recycle(b);
            m.recycle(b); // twice: ignored
          }
        }
      }
      expectMergedExactly(out, inputs);
      if (recycle) expect(reused).toBeGreaterThan(10);
      else expect(reused).toBe(0);
    }
    // A batch that did not come from the merge is ignored.
    const m = new StreamingMerge({ output: 'records', kernel: 'wasm' });
    m.recycle(waveBatch('x', phase(1, 10, 1, 0n, 0)[0]!));
    expect((m as unknown as { pool: { held: number } }).pool.held).toBe(0);
  });

  it('a drain with a sink hands each output batch on as soon as it is complete: recycled at once, a few buffers serve a whole drain', () => {
    const k = 8;
    for (const kernel of ['wasm', 'js'] as const) {
      for (const block of [1, 200]) {
        const inputs = phase(k, 3000, block, 0n, 0);
        const m = new StreamingMerge({ output: 'records', kernel, maxOutputRows: 500, silenceTimeoutMs: 1e12 });
        for (let s = 0; s < k; s++) m.addInput(`in${s}`);
        // One push per input, then one drain: 48 output batches.
        for (let s = 0; s < k; s++) m.push(`in${s}`, waveBatch(`in${s}`, inputs[s]!));
        const buffers = new Set<ArrayBufferLike>();
        const out: WaveBatch[] = [];
        const returned = m.finish((b) => {
          expect(b.batch.numRows).toBeLessThanOrEqual(500);
          buffers.add(recordColumns(b.batch).timestamp.buffer);
          buffers.add(b.samples.buffer);
          out.push(copyBatch(b));
          m.recycle(b);
        });
        expect(returned).toEqual([]);
        expect(out.length).toBe(48);
        expectMergedExactly(out, inputs);
        // Built all at the end, the 48 batches would need 96 buffers.
        expect(buffers.size, `${kernel}, block ${block}`).toBeLessThanOrEqual(4);
      }
    }
  });

  it('a borrowing sink (drain(sink, { borrow: true })) gets views of the kernel\'s output area, the JS path\'s buffers come back by themselves; output exact on every path', () => {
    const k = 8;
    for (const kernel of ['wasm', 'js', 'auto'] as const) {
      for (const block of [1, 200]) {
        const inputs = phase(k, 3000, block, 0n, 0);
        const m = new StreamingMerge({ output: 'records', kernel, maxOutputRows: 500, silenceTimeoutMs: 1e12 });
        for (let s = 0; s < k; s++) m.addInput(`in${s}`);
        const out: WaveBatch[] = [];
        const buffers = new Set<ArrayBufferLike>();
        // Two drains: the second (finish) after more of every input.
        const sink = (b: WaveBatch) => {
          const c = recordColumns(b.batch);
          for (const col of Object.values(c)) buffers.add(col.buffer);
          buffers.add(b.samples.buffer);
          out.push(copyBatch(b)); // borrowed: valid only now
        };
        for (let s = 0; s < k; s++) m.push(`in${s}`, waveBatch(`in${s}`, inputs[s]!.slice(0, 1500)));
        expect(m.drain(sink, { borrow: true })).toEqual([]);
        for (let s = 0; s < k; s++) m.push(`in${s}`, waveBatch(`in${s}`, inputs[s]!.slice(1500)));
        m.finish(sink, { borrow: true });
        const what = `${kernel}, block ${block}: ${m.path}`;
        expectMergedExactly(out, inputs);
        expect(out.length, what).toBeGreaterThanOrEqual(48);
        if (kernel === 'wasm') expect(buffers.size, what).toBe(1); // every column and the samples: the kernel's memory
        // Without giving batches back: 12 buffers a batch on the JS path unless borrowing recycles them.
        else expect(buffers.size, what).toBeLessThanOrEqual(kernel === 'js' ? 24 : 40);
      }
    }
    // A later drain without borrow hands out batches of their own again.
    const m = new StreamingMerge({ output: 'records', kernel: 'wasm', maxOutputRows: 100, silenceTimeoutMs: 1e12 });
    m.addInput('a');
    m.push('a', waveBatch('a', phase(1, 300, 1, 0n, 0)[0]!));
    const views: WaveBatch[] = [];
    m.drain((b) => views.push(b), { borrow: true });
    m.end('a');
    const own = m.finish();
    expect([views.length, own.length]).toEqual([3, 1]);
    const mem = recordColumns(views[0]!.batch).timestamp.buffer;
    for (const b of own) expect(recordColumns(b.batch).timestamp.buffer).not.toBe(mem);
    expect(() => m.drain(undefined, { borrow: true })).toThrow(/borrow.*needs a sink/);
  });

  it('output batches end at maxOutputRows, or before the event that would take their samples past maxOutputSamples (a longer event alone); both paths, output exact', () => {
    const rng = new Xorshift(33);
    const maxRows = 40;
    const maxSamples = 3000;
    for (const kernel of ['wasm', 'js'] as const) {
      for (const block of [1, 50]) {
        const k = 4;
        // 1 to 120 samples an event (40 of them: 2400 on average, so either limit may bind); every
        // 97th event 5000 (over the budget: a batch of its own).
        const inputs = events(k, 600, (_, i) => (i % 97 === 13 ? 5000 : 1 + Math.floor(rng.next() * 120)), (s, i) =>
          BigInt((Math.floor(i / block) * k + s) * block + (i % block)),
        );
        const m = new StreamingMerge({ output: 'records', kernel, maxOutputRows: maxRows, maxOutputSamples: maxSamples, silenceTimeoutMs: 1e12 });
        for (let s = 0; s < k; s++) m.addInput(`in${s}`);
        for (let s = 0; s < k; s++) m.push(`in${s}`, waveBatch(`in${s}`, inputs[s]!));
        const out: WaveBatch[] = [];
        m.finish((b) => out.push(b));
        expect(m.path).toBe(kernel);
        expectMergedExactly(out, inputs);
        const why = { rows: 0, samples: 0, alone: 0 };
        out.forEach((b, i) => {
          const n = b.batch.numRows;
          const S = b.samples.length;
          const where = `${kernel}, block ${block}, batch ${i}: ${n} rows, ${S} samples`;
          expect(n, where).toBeLessThanOrEqual(maxRows);
          if (S > maxSamples) {
            expect(n, where).toBe(1);
            why.alone++;
          }
          if (i === out.length - 1) return;
          // Every batch but the last is full: by rows, or the next event would not have fitted.
          const next = recordColumns(out[i + 1]!.batch).event_length[0]!;
          if (n === maxRows) why.rows++;
          else {
            expect(S + next, where).toBeGreaterThan(maxSamples);
            why.samples++;
          }
        });
        expect(why.rows, `${kernel}, block ${block}`).toBeGreaterThan(0);
        expect(why.samples).toBeGreaterThan(0);
        expect(why.alone).toBe(4 * 7);
      }
    }
    // The JS builder hands a batch on as soon as the next event does not fit it.
    const src = new SourceBatch(recordColumns(waveBatch('x', [20, 20, 20, 5].map((len, i): Ev => ({ t: BigInt(i), pid: 0, ch: 0, wave: new Uint16Array(len), src: 0, seq: i })))
      .batch), new Uint16Array(65));
    const builder = new WaveOutputBuilder('x', 100, undefined, 50);
    const fullAfter = [1, 2, 3].map((r) => (builder.append(src, r - 1, r, 0), builder.full));
    expect(fullAfter).toEqual([false, false, true]);
    expect(builder.take(true).map((b) => b.batch.numRows)).toEqual([2]);
    expect(builder.full).toBe(false);
    builder.append(src, 3, 4, 0);
    expect(builder.take().map((b) => b.samples.length)).toEqual([25]);
    expect(() => new StreamingMerge({ output: 'r', maxOutputSamples: 0 })).toThrow(/maxOutputSamples must be an integer from 1/);
    expect(() => new StreamingMerge({ output: 'r', maxOutputRows: 1.5 })).toThrow(/maxOutputRows must be an integer from 1/);
  });

  it('a sink that throws: the error propagates; the next drain hands on the batches left, then goes on (nothing lost, nothing twice)', () => {
    const k = 4;
    for (const kernel of ['wasm', 'js'] as const) {
      // Bursts of 200 with 50-row batches: one run of the JS path completes several batches at once.
      for (const block of [1, 200]) {
        const inputs = phase(k, 2000, block, 0n, 0);
        const m = new StreamingMerge({ output: 'records', kernel, maxOutputRows: 50, silenceTimeoutMs: 1e12 });
        for (let s = 0; s < k; s++) m.addInput(`in${s}`);
        const out: WaveBatch[] = [];
        for (let s = 0; s < k; s++) m.push(`in${s}`, waveBatch(`in${s}`, inputs[s]!.slice(0, 1000)));
        let calls = 0;
        expect(() =>
          m.drain((b) => {
            out.push(copyBatch(b));
            if (++calls === 2) throw new Error('disk full');
          }),
        ).toThrow('disk full');
        expect(out.length).toBe(2);
        // The merge knows what it emitted: an event below it, from a new input, is late.
        m.addInput('late');
        m.push('late', waveBatch('late', [{ t: 0n, pid: 0, ch: 99, wave: Uint16Array.of(1), src: 99, seq: 0 }]));
        m.end('late');
        out.push(...m.drain()); // the batches left, then the rest below the watermark
        for (let s = 0; s < k; s++) m.push(`in${s}`, waveBatch(`in${s}`, inputs[s]!.slice(1000)));
        m.finish((b) => out.push(b));
        const what = `${kernel}, block ${block}`;
        expect(m.stats().emitted_events, what).toBe(k * 2000 + 1);
        const evs = eventsOf(out);
        expect(evs.map((e) => e.eventId)).toEqual(evs.map((_, i) => BigInt(i)));
        expect(evs.filter((e) => e.ch === 99).map((e) => e.flags & RecordFlags.LATE), what).toEqual([RecordFlags.LATE]);
        const rest = evs.filter((e) => e.ch !== 99);
        const ref = reference(inputs);
        expect(rest.map((e) => `${e.t}/${e.ch}/${e.wave.join(',')}`), what).toEqual(ref.map((e) => `${e.t}/${e.ch}/${e.wave.join(',')}`));
      }
    }
    // A sink may not drain its own merge.
    const m = new StreamingMerge({ output: 'records', silenceTimeoutMs: 1e12 });
    m.addInput('a');
    m.push('a', waveBatch('a', phase(1, 10, 1, 0n, 0)[0]!));
    expect(() => m.finish(() => m.drain())).toThrow(/own sink/);
  });
});

/** The batch with its events' samples stored in reverse order (offsets rewritten to match). */
function reversedSamples(wb: WaveBatch): WaveBatch {
  const c = recordColumns(wb.batch);
  const n = c.event_length.length;
  const samples = new Uint16Array(wb.samples.length);
  let at = 0;
  for (let i = n - 1; i >= 0; i--) {
    const off = Number(c.wave_offset[i]!);
    const len = c.event_length[i]!;
    samples.set(wb.samples.subarray(off, off + len), at);
    c.wave_offset[i] = BigInt(at);
    at += len;
  }
  return { ...wb, samples };
}

