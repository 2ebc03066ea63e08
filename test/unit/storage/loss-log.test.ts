import { afterEach, describe, expect, it } from 'vitest';
import { LossLog, LossRecorder, batchTimeSpan } from '../../../src/storage/loss-log.ts';
import { makeScalarBatch } from '../../../src/schema/scalar.ts';
import type { StreamBatch } from '../../../src/schema/batch.ts';
import { tmpDir } from '../../helpers/tmp.ts';

let cleanup: (() => void) | null = null;
afterEach(() => cleanup?.());

const batch = (ts: bigint[]): StreamBatch => ({
  kind: 'scalar',
  stream: 's',
  batch: makeScalarBatch({ timestampNs: BigInt64Array.from(ts), tag: new Uint32Array(ts.length), value: new Float64Array(ts.length), quality: new Uint8Array(ts.length) }),
});

describe('LossRecorder', () => {
  it('aggregates losses per stream and reason into one fsynced line per flush, with rows and time span', () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const rec = new LossRecorder(new LossLog(t.dir), 60_000);
    for (let i = 0; i < 1000; i++) rec.add({ stream: 's', reason: 'rejected-batch', sb: batch([BigInt(5000 - i), BigInt(7000 + i)]), detail: 'DAQ_ERR_X: bad' });
    rec.add({ stream: 'p', reason: 'processor-failed', rows: 3 });
    rec.add({ stream: 'records', reason: 'late', rows: 2, tMin: 10n, tMax: 20n, unit: 'ps' });
    expect(LossLog.read(t.dir)).toEqual([]); // nothing until the flush
    rec.close();
    const got = LossLog.read(t.dir).map(({ at: _at, ...e }) => e);
    expect(got).toEqual([
      { stream: 's', reason: 'rejected-batch', rows: 2000, batches: 1000, t_min: '4001', t_max: '7999', time_unit: 'ns', detail: 'DAQ_ERR_X: bad' },
      { stream: 'p', reason: 'processor-failed', rows: 3, batches: 1 },
      { stream: 'records', reason: 'late', rows: 2, batches: 1, t_min: '10', t_max: '20', time_unit: 'ps' },
    ]);
    rec.close(); // idempotent: nothing pending, nothing appended
    expect(LossLog.read(t.dir).length).toBe(3);
  });

  it('finds the time span of a batch, and none for a batch without a 64-bit time column', () => {
    expect(batchTimeSpan(batch([3n, -2n, 9n]))).toEqual({ tMin: -2n, tMax: 9n, unit: 'ns' });
    expect(batchTimeSpan({ ...batch([1n]), kind: 'waveform', samples: new Uint16Array(0) } as StreamBatch)).toBeNull();
    expect(batchTimeSpan(batch([]))).toBeNull();
  });
});
