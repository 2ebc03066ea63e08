import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { recoverRun } from '../../../src/storage/recover-run.ts';
import { jsonSegment } from '../../fixtures/json-segment.ts';
import { tmpDir } from '../../helpers/tmp.ts';
import { runUntilAckThenKill } from '../../helpers/kill-child.ts';

let cleanup: (() => void) | null = null;
afterEach(() => cleanup?.());

const runAndKill = (dir: string, ackLog: string, run: number, delayMs: number) => runUntilAckThenKill('test/fixtures/storage-crash-writer.ts', [dir, ackLog, String(run)], ackLog, delayMs);

describe('StorageSink under SIGKILL', () => {
  it('every acknowledged batch is stored exactly once after repeated kill -9 (mid-segment too) and daq recover', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const ackLog = path.join(t.dir, 'acks.txt');
    const dir = path.join(t.dir, 'run');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify({ run_id: 'crash', t0_unix_ns: '0' }));
    const runs = 4;
    for (let run = 0; run < runs; run++) await runAndKill(dir, ackLog, run, 50 + Math.floor(Math.random() * 400));
    const res = await recoverRun(dir, { writeSegment: jsonSegment });
    expect(res.recovery.corruption).toBeNull();

    const segs = fs.readdirSync(dir).filter((f) => /^seg-\d{6}\.h5$/.test(f));
    expect(segs.length).toBeGreaterThan(runs);
    const count = new Map<number, number>();
    for (const f of segs) {
      const { values } = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as { values: number[] };
      for (const v of values) count.set(v, (count.get(v) ?? 0) + 1);
    }
    for (const n of count.values()) expect(n).toBe(1); // nothing stored twice
    const acked = fs.readFileSync(ackLog, 'utf8').split('\n').filter(Boolean);
    expect(new Set(acked.map((a) => a.split(' ')[0])).size).toBe(runs);
    for (const a of acked) {
      const [run, id] = a.split(' ').map(Number) as [number, number];
      for (let r = 0; r < 20; r++) expect(count.get(run * 1e6 + id * 100 + r), `acked batch ${a} row ${r}`).toBe(1);
    }
  }, 120_000);
});
