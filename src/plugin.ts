import type { z } from 'zod';
import type { StreamBatch, StreamInfo } from './schema/batch.ts';
import type { Processor } from './pipeline/types.ts';

/** What a running instrument gets from the daemon. */
export interface InstrumentContext {
  /** Aborted when the daemon stops the instrument: finish the current batch and return. */
  signal: AbortSignal;
  /**
   * Run clock origin (Unix ns). Waveform timestamps count ps from here. A continued run
   * (`run.on_restart: continue`) keeps its first session's origin, so timestamps go on rising.
   */
  t0UnixNs: bigint;
  /**
   * When this session started (Unix ns): equal to `t0UnixNs` in a new run, later in a continued
   * one. Pace and start clocks from here; express waveform times as ps from `t0UnixNs`.
   */
  sessionStartUnixNs: bigint;
  /** Seed for simulators (config `seed`, default fixed), so runs are reproducible. */
  seed: number;
  log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, extra?: Record<string, unknown>) => void;
}

/**
 * An instrument: declares the streams it emits, then yields batches of them.
 * The daemon pulls from `run()` only as fast as the lossless subscribers accept (backpressure is
 * simply not asking for the next batch yet), so `run()` should not buffer without bound.
 */
export interface InstrumentDefinition<O = unknown> {
  name: string;
  version: string;
  /** zod schema of the options block in the config; validated at boot. */
  options: z.ZodType<O>;
  /** The streams this instrument emits for the given options; `instance` is the config's instance name. */
  streams(options: O, instance: string): Omit<StreamInfo, 'lineage'>[];
  /** Produce batches until `ctx.signal` aborts. */
  run(options: O, ctx: InstrumentContext, instance: string): AsyncIterable<StreamBatch>;
}

/** Declares an instrument plugin; the module's default export. */
export function defineInstrument<O>(def: InstrumentDefinition<O>): InstrumentDefinition<O> {
  return def;
}

/** A processor plugin: options schema plus a factory. */
export interface ProcessorDefinition<O = unknown> {
  name: string;
  version: string;
  options: z.ZodType<O>;
  create(options: O, instance: string): Processor;
}

/** Declares a processor plugin; the module's default export. */
export function defineProcessor<O>(def: ProcessorDefinition<O>): ProcessorDefinition<O> {
  return def;
}
