import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { scanWal } from '../../../src/storage/wal/wal-reader.ts';
import { crashPayload } from '../../fixtures/wal-crash-payload.ts';
import { tmpDir } from '../../helpers/tmp.ts';
import { runUntilAckThenKill } from '../../helpers/kill-child.ts';

let cleanup: (() => void) | null = null;
afterEach(() => cleanup?.());

const runAndKill = (dir: string, ackLog: string, run: number, delayMs: number) => runUntilAckThenKill('test/fixtures/wal-crash-writer.ts', [dir, ackLog, String(run)], ackLog, delayMs);

describe('WAL under SIGKILL', () => {
  it('every acknowledged record is present exactly once after repeated kill -9 and recovery', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const walDir = path.join(t.dir, 'wal');
    const ackLog = path.join(t.dir, 'acks.txt');
    const runs = 4;
    for (let run = 0; run < runs; run++) await runAndKill(walDir, ackLog, run, 20 + Math.floor(Math.random() * 400));

    const scan = scanWal(walDir);
    expect(scan.corruption).toBeNull();
    const seen = new Map<string, number>();
    let prevSeq = 0n;
    for (const r of scan.records) {
      expect(r.seq).toBe(prevSeq + 1n); // one gapless sequence across every run and segment
      prevSeq = r.seq;
      const v = new DataView(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength);
      const run = v.getUint32(0, true);
      const id = v.getUint32(4, true);
      expect(Buffer.compare(r.payload, crashPayload(run, id))).toBe(0);
      const key = `${run} ${id}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    const acked = fs.readFileSync(ackLog, 'utf8').split('\n').filter(Boolean);
    expect(acked.length).toBeGreaterThan(runs);
    const ackedRuns = new Set(acked.map((a) => a.split(' ')[0]));
    expect(ackedRuns.size).toBe(runs);
    for (const a of acked) expect(seen.get(a), `acked record ${a}`).toBe(1);
    for (const n of seen.values()) expect(n).toBe(1);
    expect(fs.readdirSync(walDir).filter((f) => f.endsWith('.log')).length).toBeGreaterThan(1);
  }, 120_000);
});
