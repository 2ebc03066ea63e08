import { AsyncByteQueue, RecordBatchStreamWriter } from 'apache-arrow';
import type { RecordBatch, Schema } from 'apache-arrow';

/** Collects the writer's output synchronously instead of queueing it for async iteration. */
class ChunkCollector extends AsyncByteQueue {
  chunks: Uint8Array[] = [];
  override write(value: unknown): void {
    const v = value as ArrayBufferView;
    if (v.byteLength > 0) this.chunks.push(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  }
  take(): Uint8Array[] {
    const out = this.chunks;
    this.chunks = [];
    return out;
  }
}

/**
 * Incremental Arrow IPC *stream* encoder: the schema message comes with the first batch, then one
 * message per batch, then an end-of-stream marker on `finish()`. Returns the encoded chunks
 * (views of the batch's own buffers where Arrow allows, so no extra copy of column data).
 */
export class IpcStreamEncoder {
  private readonly writer = new RecordBatchStreamWriter();
  private readonly sink = new ChunkCollector();

  constructor(schema: Schema) {
    this.writer.reset(this.sink as never, schema);
  }

  encode(batch: RecordBatch): Uint8Array[] {
    this.writer.write(batch);
    return this.sink.take();
  }

  finish(): Uint8Array[] {
    this.writer.finish();
    return this.sink.take();
  }
}
