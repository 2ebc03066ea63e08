import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tableFromIPC } from 'apache-arrow';
import { daq } from '../helpers/cli.ts';
import { readAckLog } from '../../actors/sink/ack-counter.ts';
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

  it('rejects a bad flag value with exit code 2', async () => {
    const p = daq(['run', '--duration', 'soon']);
    expect((await p.exit).code).not.toBe(0);
    expect(p.stderr()).toMatch(/duration/);
  });

  it('SIGTERM mid-run stops cleanly (exit 0) and leaves readable Arrow files', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const ackLog = path.join(t.dir, 'acks.log');
    const p = daq(['run', '--out', t.dir, '--quiet', '--port', '0', '--ack-log', ackLog]);
    await p.waitFor('started');
    await new Promise((r) => setTimeout(r, 1500));
    p.child.kill('SIGTERM');
    const { code } = await p.exit;
    expect(code).toBe(0);
    const runDir = p.stdout().trim();
    expect(path.dirname(runDir)).toBe(t.dir);
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
