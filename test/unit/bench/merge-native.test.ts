import { describe, expect, it } from 'vitest';
import { nativeMergeSeconds } from '../../bench/peers/merge-native.ts';
import { allocRecordColumns, makeRecordsBatch } from '../../../src/schema/waveform.ts';
import type { WaveBatch } from '../../../src/schema/batch.ts';

/** Input s: `batches` batches of `n` events at timestamps s, s + k, s + 2k, ... (so inputs interleave), 1-7 samples each. */
function input(s: number, k: number, batches: number, n: number): WaveBatch[] {
  const out: WaveBatch[] = [];
  for (let b = 0; b < batches; b++) {
    const c = allocRecordColumns(n);
    let off = 0;
    for (let i = 0; i < n; i++) {
      const len = 1 + ((i * 7 + s) % 7);
      c.timestamp[i] = BigInt((b * n + i) * k + s);
      c.channel[i] = s;
      c.event_length[i] = len;
      c.wave_offset[i] = BigInt(off);
      off += len;
    }
    const samples = new Uint16Array(off);
    for (let j = 0; j < off; j++) samples[j] = (s * 1000 + b * 100 + j) & 0xffff;
    out.push({ kind: 'waveform', stream: `in${s}`, batch: makeRecordsBatch(c), samples });
  }
  return out;
}

// The merge bench's native peer (C, built with the system's cc: .ci/run installs gcc) checks its own
// output in an untimed run; these make sure that check fails when the output is wrong.
describe('native merge peer (merge bench reference)', () => {
  it('merges the bench inputs and passes its own output check', () => {
    const inputs = [0, 1, 2].map((s) => input(s, 3, 2, 500));
    const sec = nativeMergeSeconds(inputs, 1);
    expect(sec).toBeGreaterThan(0);
  });

  it('fails its check when an input is out of order (so the output is)', () => {
    const inputs = [0, 1, 2].map((s) => input(s, 3, 2, 500));
    // Input 1's second batch before its first: its timestamps go back.
    inputs[1]!.reverse();
    expect(() => nativeMergeSeconds(inputs, 1)).toThrow(/native merge peer failed: merge-native: records out of key order/);
  });

  it('rejects an input whose waveform lies outside its samples, naming the row', () => {
    const inputs = [0, 1].map((s) => input(s, 2, 1, 100));
    const c = inputs[1]![0]!.batch.getChild('wave_offset')!.data[0]!.values as BigInt64Array;
    c[7] = 1_000_000n;
    expect(() => nativeMergeSeconds(inputs, 1)).toThrow(/input 1 row 7: waveform outside the samples/);
  });
});
