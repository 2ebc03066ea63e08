import type { StreamBatch, StreamInfo } from '../schema/batch.ts';

/** What every sink and processor learns about the run when it opens. */
export interface RunInfo {
  runId: string;
  /** The run folder `<out>/<run_id>/`. */
  dir: string;
  /** Run clock origin as Unix ns: waveform `timestamp` (ps) counts from here (the first session's start). */
  t0UnixNs: bigint;
  /** This session's start as Unix ns (later than `t0UnixNs` in a continued run; default `t0UnixNs`). */
  sessionStartUnixNs?: bigint;
  /** The run's validated config, stored as the `config` root attribute of every segment. */
  config: unknown;
  /** Software name and version, stored as the `software` root attribute. */
  software: string;
}

/**
 * A lossless consumer (Arrow IPC files, WAL+HDF5 storage, ...). The sink actor calls these in
 * order and never concurrently: `open`, then `addStream` for each stream before its first batch,
 * then `write`s, then `close`. `write` resolves when the batch is processed (for storage: durable,
 * i.e. covered by an fsync): only then is it acknowledged and flow-control credit returned.
 */
export interface Sink {
  readonly name: string;
  open(run: RunInfo): Promise<void>;
  addStream(info: StreamInfo): void | Promise<void>;
  write(sb: StreamBatch): Promise<void>;
  /** Drain, make everything durable, release files. */
  close(): Promise<void>;
  /** Counters for /status and /metrics (flat names, numbers). */
  stats?(): Record<string, number>;
  /** Starts latency quantiles afresh (they cover the last few thousand events otherwise). */
  resetStats?(): void;
}

/**
 * A processor turns input batches into derived streams published back through the manager.
 * Its outputs are declared up front so they can be registered (and get lineage) before data flows.
 */
export interface Processor {
  readonly name: string;
  /** Input stream names it subscribes to (lossless). */
  readonly inputs: string[];
  /** Output streams, known once the inputs' infos are known. */
  outputs(inputs: StreamInfo[]): StreamInfo[];
  /**
   * Process one input batch; return derived batches (possibly none). A processor that keeps
   * input batches buffered (a merge) declares `holdsInput` and calls `release` once it no longer
   * needs the batch: only then is the batch acknowledged, so the manager's flow control bounds
   * what it holds. Otherwise the batch is acknowledged when `process` returns.
   */
  process(sb: StreamBatch, release: () => void): StreamBatch[] | Promise<StreamBatch[]>;
  readonly holdsInput?: boolean;
  /** Called every `tickMs` (time-based work such as silence timeouts); returns batches to publish. */
  tick?(nowMs: number): StreamBatch[];
  readonly tickMs?: number;
  /** End of input: emit what is still held back. */
  flush?(): StreamBatch[] | Promise<StreamBatch[]>;
  stats?(): Record<string, number>;
}
