/**
 * Crash harness: the daemon as a real child process under load, SIGKILLed at a random moment,
 * then `daq recover`; every row the daemon acknowledged (its --ack-log, written before the ack
 * reaches the manager) must be stored exactly once, and every finished .h5 must open.
 * DAQ_CRASH_KILLS sets the number of kills (default 30; `npm run test:crash` runs 300).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { daq } from '../helpers/cli.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { readAckLog } from '../../actors/sink/ack-counter.ts';
import { openRun } from '../../src/query/open-run.ts';
import { recoverRun } from '../../src/cli/recover-command.ts';
import { ScalarGenerator, simScalarOptions } from '../../src/instruments/sim-scalar.ts';
import { ChannelGenerator, simDigitizerOptions } from '../../src/instruments/sim-digitizer.ts';
import { recordColumns, RecordFlags } from '../../src/schema/waveform.ts';
import { scalarColumns } from '../../src/schema/scalar.ts';
import { Xorshift } from '../../src/instruments/rng.ts';

const KILLS = Number(process.env['DAQ_CRASH_KILLS'] ?? 30);
const t = tmpDir('daq-crash-');
afterAll(() => t.cleanup());

const SCALAR = { tags: 2000, rate_hz: 50, batch_ms: 20 };
const DIGI = { channels: 2, trigger_rate_hz: 300, max_length: 5000, batch_ms: 20 };
const cfgFile = path.join(t.dir, 'crash.yaml');
fs.writeFileSync(
  cfgFile,
  [
    'run: { seed: 11 }',
    'instruments:',
    `  - { name: plant, type: sim-scalar, options: ${JSON.stringify(SCALAR)} }`,
    `  - { name: dig, type: sim-digitizer, options: ${JSON.stringify(DIGI)} }`,
    'storage: { sinks: [hdf5], epoch_s: 0.4 }',
    'http: { enabled: false }',
    'log: { level: warn }',
  ].join('\n'),
);

/** Sorts points by (tag, time) into comparable keys. */
function keyed(ts: BigInt64Array, tag: Uint32Array, value: Float64Array): string[] {
  const idx = Array.from(tag.keys()).sort((a, b) => tag[a]! - tag[b]! || (ts[a]! < ts[b]! ? -1 : ts[a]! > ts[b]! ? 1 : 0));
  return idx.map((i) => `${tag[i]}|${ts[i]}|${value[i]}`);
}

describe(`crash harness: ${KILLS} SIGKILLs under load`, () => {
  it('keeps every acknowledged row exactly once, and every segment opens', async () => {
    const rng = new Xorshift(2024);
    let totalAcked = 0;
    let withSegmentsBeforeKill = 0;
    for (let k = 0; k < KILLS; k++) {
      const out = path.join(t.dir, `out${k}`);
      const ackLog = path.join(t.dir, `ack${k}.log`);
      const p = daq(['run', '--config', cfgFile, '--out', out, '--quiet', '--ack-log', ackLog, '--log-level', 'info']);
      await p.waitFor('started');
      if (k % 3 === 2) {
        // Every third kill lands after segments exist (mid-flush or between flushes): wait for
        // the first finished segment, however long the writer thread takes to start here.
        const dir = () => (fs.existsSync(out) ? fs.readdirSync(out)[0] : undefined);
        const deadline = Date.now() + 60_000;
        while (Date.now() < deadline && !(dir() && fs.readdirSync(path.join(out, dir()!)).some((f) => /^seg-\d+\.h5$/.test(f)))) {
          await new Promise((r) => setTimeout(r, 50));
        }
        await new Promise((r) => setTimeout(r, rng.next() * 1500));
      } else {
        await new Promise((r) => setTimeout(r, 200 + rng.next() * 2800));
      }
      p.child.kill('SIGKILL');
      const { signal } = await p.exit;
      expect(signal).toBe('SIGKILL');
      const runDir = path.join(out, fs.readdirSync(out)[0]!);
      if (fs.readdirSync(runDir).some((f) => /^seg-\d{6}\.h5$/.test(f))) withSegmentsBeforeKill++;
      const acks = readAckLog(ackLog);

      // Restart: recovery of the killed run (in this process, to keep the suite fast; the
      // `daq recover` command itself is tested as a child process in cli.test.ts).
      const report = await recoverRun(runDir, () => {});
      expect(report.corruption).toBeNull();
      expect(fs.readdirSync(runDir).filter((f) => f.endsWith('.tmp'))).toEqual([]);

      const acked = acks.get('plant.tags') ?? 0;
      if (process.env['DAQ_CRASH_VERBOSE']) console.log(`kill ${k}: acked ${acked} scalar rows, ${acks.get('records') ?? 0} records; files ${fs.readdirSync(runDir).join(' ')}`);
      totalAcked += acked;
      if (!fs.readdirSync(runDir).some((f) => /^seg-\d+\.h5$/.test(f))) {
        expect(acked, `run ${k}: acknowledged rows but no segment`).toBe(0);
        continue;
      }
      const run = await openRun(runDir);
      const meta = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8'));
      const t0 = BigInt(meta.t0_unix_ns);

      // Scalars: the stored points are exactly the generator's first M points (M >= acknowledged).
      const got = run.readScalars('plant.tags');
      const m = got.tag.length;
      expect(m, `run ${k}`).toBeGreaterThanOrEqual(acked);
      const ref = new ScalarGenerator(simScalarOptions.parse(SCALAR), 11, t0).generate(m, 's');
      const rc2 = scalarColumns(ref.batch);
      expect(keyed(got.timestampNs, got.tag, got.value)).toEqual(keyed(rc2.timestampNs, rc2.tag, rc2.value));

      // Records: every acknowledged merged event once; per channel a prefix of the generator's events.
      const r = run.records;
      expect(r.length).toBeGreaterThanOrEqual(acks.get('records') ?? 0);
      // Sorted, and nothing flagged late: both digitizer channels push every 20 ms, so no input is
      // ever silent while the other is heard; a stall of the whole process under load must not
      // time them out (StreamingMerge "Silence").
      for (let i = 1; i < r.length; i++) {
        if (r.columns.timestamp[i]! < r.columns.timestamp[i - 1]!) expect.fail(`run ${k}: record ${i} (timestamp ${r.columns.timestamp[i]}) below record ${i - 1} (${r.columns.timestamp[i - 1]})`);
        if (r.columns.flags[i]! & RecordFlags.LATE) expect.fail(`run ${k}: record ${i} flagged LATE`);
      }
      if (r.length > 0 && r.columns.flags[0]! & RecordFlags.LATE) expect.fail(`run ${k}: record 0 flagged LATE`);
      expect([...r.columns.event_id]).toEqual(Array.from({ length: r.length }, (_, i) => BigInt(i)));
      for (let ch = 0; ch < 2; ch++) {
        const mine = r.queryTimeWindow(-(2n ** 62n), 2n ** 62n, { channels: [ch] });
        if (mine.length === 0) continue;
        const last = r.columns.timestamp[mine[mine.length - 1]!]!;
        const gen = new ChannelGenerator(simDigitizerOptions.parse(DIGI), 11, ch, t0).generate(last + 1n, 'x')!;
        const gc = recordColumns(gen.batch);
        expect(mine.length).toBe(gen.batch.numRows);
        const j = mine.length - 1;
        expect(r.columns.timestamp[mine[j]!]).toBe(gc.timestamp[j]);
        const off = Number(gc.wave_offset[j]);
        expect(Buffer.from(r.rawWave(mine[j]!).buffer).equals(Buffer.from(gen.samples.slice(off, off + gc.event_length[j]!).buffer))).toBe(true);
      }
      run.close();
    }
    expect(totalAcked).toBeGreaterThan(0);
    // Kills landed both before and after segments were written.
    expect(withSegmentsBeforeKill).toBeGreaterThan(0);
  }, 30 * 60_000);
});
