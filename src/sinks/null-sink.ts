import type { RunInfo, Sink } from '../pipeline/types.ts';
import type { StreamBatch, StreamInfo } from '../schema/batch.ts';

/** A sink that only counts: the reference point for pipeline overhead in benchmarks. */
export class NullSink implements Sink {
  readonly name = 'null';
  rows = 0;
  batches = 0;
  async open(_run: RunInfo): Promise<void> {}
  addStream(_info: StreamInfo): void {}
  write(sb: StreamBatch): Promise<void> {
    this.rows += sb.batch.numRows;
    this.batches++;
    return Promise.resolve();
  }
  async close(): Promise<void> {}
  stats(): Record<string, number> {
    return { rows: this.rows, batches: this.batches };
  }
}
