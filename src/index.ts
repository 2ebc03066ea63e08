// Public API of the daq package: named re-exports only.

// Errors
export { DaqError, ConfigError, SchemaMismatchError, WalCorruptedError, StorageError, ERROR_CODES, isDaqError } from './errors.ts';
export type { DaqErrorCode } from './errors.ts';

// Data model
export { scalarSchema, makeScalarBatch, scalarColumns, Quality } from './schema/scalar.ts';
export type { TagInfo, ScalarColumns } from './schema/scalar.ts';
export { recordsSchema, RECORD_FIELDS, RecordFlags, makeRecordsBatch, recordColumns, allocRecordColumns } from './schema/waveform.ts';
export type { RecordColumns, RecordFieldName } from './schema/waveform.ts';
export { makeBatch, batchBytes } from './schema/batch.ts';
export type { StreamBatch, WaveBatch, TableBatch, StreamInfo, Lineage } from './schema/batch.ts';
export { validateBatch, checkSchema } from './schema/validate.ts';

// Pipeline contracts
export type { Sink, Processor, RunInfo } from './pipeline/types.ts';

// Extension points
export { defineInstrument, defineProcessor } from './plugin.ts';
export type { InstrumentDefinition, InstrumentContext, ProcessorDefinition } from './plugin.ts';

// Live view
export { LiveHub } from './live/live-hub.ts';
export type { LiveFrame, LiveViewOptions } from './live/live-hub.ts';
export { startServer } from './live/server.ts';
export type { LiveServer, LiveServerOptions } from './live/server.ts';
export { connectLive } from './live/client.ts';
export type { ConnectLiveOptions } from './live/client.ts';
export { minMaxDecimate } from './live/decimate.ts';

// Merge
export { StreamingMerge } from './merge/streaming-merge.ts';
export type { StreamingMergeOptions, LatePolicy, LossRecord } from './merge/streaming-merge.ts';
export { StreamingRecords } from './merge/streaming-records.ts';

// Reading runs and traces
export { openRun, RunReader } from './query/open-run.ts';
export { RecordsView } from './query/records-view.ts';
export type { RecordsBatch, WavesOptions, WavesResult } from './query/records-view.ts';
export { ScalarStreamReader } from './query/scalar-reader.ts';
export type { TagTable } from './query/scalar-reader.ts';
export { exportBatches, writeArrowFile, writeCsv, writeNpyColumns, timeWindow } from './query/export.ts';
export type { ExportFormat, ExportBatchesOptions, BatchSource, ExportOptions, ExportProgress, ExportResult, CsvExportOptions, NpyExportOptions, NpyExportResult } from './query/export.ts';
export { loadTrace } from './query/trace.ts';
export type { Trace, LoadTraceOptions } from './query/trace.ts';

// Processors and plugins (engine; see README "Extending")
export { BUILTIN_PROCESSORS } from './processors/index.ts';
export { InstrumentHost } from './plugins/instrument-host.ts';
export type { InstrumentHostOptions } from './plugins/instrument-host.ts';
