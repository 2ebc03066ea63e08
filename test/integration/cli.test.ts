import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tableFromIPC } from 'apache-arrow';
import { daq } from '../helpers/cli.ts';
import { readAckLog } from '../../actors/sink/ack-counter.ts';
import { openRun } from '../../src/query/open-run.ts';
import { tmpDir } from '../helpers/tmp.ts';

let cleanup: (() => void) | null = null;
afterEach(() => cleanup?.());

describe('daq run (child process)', () => {
  it('fails fast on a bad config, naming the file and the field, before creating anything', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const cfg = path.join(t.dir, 'daq.yaml');
    fs.writeFileSync(cfg, `run:\n  out: ${t.dir}/out\ninstruments:\n  - name: plant\n    type: sim-scalar\n    options:\n      tags: 10\n      rate_hz: -5\n`);
    const p = daq(['run', '--config', cfg, '--quiet']);
    const { code } = await p.exit;
    expect(code).toBe(2);
    expect(p.stderr()).toContain('DAQ_ERR_CONFIG_INVALID');
    expect(p.stderr()).toContain(`${cfg}: instruments[0].options.rate_hz`);
    expect(fs.existsSync(path.join(t.dir, 'out'))).toBe(false);
  });

  it('a bad command line exits 2 saying what is wrong (bad flag value, unknown option or command, a missing argument); --help exits 0', async () => {
    const cases: [string[], RegExp][] = [
      [['run', '--duration', 'soon'], /duration.*expected a positive number, got "soon"/],
      [['run', '--no-such-flag'], /unknown option '--no-such-flag'/],
      [['no-such-command'], /unknown command 'no-such-command'/],
      [['merge', 'a.h5'], /required option '-o, --out <file>' not specified/],
    ];
    const runs = cases.map(([args]) => daq(args));
    for (const [i, p] of runs.entries()) {
      expect((await p.exit).code, cases[i]![0].join(' ')).toBe(2);
      expect(p.stderr()).toMatch(cases[i]![1]);
      expect(p.stderr()).not.toMatch(/\n\s+at /);
    }
    const help = daq(['merge', '--help']);
    expect((await help.exit).code).toBe(0);
    expect(help.stdout()).toMatch(/--read-mib/);
  });

  it('daq inspect of a folder that does not exist says so (no stack trace), exit 1', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const p = daq(['inspect', path.join(t.dir, 'no-such-run')]);
    expect((await p.exit).code).toBe(1);
    expect(p.stderr()).toContain(`daq: DAQ_ERR_RUN_NOT_FOUND: no run folder at ${path.join(t.dir, 'no-such-run')}`);
    expect(p.stderr()).not.toMatch(/\n\s+at /);
  });

  it('SIGTERM mid-run stops cleanly (exit 0) and leaves HDF5 segments holding every acknowledged row', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const ackLog = path.join(t.dir, 'acks.log');
    const p = daq(['run', '--out', t.dir, '--quiet', '--port', '0', '--ack-log', ackLog]);
    await p.waitFor('started');
    await new Promise((r) => setTimeout(r, 1500));
    p.child.kill('SIGTERM');
    expect((await p.exit).code).toBe(0);
    const runDir = p.stdout().trim();
    const run = await openRun(runDir);
    const acks = readAckLog(ackLog);
    expect(run.readScalars('plant.tags').tag.length).toBe(acks.get('plant.tags'));
    expect(run.records.length).toBe(acks.get('records'));
    expect(run.records.length).toBeGreaterThan(50);
    run.close();
    expect(fs.readdirSync(runDir).filter((f) => f.endsWith('.tmp') || f === 'LOCK')).toEqual([]);
    // daq inspect reports the same counts and a healthy run.
    const ins = daq(['inspect', runDir, '--json']);
    expect((await ins.exit).code, ins.stderr()).toBe(0);
    const summary = JSON.parse(ins.stdout());
    expect(summary.records.count).toBe(acks.get('records'));
    expect(summary.scalars).toEqual([{ stream: 'plant.tags', tags: 300, points: acks.get('plant.tags') }]);
    expect(summary.health).toMatchObject({ needs_recovery: false, tmp_files: [], losses: 0 });
    // daq merge of the run's segments gives one file with every record.
    const segs = fs.readdirSync(runDir).filter((f) => /^seg-\d{6}\.h5$/.test(f)).map((f) => path.join(runDir, f));
    const merged = daq(['merge', ...segs, '--out', path.join(t.dir, 'merged.h5')]);
    expect((await merged.exit).code, merged.stderr()).toBe(0);
    expect(JSON.parse(merged.stdout()).records).toBe(acks.get('records'));
  });

  it('daq recover rebuilds a SIGKILLed run and reports it', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const ackLog = path.join(t.dir, 'acks.log');
    const p = daq(['run', '--out', t.dir, '--quiet', '--port', '0', '--ack-log', ackLog]);
    await p.waitFor('started');
    await new Promise((r) => setTimeout(r, 800));
    p.child.kill('SIGKILL');
    await p.exit;
    const runDir = path.join(t.dir, fs.readdirSync(t.dir).find((f) => f !== 'acks.log')!);
    const acked = readAckLog(ackLog).get('plant.tags') ?? 0;
    const rec = daq(['recover', runDir, '--log-level', 'warn']);
    expect((await rec.exit).code, rec.stderr()).toBe(0);
    const report = JSON.parse(rec.stdout()) as { replayedRecords: number; corruption: string | null };
    expect(report.corruption).toBeNull();
    expect(report.replayedRecords).toBeGreaterThan(0);
    const run = await openRun(runDir);
    expect(run.readScalars('plant.tags').tag.length).toBeGreaterThanOrEqual(acked);
    run.close();
    // A second recovery finds nothing more to do.
    const again = daq(['recover', runDir, '--log-level', 'warn']);
    expect((await again.exit).code).toBe(0);
    expect(JSON.parse(again.stdout()).replayedRecords).toBe(0);
  });

  it('with the arrow-ipc sink, SIGTERM mid-run leaves readable Arrow files', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const ackLog = path.join(t.dir, 'acks.log');
    const cfg = path.join(t.dir, 'ipc.yaml');
    fs.writeFileSync(cfg, 'storage: { sinks: [arrow-ipc] }\n');
    const p = daq(['run', '--config', cfg, '--out', t.dir, '--quiet', '--port', '0', '--ack-log', ackLog]);
    await p.waitFor('started');
    await new Promise((r) => setTimeout(r, 1500));
    p.child.kill('SIGTERM');
    const { code } = await p.exit;
    expect(code).toBe(0);
    const runDir = p.stdout().trim();
    expect(path.dirname(runDir)).toBe(t.dir);
    expect(fs.existsSync(path.join(runDir, 'seg-000000.h5'))).toBe(false);
    const run = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8'));
    expect(run.streams.map((s: { name: string }) => s.name)).toEqual(['plant.tags', 'digitizer.ch0', 'digitizer.ch1', 'digitizer.ch2', 'digitizer.ch3', 'records']);
    expect(run.streams.at(-1).lineage.inputs).toEqual(['digitizer.ch0', 'digitizer.ch1', 'digitizer.ch2', 'digitizer.ch3']);
    const tags = tableFromIPC(fs.readFileSync(path.join(runDir, 'plant.tags.arrows')));
    expect(tags.numRows).toBeGreaterThan(300 * 10); // 300 tags x 10 Hz for > 1 s
    expect(tags.schema.fields.map((f) => f.name)).toEqual(['timestamp_ns', 'tag', 'value', 'quality']);
    // The ack log's last count per stream equals what the files hold.
    const acks = readAckLog(ackLog);
    expect(acks.get('plant.tags')).toBe(tags.numRows);
    // The digitizer's channels are merged into one records stream (the inputs are not stored).
    expect(fs.existsSync(path.join(runDir, 'digitizer.ch0.arrows'))).toBe(false);
    const rec = tableFromIPC(fs.readFileSync(path.join(runDir, 'records.arrows')));
    const pool = tableFromIPC(fs.readFileSync(path.join(runDir, 'records.wave_pool.arrows')));
    expect(rec.numRows).toBeGreaterThan(100);
    // wave_offset is rewritten to positions in the pool file: contiguous, ending at its length.
    const off = rec.getChild('wave_offset')!.toArray() as BigInt64Array;
    const len = rec.getChild('event_length')!.toArray() as Int32Array;
    const ts = rec.getChild('timestamp')!.toArray() as BigInt64Array;
    const ids = rec.getChild('event_id')!.toArray() as BigInt64Array;
    for (let i = 1; i < rec.numRows; i++) {
      expect(off[i]).toBe(off[i - 1]! + BigInt(len[i - 1]!));
      expect(ts[i]! >= ts[i - 1]!).toBe(true);
      expect(ids[i]).toBe(BigInt(i));
    }
    expect(Number(off[rec.numRows - 1]!) + len[rec.numRows - 1]!).toBe(pool.numRows);
    expect(new Set(rec.getChild('channel')!.toArray() as Int16Array)).toEqual(new Set([0, 1, 2, 3]));
    expect(acks.get('records')).toBe(rec.numRows);
  });
});
