import { describe, expect, it } from 'vitest';
import { h5ready, writeSegmentSync } from '../../../src/storage/hdf5/segment-writer.ts';
import { simScalarOptions, simScalarTags } from '../../../src/instruments/sim-scalar.ts';
import { LiveHub } from '../../../src/live/live-hub.ts';
import { scalarSchema } from '../../../src/schema/scalar.ts';
import { ONE_TAG_PY, py } from '../../helpers/h5py.ts';
import { tmpDir } from '../../helpers/tmp.ts';

describe('a million tags', () => {
  const tags = simScalarTags(simScalarOptions.parse({ tags: 1_000_000, rate_hz: 0.1 }));

  it('the segment writer stores a 1M-entry tag table that h5py reads', async () => {
    await h5ready();
    const t = tmpDir();
    try {
      const n = 10;
      writeSegmentSync(t.dir, {
        runId: 'm', index: 0, software: 't', configJson: '{}', lineageJson: '{}', t0UnixNs: 0n, walSeqLast: 0n, waves: [], tables: [],
        scalars: [{ stream: 'big', tags, timestampNs: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)), tag: Uint32Array.from({ length: n }, (_, i) => i * 99_999), value: new Float64Array(n).fill(1.5), quality: new Uint8Array(n) }],
      });
      // 10 of 900k ids with points: the sparse index is the smaller (docs/file-layout.md).
      const r = py<{ n: number; last: string; layout: string; tag: number[]; one: number[] }>(
        `import h5py, json, sys
${ONE_TAG_PY}
f = h5py.File(sys.argv[1] + '/seg-000000.h5')
g = f['scalars/big']
print(json.dumps({'n': len(g['tags/name']), 'last': g['tags/name'][-1].decode(), 'layout': g['tag_index'].attrs['layout'], 'tag': g['tag_index/tag'][:3].tolist(), 'one': one_tag(g, 199998, 0, 10).tolist() + one_tag(g, 5, 0, 10).tolist()}))`,
        [t.dir],
      );
      expect(r).toEqual({ n: 1_000_000, last: 'tag999999', layout: 'sparse', tag: [0, 99999, 199998], one: [1.5] });
    } finally {
      t.cleanup();
    }
  });

  it('the live hub registers a 1M-tag stream', () => {
    const hub = new LiveHub();
    hub.addStream({ name: 'big', kind: 'scalar', schema: scalarSchema, tags, lineage: { plugin: 't', version: '1', optionsHash: '', inputs: [] } });
    expect(hub.streams()[0]!.tags!.length).toBe(1_000_000);
  });
});
