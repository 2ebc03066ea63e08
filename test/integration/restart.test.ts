import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { daq } from '../helpers/cli.ts';
import { readAckLog } from '../../actors/sink/ack-counter.ts';
import { openRun } from '../../src/query/open-run.ts';
import { tmpDir } from '../helpers/tmp.ts';

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
merge:
  enabled: false
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

    const meta = JSON.parse(fs.readFileSync(path.join(s1.dir, 'run.json'), 'utf8')) as { sessions: Array<{ started: string; t0_unix_ns: string }> };
    expect(meta.sessions.length).toBe(4);
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
    for (const s of meta.sessions) {
      const t0 = BigInt(s.t0_unix_ns);
      expect(all.timestampNs.some((x) => x >= t0 && x < t0 + 2_000_000_000n)).toBe(true);
    }
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
