import { scalarColumns } from '../../src/schema/scalar.ts';
import type { StreamBatch } from '../../src/schema/batch.ts';

/** Concatenates the columns of scalar batches (test reference comparisons). */
export function concatScalar(batches: StreamBatch[]) {
  const cols = batches.map((b) => scalarColumns(b.batch));
  const n = cols.reduce((a, c) => a + c.tag.length, 0);
  const out = { ts: new BigInt64Array(n), tag: new Uint32Array(n), value: new Float64Array(n), quality: new Uint8Array(n) };
  let o = 0;
  for (const c of cols) {
    out.ts.set(c.timestampNs, o);
    out.tag.set(c.tag, o);
    out.value.set(c.value, o);
    out.quality.set(c.quality, o);
    o += c.tag.length;
  }
  return out;
}
