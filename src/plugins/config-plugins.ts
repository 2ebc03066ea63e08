import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import type { DaqConfig } from '../config/schema.ts';
import { ConfigError, DaqError, isDaqError } from '../errors.ts';
import type { Processor } from '../pipeline/types.ts';
import type { ProcessorDefinition } from '../plugin.ts';
import { BUILTIN_PROCESSORS } from '../processors/index.ts';
import type { LogFn } from '../util/logger.ts';
import { formatIssues } from './definition-shape.ts';
import { InstrumentHost } from './instrument-host.ts';

/** An instrument plugin of the config, booted and validated in its worker. */
export interface LoadedInstrumentPlugin {
  /** Index in the config's `instruments[]`. */
  index: number;
  host: InstrumentHost;
}

/** `<file>: <field>: <message>` with the original code (PLUGIN_LOAD, PLUGIN_INVALID, ...). */
function located(err: unknown, where: string, field: string): DaqError {
  const code = isDaqError(err) ? err.code : 'DAQ_ERR_PLUGIN_LOAD';
  const msg = (err as Error).message;
  const details = { ...(isDaqError(err) ? err.details : {}), file: where, field };
  return new DaqError(code, `${where}: ${field}: ${msg}`, { cause: err, details });
}

/**
 * Boots every enabled `type: plugin` instrument of the config in its worker thread (see
 * {@link InstrumentHost}), with the watchdog and backoff of the config's `plugins` section. A module
 * that cannot be imported, whose default export is not a `defineInstrument` result, or whose options
 * fail its schema rejects with DAQ_ERR_PLUGIN_LOAD / DAQ_ERR_PLUGIN_INVALID naming the config file
 * and field (`instruments[2].module`); hosts booted before the failure are closed.
 */
export async function loadInstrumentPlugins(cfg: DaqConfig, where: string, t0UnixNs: bigint, log: LogFn, sessionStartUnixNs: bigint = t0UnixNs): Promise<LoadedInstrumentPlugin[]> {
  const out: LoadedInstrumentPlugin[] = [];
  const p = cfg.plugins;
  try {
    for (const [index, inst] of cfg.instruments.entries()) {
      if (!inst.enabled || inst.type !== 'plugin') continue;
      try {
        const host = await InstrumentHost.load({
          module: inst.module!,
          instance: inst.name,
          options: inst.options,
          t0UnixNs,
          sessionStartUnixNs,
          seed: cfg.run.seed,
          log,
          bootTimeoutMs: p.boot_timeout_ms,
          pingIntervalMs: p.ping_interval_ms,
          pingTimeoutMs: p.ping_timeout_ms,
          stallTimeoutMs: p.stall_timeout_ms,
          stopTimeoutMs: p.stop_timeout_ms,
          backoff: { initialMs: p.backoff_initial_ms, maxMs: p.backoff_max_ms },
        });
        out.push({ index, host });
      } catch (err) {
        throw located(err, where, `instruments[${index}].module`);
      }
    }
  } catch (err) {
    await Promise.all(out.map(({ host }) => host.close()));
    throw err;
  }
  return out;
}

const processorDefinitionShape = z.object({
  name: z.string().min(1),
  version: z.string().min(1),
  options: z.custom<{ safeParse: (v: unknown) => unknown }>(
    (v) => typeof v === 'object' && v !== null && typeof (v as { safeParse?: unknown }).safeParse === 'function',
    { message: 'must be a zod schema (with safeParse)' },
  ),
  create: z.custom<(...args: unknown[]) => unknown>((v) => typeof v === 'function', { message: 'must be a function' }),
});

/** Imports a processor plugin module (main thread) and checks its default export. */
async function importProcessor(module: string): Promise<ProcessorDefinition<unknown>> {
  const href = module.startsWith('file:') ? module : pathToFileURL(path.resolve(module)).href;
  let mod: { default?: unknown };
  try {
    mod = (await import(href)) as { default?: unknown };
  } catch (err) {
    throw new DaqError('DAQ_ERR_PLUGIN_LOAD', `cannot import processor module ${href}: ${(err as Error).message}`, { cause: err, details: { module: href } });
  }
  const res = processorDefinitionShape.safeParse(mod.default);
  if (!res.success) {
    throw new DaqError(
      'DAQ_ERR_PLUGIN_INVALID',
      `the default export of ${href} is not a defineProcessor() result: ${mod.default === undefined ? 'no default export' : formatIssues(res.error, 'default')}`,
      { details: { module: href } },
    );
  }
  return mod.default as ProcessorDefinition<unknown>;
}

/**
 * The config's enabled `processors[]` as Processor instances, in config order: built-ins from
 * {@link BUILTIN_PROCESSORS} (options already validated by the config), plugins imported from their
 * module and validated here. Errors name the config file and field (`processors[0].options.frame_size`).
 */
export async function createConfigProcessors(cfg: DaqConfig, where: string): Promise<Array<{ index: number; proc: Processor }>> {
  const out: Array<{ index: number; proc: Processor }> = [];
  for (const [index, pc] of cfg.processors.entries()) {
    if (!pc.enabled) continue;
    let def: ProcessorDefinition<unknown>;
    if (pc.type === 'plugin') {
      try {
        def = await importProcessor(pc.module!);
      } catch (err) {
        throw located(err, where, `processors[${index}].module`);
      }
    } else {
      const b = BUILTIN_PROCESSORS[pc.type];
      if (!b) throw new ConfigError(`${where}: processors[${index}].type: unknown processor type "${pc.type}" (known: ${Object.keys(BUILTIN_PROCESSORS).join(', ')}, plugin)`, { details: { file: where, field: `processors[${index}].type` } });
      def = b as ProcessorDefinition<unknown>;
    }
    const opts = def.options.safeParse(pc.options);
    if (!opts.success) {
      throw new ConfigError(`${where}: ${formatIssues(opts.error, `processors[${index}].options`)}`, { details: { file: where, field: `processors[${index}].options` } });
    }
    let proc: Processor;
    try {
      proc = def.create(opts.data, pc.name);
    } catch (err) {
      throw located(err, where, `processors[${index}]`);
    }
    out.push({ index, proc });
  }
  return out;
}
