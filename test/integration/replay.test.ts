import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Daemon } from '../../actors/daemon.ts';
import { validateConfig } from '../../src/config/load.ts';
import { openRun } from '../../src/query/open-run.ts';
import { tmpDir } from '../helpers/tmp.ts';

let cleanup: (() => void) | null = null;
afterEach(() => cleanup?.());

type Cols = { timestampNs: BigInt64Array; tag: Uint32Array; value: Float64Array; quality: Uint8Array };

/** Points as [tag, t, value, quality] rows sorted by (tag, t): independent of segment boundaries. */
function rows(c: Cols, shiftNs = 0n): Array<[number, bigint, number, number]> {
  const out: Array<[number, bigint, number, number]> = [];
  for (let i = 0; i < c.tag.length; i++) out.push([c.tag[i]!, c.timestampNs[i]! + shiftNs, c.value[i]!, c.quality[i]!]);
  return out.sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
}

async function record(out: string, id: string): Promise<string> {
  const config = validateConfig(
    {
      run: { out, id },
      instruments: [
        { name: 'plant', type: 'sim-scalar', options: { tags: 20, rate_hz: 50, batch_ms: 20, bad_quality_fraction: 0.05 } },
        { name: 'aux', type: 'sim-scalar', options: { tags: 3, rate_hz: 7, tag_prefix: 'aux' } },
      ],
      merge: { enabled: false },
      http: { enabled: false },
    },
    'record',
  );
  const d = await Daemon.start({ config, log: () => {} });
  await new Promise((r) => setTimeout(r, 1200));
  await d.stop();
  return d.run.dir;
}

async function replayRun(out: string, id: string, options: Record<string, unknown>): Promise<{ dir: string; ms: number }> {
  const config = validateConfig({ run: { out, id }, instruments: [{ name: 'rep', type: 'replay', options }], merge: { enabled: false }, http: { enabled: false } }, 'replay');
  const t = Date.now();
  const d = await Daemon.start({ config, log: () => {} });
  while (d.status().instruments['rep']!.running || d.status().instruments['rep']!.batches === 0) await new Promise((r) => setTimeout(r, 10));
  const ms = Date.now() - t;
  await d.stop();
  return { dir: d.run.dir, ms };
}

describe('replay instrument', () => {
  it('plays a recorded run back into a new run: every stream, value, tag, quality and timestamp exactly; paced by speed', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const src = await record(t.dir, 'recorded');
    const a = await openRun(src);
    const plant = a.readScalars('plant.tags');
    const aux = a.readScalars('aux.tags');
    const tags = a.tags('plant.tags');
    a.close();
    expect(plant.tag.length).toBeGreaterThan(500);
    let t0 = plant.timestampNs[0]!;
    let t1 = t0;
    for (const x of plant.timestampNs) {
      if (x < t0) t0 = x;
      if (x > t1) t1 = x;
    }
    const spanMs = Number(t1 - t0) / 1e6;

    // Speed 2: takes about half the recorded span.
    const paced = await replayRun(t.dir, 'replayed', { run: src, speed: 2, batch_ms: 50 });
    expect(paced.ms).toBeGreaterThan((spanMs / 2) * 0.8);
    const b = await openRun(paced.dir);
    expect(b.scalarStreams().sort()).toEqual(['rep.aux.tags', 'rep.plant.tags']);
    expect(rows(b.readScalars('rep.plant.tags'))).toEqual(rows(plant));
    expect(rows(b.readScalars('rep.aux.tags'))).toEqual(rows(aux));
    expect(b.tags('rep.plant.tags')).toEqual(tags);
    b.close();

    // As fast as possible, one stream, timestamps moved onto the new run's clock: same values.
    const fast = await replayRun(t.dir, 'fast', { run: src, streams: ['plant.tags'], realtime: false, retime: true, batch_rows: 97 });
    const c = await openRun(fast.dir);
    expect(c.scalarStreams()).toEqual(['rep.plant.tags']);
    const got = c.readScalars('rep.plant.tags');
    const runT0 = BigInt(JSON.parse(fs.readFileSync(path.join(fast.dir, 'run.json'), 'utf8')).t0_unix_ns as string);
    expect(rows(got)).toEqual(rows(plant, runT0 - t0));
    c.close();
  }, 60_000);

  it('a missing recording fails before the run starts, naming the config field', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const config = validateConfig({ run: { out: path.join(t.dir, 'out') }, instruments: [{ name: 'rep', type: 'replay', options: { run: path.join(t.dir, 'nope') } }] }, 'r.yaml');
    await expect(Daemon.start({ config, configSource: 'r.yaml', log: () => {} })).rejects.toThrow(/r\.yaml: instruments\[0\]\.options\.run: no run folder .*nope/);
    expect(fs.existsSync(path.join(t.dir, 'out'))).toBe(false);
  });
});
