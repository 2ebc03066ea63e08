import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { firstValueFrom, filter, take, toArray } from 'rxjs';
import { connectLive } from '../../src/live/client.ts';
import { ScalarGenerator, simScalarOptions } from '../../src/instruments/sim-scalar.ts';
import { daq } from '../helpers/cli.ts';
import type { Proc } from '../helpers/cli.ts';
import { concatScalar } from '../helpers/scalar.ts';
import { tmpDir } from '../helpers/tmp.ts';

let proc: Proc | null = null;
let cleanup: (() => void) | null = null;
afterEach(async () => {
  if (proc && proc.child.exitCode === null) {
    proc.child.kill('SIGKILL');
    await proc.exit;
  }
  cleanup?.();
});

describe('daq run serves live data over HTTP and WebSocket', () => {
  it('a client receives the values the simulator acquired; /status and /metrics answer', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    proc = daq(['run', '--out', t.dir, '--quiet', '--port', '0', '--log-level', 'info']);
    await proc.waitFor('"url"');
    const url = /"url":"([^"]+)"/.exec(proc.stderr())![1]!;
    const status = (await (await fetch(`${url}/status`)).json()) as { run_id: string; dir: string; streams: Record<string, unknown> };
    expect(Object.keys(status.streams)).toContain('plant.tags');
    expect(await (await fetch(`${url}/metrics`)).text()).toContain('daq_stream_rows_total{stream="plant.tags"}');

    const frames = await firstValueFrom(
      connectLive(url, { streams: ['plant.tags'], tags: ['tag5'], pixels: 5000, intervalMs: 100 }).pipe(
        filter((f) => f.batch.numRows >= 5),
        take(1),
        toArray(),
      ),
    );
    const b = frames[0]!.batch;
    const tMs = b.getChild('t_ms')!.toArray() as Float64Array;
    const min = b.getChild('min')!.toArray() as Float64Array;
    const max = b.getChild('max')!.toArray() as Float64Array;
    // Fewer points than pixels: each bucket is one point (min = max = the value).
    expect([...min]).toEqual([...max]);
    // Recompute tag5's values from the simulator with the run's seed and clock origin.
    const run = JSON.parse(fs.readFileSync(path.join(status.dir, 'run.json'), 'utf8'));
    const opts = simScalarOptions.parse(run.config.instruments[0].options);
    const gen = new ScalarGenerator(opts, run.config.run.seed, BigInt(run.t0_unix_ns));
    const lastK = Math.round(((tMs[tMs.length - 1]! * 1e6 - Number(run.t0_unix_ns)) / 1e9) * opts.rate_hz);
    const ref = concatScalar([gen.generate((lastK + 1) * opts.tags, 's')]);
    const refByTime = new Map<number, number>();
    for (let i = 0; i < ref.tag.length; i++) if (ref.tag[i] === 5) refByTime.set(Math.round(Number(ref.ts[i]) / 1e6), ref.value[i]!);
    for (let i = 0; i < tMs.length; i++) expect(min[i]).toBe(refByTime.get(Math.round(tMs[i]!)));
    proc.child.kill('SIGTERM');
    expect((await proc.exit).code).toBe(0);
  });
});
