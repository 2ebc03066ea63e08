import { describe, expect, it } from 'vitest';
import { buildKernelAlone, runKernelAlone } from '../../bench/merge-kernel.bench.ts';

// The merge-kernel bench drives src/merge/native/merge-core.h from C and checks the output itself
// (key order, ids, offsets, every waveform against its source): run small, it is also a test of
// the native kernel's loop without Node.
describe('native merge kernel driven from C (merge-kernel bench)', () => {
  it('merges 1, 3 and 64 inputs in small batches and passes its own output check', () => {
    const bin = buildKernelAlone();
    for (const [k, n, batch] of [[1, 500, 7], [3, 30_000, 100], [64, 64_000, 50]] as const) {
      const r = runKernelAlone(bin, k, n, batch, 1);
      expect(r.records, `k = ${k}`).toBe(Math.floor(n / k) * k);
      expect(r.kernel).toHaveLength(1);
      expect(r.bytes).toBeGreaterThan(r.samples * 2);
    }
  });
});
