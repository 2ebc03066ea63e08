import type { RunInfo, Sink } from '../../src/pipeline/types.ts';
import type { StreamBatch, StreamInfo } from '../../src/schema/batch.ts';

/**
 * A lossless test sink that keeps every batch it receives, per stream, in arrival order, and can
 * delay each write (a slow disk). It records the most bytes it ever held unacknowledged.
 */
export class CaptureSink implements Sink {
  readonly batches = new Map<string, StreamBatch[]>();
  readonly streams: StreamInfo[] = [];
  outstanding = 0;
  maxOutstanding = 0;
  closed = false;

  constructor(
    readonly name: string,
    private readonly delayMs = 0,
  ) {}

  async open(_run: RunInfo): Promise<void> {}

  addStream(info: StreamInfo): void {
    this.streams.push(info);
    this.batches.set(info.name, []);
  }

  async write(sb: StreamBatch): Promise<void> {
    const list = this.batches.get(sb.stream);
    if (!list) throw new Error(`${this.name}: batch before addStream for ${sb.stream}`);
    list.push(sb);
    this.outstanding++;
    this.maxOutstanding = Math.max(this.maxOutstanding, this.outstanding);
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    this.outstanding--;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  rows(stream: string): number {
    return (this.batches.get(stream) ?? []).reduce((a, b) => a + b.batch.numRows, 0);
  }
}
