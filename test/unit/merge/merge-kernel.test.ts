import { describe, expect, it, vi } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { StreamingMerge } from '../../../src/merge/streaming-merge.ts';
import { kernelModule, MergeKernel } from '../../../src/merge/wasm-kernel.ts';
import { recordColumns } from '../../../src/schema/waveform.ts';
import { isDaqError } from '../../../src/errors.ts';
import type { WaveBatch } from '../../../src/schema/batch.ts';
import { waveBatch } from '../../helpers/waves.ts';
import type { Ev } from '../../helpers/waves.ts';
import { expectMergedExactly } from '../../helpers/merge.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');

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
    expect(paths).toEqual(['js', 'wasm', 'js', 'wasm']);
    expectMergedExactly(out, inputs);
  });

  it('auto changes path within one large drain (decision windows of 2^16 events), output exact', () => {
    const k = 4;
    const inputs = phase(k, 50_000, 1, 0n, 0);
    const m = new StreamingMerge({ output: 'records', silenceTimeoutMs: 1e12 });
    for (let s = 0; s < k; s++) m.addInput(`in${s}`);
    for (let s = 0; s < k; s++) m.push(`in${s}`, waveBatch(`in${s}`, inputs[s]!));
    expect(m.path).toBe('js');
    const take = vi.spyOn(MergeKernel.prototype, 'take');
    let out: WaveBatch[];
    try {
      out = m.drain(); // 200,000 events below the watermark, interleaved
      expect(take).toHaveBeenCalled(); // the kernel built part of this drain's output
    } finally {
      take.mockRestore();
    }
    expect(m.path).toBe('wasm');
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
    (m as unknown as { toWasm(): void }).toWasm();
    expect(m.path).toBe('wasm');
    const wb = waveBatch('in0', phase(1, 4, 1, 0n, 0)[0]!);
    recordColumns(wb.batch).wave_offset[3] = 100n;
    m.push('in0', wb);
    expect(m.path).toBe('js');
  });

  it('the kernel rejects a batch whose waveforms lie outside its samples', () => {
    const wb = waveBatch('in0', phase(1, 4, 1, 0n, 0)[0]!);
    recordColumns(wb.batch).wave_offset[3] = 100n;
    const m = new StreamingMerge({ output: 'r', kernel: 'wasm' });
    m.addInput('in0');
    try {
      m.push('in0', wb);
      expect.unreachable();
    } catch (e) {
      expect(isDaqError(e) && e.code).toBe('DAQ_ERR_BATCH_INVALID');
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

describe('StreamingMerge kernel path: memory accounting', () => {
  it('a buffered batch counts with its kernel copy, and the copy is uncounted when the merge leaves the kernel', () => {
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
    // The kernel copy: the same columns plus 8 bytes of key per row and the samples.
    expect(wasm.bufferedBytes).toBeGreaterThan(2 * jsBytes);
    expect(wasm.bufferedBytes).toBeLessThan(2.2 * jsBytes);
    expect(wasm.stats().inputs['a']!.buffered_bytes).toBe(wasm.bufferedBytes);
    (wasm as unknown as { toJs(failed: boolean): void }).toJs(false);
    expect(wasm.path).toBe('js');
    expect(wasm.bufferedBytes).toBe(jsBytes);
    (wasm as unknown as { toWasm(): void }).toWasm();
    expect(wasm.path).toBe('wasm');
    expect(wasm.bufferedBytes).toBeGreaterThan(2 * jsBytes);
    wasm.end('b');
    const out = wasm.finish();
    expect(out.reduce((a, b) => a + b.batch.numRows, 0)).toBe(2000);
    expect(wasm.bufferedBytes).toBe(0);
  });
});
