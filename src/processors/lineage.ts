import type { Lineage } from '../schema/batch.ts';
import { optionsHash } from '../util/hash.ts';

/** Lineage of a processor output: plugin name, version, hash of its (parsed) options, inputs. */
export function processorLineage(def: { name: string; version: string }, options: unknown, inputs: string[]): Lineage {
  return { plugin: def.name, version: def.version, optionsHash: optionsHash(options), inputs: [...inputs] };
}
