import { RecordBatchReader, RecordBatchStreamWriter, Table, tableFromIPC, tableToIPC } from 'apache-arrow';
import type { RecordBatch, Schema } from 'apache-arrow';
import type { StreamInfo } from '../schema/batch.ts';

/**
 * Messages between an {@link InstrumentHost} and its plugin worker. Batches cross as Arrow IPC
 * stream bytes (one schema + one batch message) plus, for waveforms, the samples; both buffers are
 * transferred, not copied.
 */
export type HostToWorker =
  | { type: 'start'; credits: number }
  | { type: 'credit'; n: number }
  | { type: 'ping'; seq: number }
  | { type: 'stop' };

/** A stream declaration on the wire: the schema as IPC bytes. */
export type WireStream = Omit<StreamInfo, 'lineage' | 'schema'> & { schemaIpc: Uint8Array };

export type WorkerToHost =
  | { type: 'ready'; name: string; version: string; options: unknown; streams: WireStream[] }
  | { type: 'boot-error'; code: 'DAQ_ERR_PLUGIN_LOAD' | 'DAQ_ERR_PLUGIN_INVALID'; message: string }
  | { type: 'batch'; stream: string; kind: string; ipc: Uint8Array; samples?: Uint16Array }
  /** The plugin yielded something that is not a batch at all (counted as rejected). */
  | { type: 'bad-batch'; stream: string; message: string }
  | { type: 'pong'; seq: number }
  | { type: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; msg: string; extra?: Record<string, unknown> }
  | { type: 'error'; phase: 'start' | 'run'; message: string; stack?: string }
  | { type: 'done' };

/** Schema as IPC bytes (a stream with no batches). */
export function encodeSchema(schema: Schema): Uint8Array {
  const w = new RecordBatchStreamWriter();
  w.reset(undefined, schema);
  w.finish();
  return w.toUint8Array(true);
}

export function decodeSchema(bytes: Uint8Array): Schema {
  const reader = RecordBatchReader.from(bytes);
  reader.open();
  return reader.schema;
}

/** One batch as IPC stream bytes, in a fresh buffer that can be transferred. */
export function encodeBatch(batch: RecordBatch): Uint8Array {
  return tableToIPC(new Table(batch), 'stream');
}

/** The batch of {@link encodeBatch}'s bytes (columns are views into `bytes`: no copy). */
export function decodeBatch(bytes: Uint8Array): RecordBatch | undefined {
  return tableFromIPC(bytes).batches[0];
}
