/**
 * Every error the daemon raises on purpose is a {@link DaqError} with a stable `code`
 * (`DAQ_ERR_<AREA>_<WHAT>`). The registry {@link ERROR_CODES} documents each code; a test checks
 * that every code thrown in the sources is listed here and in README.md.
 *
 * A message says what was expected, what was found, and where (file, field, stream, offset).
 */
export const ERROR_CODES = {
  DAQ_ERR_CONFIG_INVALID: 'A config file has a bad key or value; the message names the file and the field path.',
  DAQ_ERR_CONFIG_READ: 'A config file could not be read or parsed (YAML/JSON syntax).',
  DAQ_ERR_SCHEMA_MISMATCH: 'A batch does not match the schema its stream declared; names the stream, field, expected and found.',
  DAQ_ERR_BATCH_INVALID: 'A batch breaks an invariant beyond its schema (e.g. a waveform outside its sample slice).',
  DAQ_ERR_STREAM_UNKNOWN: 'A batch or subscription names a stream that no instrument or processor registered.',
  DAQ_ERR_STREAM_DUPLICATE: 'Two instruments or processors registered the same stream name.',
  DAQ_ERR_WAL_CORRUPTED: 'A WAL record failed its CRC or framing check before the tail; names file and offset.',
  DAQ_ERR_WAL_POISONED: 'An fsync or write of the WAL failed; nothing more is acknowledged until restart and recovery.',
  DAQ_ERR_STORAGE_IO: 'A storage write, fsync or rename failed (disk full, I/O error); names the file.',
  DAQ_ERR_HDF5: 'h5wasm reported a failure (often silently): a dataset or attribute could not be written or read; or an HDF5 file read directly has malformed or truncated metadata or data (names the file and what is wrong).',
  DAQ_ERR_RUN_LOCKED: 'Another daemon holds the run folder lock.',
  DAQ_ERR_RUN_NOT_FOUND: 'A run folder or segment does not exist or holds no finished segments.',
  DAQ_ERR_MERGE_ORDER: 'An input of a merge violated its (timestamp, pid, channel) sort order.',
  DAQ_ERR_MERGE_LATE: 'An event arrived with a timestamp below what the merge already emitted.',
  DAQ_ERR_PLUGIN_INVALID: 'A plugin module does not export a valid definition (defineInstrument / defineProcessor).',
  DAQ_ERR_PLUGIN_LOAD: 'A plugin module could not be imported.',
  DAQ_ERR_PLUGIN_CRASHED: 'A plugin threw, rejected or stopped responding; it is restarted with backoff.',
  DAQ_ERR_TRACE_FORMAT: 'A trace file has a format the loader cannot read (npz, Fortran order, bad header).',
  DAQ_ERR_TRACE_RANGE: 'A trace request lies outside the file (too small for the requested offset/length, bad slice).',
  DAQ_ERR_EXPORT_UNSUPPORTED: 'An export cannot write a column (type not representable in the format, unknown column name, no schema for an empty export).',
  DAQ_ERR_LIVE_AUTH: 'A live-view request lacked the token required when bound beyond loopback.',
  DAQ_ERR_INTERNAL: 'An actor raised an unexpected error; it was counted and the actor resumed.',
  DAQ_ERR_INSTRUMENT_FAILED: 'An instrument run() threw or rejected; it is restarted with backoff.',
  DAQ_ERR_PROCESSOR_FAILED: 'A processor threw on a batch; the batch is skipped for that processor and counted.',
  DAQ_ERR_USAGE: 'A command-line argument is missing or invalid.',
} as const;

export type DaqErrorCode = keyof typeof ERROR_CODES;

export interface DaqErrorOptions {
  cause?: unknown;
  /** Structured context: file, field, stream, offset... Kept for logs and /status. */
  details?: Record<string, unknown>;
}

/** Base of every error the daemon raises on purpose. */
export class DaqError extends Error {
  readonly code: DaqErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: DaqErrorCode, message: string, options: DaqErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details ?? {};
  }
}

export class ConfigError extends DaqError {
  constructor(message: string, options: DaqErrorOptions = {}) {
    super('DAQ_ERR_CONFIG_INVALID', message, options);
  }
}

export class SchemaMismatchError extends DaqError {
  constructor(message: string, options: DaqErrorOptions = {}) {
    super('DAQ_ERR_SCHEMA_MISMATCH', message, options);
  }
}

export class WalCorruptedError extends DaqError {
  constructor(message: string, options: DaqErrorOptions = {}) {
    super('DAQ_ERR_WAL_CORRUPTED', message, options);
  }
}

export class StorageError extends DaqError {
  constructor(message: string, options: DaqErrorOptions = {}) {
    super('DAQ_ERR_STORAGE_IO', message, options);
  }
}

/** True when `err` is a DaqError with the given code. */
export function isDaqError(err: unknown, code?: DaqErrorCode): err is DaqError {
  return err instanceof DaqError && (code === undefined || err.code === code);
}
