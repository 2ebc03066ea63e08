import { z } from 'zod';

const name = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]*$/, 'must start with a letter and use only letters, digits, _ and -');

/**
 * One instrument or processor instance. `name` prefixes an instrument's streams
 * (`<name>.tags`, `<name>.ch0`, ...); `type` is a built-in or `plugin` with `module` (a path
 * relative to the working directory); `options` are validated by the component's own schema.
 */
const componentConfig = z
  .object({
    name,
    type: z.string(),
    module: z.string().optional(),
    options: z.record(z.string(), z.unknown()).default({}),
    /** Set false to leave it out without deleting it. */
    enabled: z.boolean().default(true),
  })
  .strict();
export const instrumentConfig = componentConfig;
export const processorConfig = componentConfig;

export const configSchema = z
  .object({
    run: z
      .object({
        /** Run id (folder name); default: UTC date-time plus a random suffix. */
        id: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only').optional(),
        /** Output folder; runs go to `<out>/<run_id>/`. Relative to the working directory. */
        out: z.string().default('./data'),
        /** Stop after this many seconds (default: run until SIGINT/SIGTERM). */
        duration_s: z.number().positive().optional(),
        /** Seed of the simulated instruments. */
        seed: z.number().int().min(0).default(1),
        /**
         * What a start does when `id` is not set: `new` starts a new run folder; `continue` reopens
         * the newest run folder in `out` (recovering it first if it was not closed cleanly) and
         * appends to it (a new one when `out` holds none).
         */
        on_restart: z.enum(['new', 'continue']).default('new'),
      })
      .strict()
      .default({ out: './data', seed: 1, on_restart: 'new' }),
    instruments: z.array(instrumentConfig).default([
      { name: 'plant', type: 'sim-scalar', options: { tags: 300, rate_hz: 10 }, enabled: true },
      { name: 'digitizer', type: 'sim-digitizer', options: { channels: 4 }, enabled: true },
    ]),
    processors: z.array(processorConfig).default([]),
    /** Watchdog and restart policy of instrument plugins (`type: plugin`, each in a worker thread). */
    plugins: z
      .object({
        /** Import, options validation and streams() must finish within this. */
        boot_timeout_ms: z.number().int().positive().default(15_000),
        /** How often the worker is pinged. */
        ping_interval_ms: z.number().int().positive().default(250),
        /** A worker that answers no ping for this long is terminated (busy loop, blocking call) and restarted. */
        ping_timeout_ms: z.number().int().positive().default(3000),
        /** Holding credit without producing a batch this long is a fault (0: off, for slow devices). */
        stall_timeout_ms: z.number().int().min(0).default(0),
        /** After a stop, run() has this long to return before the worker is terminated. */
        stop_timeout_ms: z.number().int().positive().default(5000),
        /** First restart delay; doubles per consecutive failure up to `backoff_max_ms`. */
        backoff_initial_ms: z.number().int().min(0).default(250),
        backoff_max_ms: z.number().int().min(0).default(30_000),
      })
      .strict()
      .default({ boot_timeout_ms: 15_000, ping_interval_ms: 250, ping_timeout_ms: 3000, stall_timeout_ms: 0, stop_timeout_ms: 5000, backoff_initial_ms: 250, backoff_max_ms: 30_000 }),
    merge: z
      .object({
        /** Merge waveform streams into one time-ordered records stream (the streaming-records actor). */
        enabled: z.boolean().default(true),
        /** Waveform streams to merge: names, `*` wildcards allowed (default: every waveform stream). */
        inputs: z.array(z.string()).default(['*']),
        /** Name of the merged stream. */
        output: z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]*$/).default('records'),
        /** An input silent this long while other inputs push stops holding the merge back (counted); a stall of the whole process times nothing out. */
        silence_timeout_ms: z.number().positive().default(2000),
        /** Events older than what was already emitted: `flag` (kept, flags bit 0) or `reject` (dropped, recorded). */
        late_policy: z.enum(['flag', 'reject']).default('flag'),
        /** Most MiB the merge may hold before its inputs' producers are held. */
        max_buffered_mib: z.number().positive().default(256),
        /** Also store the unmerged input streams. */
        store_inputs: z.boolean().default(false),
      })
      .strict()
      .default({ enabled: true, inputs: ['*'], output: 'records', silence_timeout_ms: 2000, late_policy: 'flag', max_buffered_mib: 256, store_inputs: false }),
    storage: z
      .object({
        /**
         * Lossless sinks: `hdf5` (WAL + HDF5 segments, durable: the default), `arrow-ipc` (Arrow IPC
         * stream files per stream, fsynced only at the end), `none`.
         */
        sinks: z.array(z.enum(['hdf5', 'arrow-ipc', 'none'])).default(['hdf5']),
        /** Seconds of data per HDF5 segment. */
        epoch_s: z.number().positive().default(60),
        /**
         * A segment is cut early when its epoch holds this many MiB. Default: 32, whatever the
         * number of tags (the dense tag index costs ~0.3 bytes per tag). Memory holds about three
         * epochs.
         */
        epoch_mib: z.number().positive().optional(),
        /**
         * A segment is also cut when its waveform samples reach this many MiB. Samples are not held
         * in memory: they go straight to the segment's pool file; this bounds a pool file's size
         * and what recovery re-reads (CRC check) after a crash.
         */
        pool_mib: z.number().positive().default(1024),
        /** HDF5 segment writer threads: segments are CPU-bound; 2 on a machine with spare cores. */
        writer_threads: z.number().int().min(1).max(8).default(1),
        wal: z
          .object({
            /** WAL segment file size. */
            segment_mib: z.number().positive().default(64),
            /** Longest a batch waits for the group commit (one fsync for all waiting). */
            group_commit_ms: z.number().min(0).default(2),
            /** `fsync`: acknowledged once fsynced (survives power loss); `none`: once written to the page cache (survives kill -9 only). */
            durability: z.enum(['fsync', 'none']).default('fsync'),
          })
          .strict()
          .default({ segment_mib: 64, group_commit_ms: 2, durability: 'fsync' }),
      })
      .strict()
      .default({ sinks: ['hdf5'], epoch_s: 60, pool_mib: 1024, writer_threads: 1, wal: { segment_mib: 64, group_commit_ms: 2, durability: 'fsync' } }),
    flow: z
      .object({
        /** Unacknowledged MiB per lossless subscriber before producers are held. */
        lossless_max_inflight_mib: z.number().positive().default(64),
        /** Batches a lossy subscriber (live view) may have waiting before the oldest is dropped. */
        lossy_max_pending: z.number().int().min(1).default(4),
      })
      .strict()
      .default({ lossless_max_inflight_mib: 64, lossy_max_pending: 4 }),
    http: z
      .object({
        enabled: z.boolean().default(true),
        /** Bind address; anything but loopback requires `token`. */
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(7420),
        token: z.string().min(16).optional(),
      })
      .strict()
      .default({ enabled: true, host: '127.0.0.1', port: 7420 }),
    log: z
      .object({
        level: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
      })
      .strict()
      .default({ level: 'info' }),
  })
  .strict();

export type DaqConfig = z.infer<typeof configSchema>;
export type InstrumentConfig = z.infer<typeof instrumentConfig>;
export type ProcessorConfig = z.infer<typeof processorConfig>;
