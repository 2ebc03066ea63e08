import { ConfigError, DaqError } from '../errors.ts';
import type { StreamInfo } from '../schema/batch.ts';

/** Finds the processor's input stream and checks its kind. */
export function findInput(processor: string, inputs: StreamInfo[], stream: string, kinds: StreamInfo['kind'][]): StreamInfo {
  const info = inputs.find((s) => s.name === stream);
  if (!info) {
    throw new DaqError('DAQ_ERR_STREAM_UNKNOWN', `processor "${processor}": input stream "${stream}" is not registered`, {
      details: { processor, stream },
    });
  }
  if (!kinds.includes(info.kind)) {
    throw new ConfigError(`processor "${processor}": input stream "${stream}" is a ${info.kind} stream, expected ${kinds.join(' or ')}`, {
      details: { processor, stream, field: 'stream' },
    });
  }
  return info;
}

/**
 * Maps the selected tags of a scalar stream to dense slots 0..n-1 (state lives in typed arrays
 * indexed by slot). `names` undefined selects every tag. Returns `slotOf[tagId]` (−1 = not
 * selected) and the tag id of each slot.
 */
export function selectTags(processor: string, info: StreamInfo, names: string[] | undefined): { slotOf: Int32Array; tagIds: Uint32Array } {
  const tags = info.tags ?? [];
  let maxId = 0;
  for (const t of tags) maxId = Math.max(maxId, t.id);
  const slotOf = new Int32Array(maxId + 1).fill(-1);
  const chosen: number[] = [];
  if (names === undefined) {
    for (const t of tags) chosen.push(t.id);
  } else {
    const byName = new Map(tags.map((t) => [t.name, t.id]));
    for (const name of names) {
      const id = byName.get(name);
      if (id === undefined) {
        throw new ConfigError(`processor "${processor}": tag "${name}" is not in the tag table of stream "${info.name}" (${tags.length} tags)`, {
          details: { processor, stream: info.name, field: 'tags', tag: name },
        });
      }
      chosen.push(id);
    }
  }
  const tagIds = new Uint32Array(chosen.length);
  chosen.forEach((id, slot) => {
    slotOf[id] = slot;
    tagIds[slot] = id;
  });
  return { slotOf, tagIds };
}
