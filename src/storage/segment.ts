import type { RecordColumns } from '../schema/waveform.ts';
import type { TagTable } from '../schema/scalar.ts';
import type { EncodedTagTable } from './hdf5/tag-table.ts';

/**
 * The contract between the storage sink (WAL, epochs) and the HDF5 segment writer.
 * One segment = one flush epoch of a run, written as `<dir>/seg-<NNNNNN>.h5.tmp`, fsynced,
 * renamed to `seg-<NNNNNN>.h5`, directory fsynced. Arrays are handed over (transferable).
 */
export interface SegmentContent {
  runId: string;
  /** Segment sequence number within the run (0, 1, 2, ...). */
  index: number;
  software: string;
  /** The run's config, as JSON text (root attribute `config`). */
  configJson: string;
  /** Per-stream lineage, as JSON text (root attribute `lineage`). */
  lineageJson: string;
  t0UnixNs: bigint;
  /** WAL position covered by this segment (inclusive last sequence number), for checkpoints. */
  walSeqLast: bigint;
  scalars: ScalarSegmentPart[];
  waves: WaveSegmentPart[];
  tables: TableSegmentPart[];
}

/** Scalar points of one stream in this epoch, in arrival order (the writer sorts by tag, time). */
export interface ScalarSegmentPart {
  stream: string;
  /**
   * The stream's tag table: as objects, or encoded once for every segment (the sink's way); null
   * when the table is the one already stored in segment `tagsSegment` (unchanged since).
   */
  tags: TagTable | EncodedTagTable | null;
  /** Index of the segment that stores this table (attribute `tags_segment`); default this one. */
  tagsSegment?: number;
  timestampNs: BigInt64Array;
  tag: Uint32Array;
  value: Float64Array;
  quality: Uint8Array;
}

/**
 * Waveform events of one stream in this epoch, sorted by (timestamp, pid, channel), with
 * `wave_offset` indexing `samples` (segment-local: on disk it indexes this segment's /wave_pool).
 * The run's primary records stream goes to `/records` + `/wave_pool`; others to
 * `/streams/<stream>/records` + `/streams/<stream>/wave_pool`.
 */
export interface WaveSegmentPart {
  stream: string;
  primary: boolean;
  dtNs: number;
  records: RecordColumns;
  /** The samples, to be written into the segment; empty when they are in a pool file (`pool`). */
  samples: Uint16Array;
  /**
   * The samples are already on disk in the pool file `file` (a name in the run folder: a finished
   * HDF5 file whose `/wave_pool` holds them): the segment links its `/wave_pool` there.
   */
  pool?: { file: string; samples: number };
  /** Global position of samples[0] in the run's concatenated wave pool (attribute `global_offset`). */
  globalSampleOffset: bigint;
}

/** A generic derived table (processor output): columns by name, written under `/tables/<stream>/`. */
export interface TableSegmentPart {
  stream: string;
  columns: Record<string, ArrayLike<number | bigint> & { buffer: ArrayBufferLike }>;
  units: Record<string, string>;
}

export interface SegmentSummary {
  path: string;
  /**
   * Set when the writer closed the file but left it to the caller to make durable: the temporary
   * file to fsync and rename to `path` (see `commitFile`). Absent once `path` is durable.
   */
  uncommitted?: string;
  bytes: number;
  scalarPoints: number;
  records: number;
  samples: number;
  durationMs: number;
  /** The writer thread's JS heap in use after the write (bytes), when written by a thread. */
  writerHeapBytes?: number;
  /** The writer thread's WebAssembly (h5wasm) heap size after the write (bytes). */
  writerWasmBytes?: number;
}
