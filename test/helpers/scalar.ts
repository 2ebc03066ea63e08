import { concatScalarColumns, scalarColumns } from '../../src/schema/scalar.ts';
import type { StreamBatch } from '../../src/schema/batch.ts';

/** Concatenates the columns of scalar batches (test reference comparisons), short names. */
export function concatScalar(batches: StreamBatch[]) {
  const c = concatScalarColumns(batches.map((b) => scalarColumns(b.batch)));
  return { ts: c.timestampNs, tag: c.tag, value: c.value, quality: c.quality };
}
