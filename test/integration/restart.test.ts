import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { daq } from '../helpers/cli.ts';
import { readAckLog } from '../../actors/sink/ack-counter.ts';
import { openRun } from '../../src/query/open-run.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { py } from '../helpers/h5py.ts';
import { Daemon } from '../../actors/daemon.ts';
import { validateConfig } from '../../src/config/load.ts';

let cleanup: (() => void) | null = null;
afterEach(() => cleanup?.());

function writeConfig(dir: string, onRestart: 'new' | 'continue'): string {
  const cfg = path.join(dir, `daq-${onRestart}.yaml`);
  fs.writeFileSync(
    cfg,
    `run:
  out: ${dir}/out-${onRestart}
  on_restart: ${onRestart}
instruments:
  - name: plant
    type: sim-scalar
    options: { tags: 10, rate_hz: 20, batch_ms: 50 }
  - name: dig
    type: sim-digitizer
    options: { channels: 2, trigger_rate_hz: 100 }
`,
  );
  return cfg;
}

/** One `daq run` session: runs ~1 s, then SIGTERM (exit 0) or SIGKILL. Returns the run folder (from the log) and its acked rows. */
async function session(cfg: string, ackLog: string, kill: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<{ dir: string; acked: number; stderr: string }> {
  const p = daq(['run', '--config', cfg, '--quiet', '--port', '0', '--ack-log', ackLog]);
  await p.waitFor('started');
  await new Promise((r) => setTimeout(r, 1000));
  p.child.kill(kill);
  const { code } = await p.exit;
  if (kill === 'SIGTERM') expect(code, p.stderr()).toBe(0);
  const m = /run \S+ started","dir":"([^"]+)"/.exec(p.stderr()) ?? /"dir":"([^"]+)"/.exec(p.stderr());
  return { dir: m![1]!, acked: readAckLog(ackLog).get('plant.tags') ?? 0, stderr: p.stderr() };
}

describe('run.on_restart (child process)', () => {
  it('continue: a restarted daemon appends to the newest run folder (after WAL recovery of a killed one); data of every session reads back in order', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const cfg = writeConfig(t.dir, 'continue');
    const s1 = await session(cfg, path.join(t.dir, 'acks1.log'));
    const s2 = await session(cfg, path.join(t.dir, 'acks2.log'));
    expect(s2.dir).toBe(s1.dir);
    expect(s2.stderr).toContain(`continuing run ${path.basename(s1.dir)}`);
    const s3 = await session(cfg, path.join(t.dir, 'acks3.log'), 'SIGKILL');
    expect(s3.dir).toBe(s1.dir);
    const s4 = await session(cfg, path.join(t.dir, 'acks4.log'));
    expect(s4.dir).toBe(s1.dir);
    expect(fs.readdirSync(path.join(t.dir, 'out-continue'))).toEqual([path.basename(s1.dir)]);

    const meta = JSON.parse(fs.readFileSync(path.join(s1.dir, 'run.json'), 'utf8')) as { t0_unix_ns: string; sessions: Array<{ started: string; started_unix_ns: string }> };
    expect(meta.sessions.length).toBe(4);
    // One clock origin for the whole run: the first session's start, in run.json and every segment.
    const origin = BigInt(meta.t0_unix_ns);
    expect(BigInt(meta.sessions[0]!.started_unix_ns)).toBe(origin);
    const starts = meta.sessions.map((x) => BigInt(x.started_unix_ns));
    for (let i = 1; i < starts.length; i++) expect(starts[i]! > starts[i - 1]!).toBe(true);
    const segT0 = py<string[]>(`import h5py, sys, json, glob; print(json.dumps([str(h5py.File(f).attrs['t0_unix_ns']) for f in sorted(glob.glob(sys.argv[1] + '/seg-*.h5'))]))`, [s1.dir]);
    expect(segT0.length).toBeGreaterThan(3);
    expect(new Set(segT0)).toEqual(new Set([meta.t0_unix_ns]));
    const run = await openRun(s1.dir);
    const all = run.readScalars('plant.tags');
    // Every acknowledged row of every session is there (the killed one's through WAL recovery).
    expect(all.tag.length).toBeGreaterThanOrEqual(s1.acked + s2.acked + s3.acked + s4.acked);
    expect(s1.acked).toBeGreaterThan(50);
    expect(s2.acked).toBeGreaterThan(50);
    expect(s4.acked).toBeGreaterThan(50);
    // Segment after segment, each tag's points are strictly increasing in time across sessions.
    const last = new Map<number, bigint>();
    for (let i = 0; i < all.tag.length; i++) {
      const prev = last.get(all.tag[i]!);
      if (prev !== undefined) expect(all.timestampNs[i]! > prev, `tag ${all.tag[i]} row ${i}`).toBe(true);
      last.set(all.tag[i]!, all.timestampNs[i]!);
    }
    // Each session contributed points from its own start on.
    for (const t0 of starts) expect(all.timestampNs.some((x) => x >= t0 && x < t0 + 2_000_000_000n)).toBe(true);
    // Records: ps from the one origin, in time order across all sessions, each session's events
    // starting at that session's start (not at 0 again).
    const ts = run.records.columns.timestamp;
    expect(ts.length).toBeGreaterThan(400);
    for (let i = 1; i < ts.length; i++) if (ts[i]! < ts[i - 1]!) expect.fail(`record ${i}: ${ts[i]} < ${ts[i - 1]}`);
    for (const st of starts) {
      const ps = (st - origin) * 1000n;
      expect(Array.from(ts).some((x) => x >= ps && x < ps + 2_000_000_000_000n), `records of the session starting at ${st}`).toBe(true);
    }
    const time = run.records.columns.time;
    for (let i = 0; i < ts.length; i += 37) expect(time[i]).toBe(origin + ts[i]! / 1000n);
    const tag0 = run.readTag('tag0', 0n, 1n << 62n);
    expect(tag0.numRows).toBe(all.tag.filter((x) => x === 0).length);
    run.close();
  }, 180_000);

  it('new: every start makes a new run folder', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const cfg = writeConfig(t.dir, 'new');
    const s1 = await session(cfg, path.join(t.dir, 'acks1.log'));
    const s2 = await session(cfg, path.join(t.dir, 'acks2.log'));
    expect(s2.dir).not.toBe(s1.dir);
    expect(fs.readdirSync(path.join(t.dir, 'out-new')).sort()).toEqual([path.basename(s1.dir), path.basename(s2.dir)].sort());
    for (const s of [s1, s2]) {
      const run = await openRun(s.dir);
      expect(run.readScalars('plant.tags').tag.length).toBe(s.acked);
      run.close();
    }
  }, 60_000);
});

describe('continuing a run folder whose run.json is damaged', () => {
  it('refuses with a coded error naming the file, before writing anything', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const dir = path.join(t.dir, 'out', 'r1');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'run.json'), '{"run_id": "r1", "t0_unix_ns": "12');
    const config = validateConfig({ run: { out: path.join(t.dir, 'out'), id: 'r1' }, instruments: [{ name: 'plant', type: 'sim-scalar', options: { tags: 2 } }], http: { enabled: false } }, 'test');
    await expect(Daemon.start({ config, log: () => {} })).rejects.toMatchObject({ code: 'DAQ_ERR_CONFIG_INVALID', message: expect.stringContaining(path.join(dir, 'run.json')) });
    expect(fs.readdirSync(dir)).toEqual(['run.json']);
  });
});
