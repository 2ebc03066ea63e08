import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { scanWal } from '../../../src/storage/wal/wal-reader.ts';
import { crashPayload } from '../../fixtures/wal-crash-payload.ts';
import { tmpDir } from '../../helpers/tmp.ts';

let cleanup: (() => void) | null = null;
afterEach(() => cleanup?.());

/** Runs the writer child until it has acknowledged something, then SIGKILLs it after `delayMs`. */
async function runAndKill(walDir: string, ackLog: string, run: number, delayMs: number): Promise<void> {
  const child = spawn(process.execPath, ['bin/run-ts.js', 'test/fixtures/wal-crash-writer.ts', walDir, ackLog, String(run)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const start = fs.existsSync(ackLog) ? fs.statSync(ackLog).size : 0;
  const deadline = Date.now() + 20_000;
  while ((fs.existsSync(ackLog) ? fs.statSync(ackLog).size : 0) === start) {
    if (child.exitCode !== null) throw new Error(`writer exited early (${child.exitCode}): ${stderr}`);
    if (Date.now() > deadline) throw new Error(`writer acknowledged nothing in 20 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setTimeout(r, delayMs));
  child.kill('SIGKILL');
  await exited;
  expect(stderr).toBe('');
}

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
