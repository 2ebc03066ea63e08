import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { daq } from '../helpers/cli.ts';
import type { Proc } from '../helpers/cli.ts';
import { h5dump } from '../helpers/h5py.ts';
import { readAckLog } from '../../actors/sink/ack-counter.ts';
import { LossLog } from '../../src/storage/loss-log.ts';
import { openRun } from '../../src/query/open-run.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { startScpiSim } from '../fixtures/scpi-sim-server.ts';
import { Quality } from '../../src/schema/scalar.ts';

const fixture = (name: string) => path.resolve(import.meta.dirname, '../fixtures/plugins', `${name}.ts`);

let cleanup: (() => void) | null = null;
let proc: Proc | null = null;
afterEach(() => {
  if (proc && proc.child.exitCode === null) proc.child.kill('SIGKILL');
  proc = null;
  cleanup?.();
});

/** The URL the daemon logged at start (`--port 0`). */
function serverUrl(p: Proc): string {
  const m = /"url":"(http:\/\/[^"]+)"/.exec(p.stderr());
  if (!m) throw new Error(`no url in the log:\n${p.stderr()}`);
  return m[1]!;
}

/** The value of one Prometheus sample line (labels exactly as written), or undefined. */
function sample(text: string, line: string): number | undefined {
  const l = text.split('\n').find((x) => x.startsWith(`${line} `));
  return l === undefined ? undefined : Number(l.slice(line.length + 1));
}

async function until(cond: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('daq run with plugins and processors from the config (child process)', () => {
  it('runs a plugin instrument and an FFT processor into stored files; throwing, busy and wrong-schema plugins do not stop the sim; faults show in /metrics', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const cfg = path.join(t.dir, 'daq.yaml');
    const ackLog = path.join(t.dir, 'acks.log');
    fs.writeFileSync(
      cfg,
      `run:
  out: ${t.dir}/out
instruments:
  - name: plant
    type: sim-scalar
    options: { tags: 10, rate_hz: 20, batch_ms: 50 }
  - name: meter
    type: plugin
    module: ${fixture('good')}
    options: { rows: 8, interval_ms: 10 }
  - name: boom
    type: plugin
    module: ${fixture('throw-on-start')}
  - name: spin
    type: plugin
    module: ${fixture('busy-loop')}
  - name: bad
    type: plugin
    module: ${fixture('wrong-schema')}
processors:
  - name: spec
    type: fft
    options: { stream: meter.tags, tags: [a], frame_size: 8, overlap: 0, window: rect }
merge:
  enabled: false
plugins:
  ping_interval_ms: 50
  ping_timeout_ms: 500
  backoff_initial_ms: 50
  backoff_max_ms: 400
`,
    );
    proc = daq(['run', '--config', cfg, '--quiet', '--port', '0', '--ack-log', ackLog, '--log-level', 'info']);
    const p = proc;
    await p.waitFor('started', 60_000); // four plugin worker threads boot first; slow on a loaded 2-core machine
    const url = serverUrl(p);
    let metrics = '';
    await until(async () => {
      metrics = await (await fetch(`${url}/metrics`)).text();
      return (
        (sample(metrics, 'daq_plugin_watchdog_kills_total{instrument="spin"}') ?? 0) >= 1 &&
        (sample(metrics, 'daq_plugin_restarts_total{instrument="boom"}') ?? 0) >= 2 &&
        (sample(metrics, 'daq_plugin_rejected_batches_total{instrument="bad",stream="bad.tags",reason="DAQ_ERR_SCHEMA_MISMATCH"}') ?? 0) >= 1 &&
        (sample(metrics, 'daq_stream_rows_total{stream="spec"}') ?? 0) > 0
      );
    }, 'plugin faults and FFT output in /metrics', 60_000);
    expect(sample(metrics, 'daq_plugin_faults_total{instrument="boom",kind="start"}')).toBeGreaterThanOrEqual(2);
    expect(sample(metrics, 'daq_plugin_faults_total{instrument="spin",kind="unresponsive"}')).toBeGreaterThanOrEqual(1);
    expect(sample(metrics, 'daq_plugin_rejected_batches_total{instrument="bad",stream="someone-else.tags",reason="DAQ_ERR_STREAM_UNKNOWN"}')).toBeGreaterThanOrEqual(1);
    expect(sample(metrics, 'daq_instrument_restarts_total{instrument="spin"}')).toBeGreaterThanOrEqual(1);
    expect(sample(metrics, 'daq_processor_failures_total{processor="spec"}')).toBe(0);
    // The sim keeps acquiring while the plugins fail: two scrapes 1 s apart both move.
    const rows1 = sample(metrics, 'daq_stream_rows_total{stream="plant.tags"}') ?? 0;
    await new Promise((r) => setTimeout(r, 1000));
    const later = await (await fetch(`${url}/metrics`)).text();
    expect(sample(later, 'daq_stream_rows_total{stream="plant.tags"}')).toBeGreaterThan(rows1 + 100);
    expect(sample(later, 'daq_stream_rows_total{stream="meter.tags"}')).toBeGreaterThan(0);

    p.child.kill('SIGTERM');
    expect((await p.exit).code, p.stderr()).toBe(0);
    const runDir = p.stdout().trim();
    const acks = readAckLog(ackLog);
    const run = await openRun(runDir);
    expect(run.readScalars('plant.tags').tag.length).toBe(acks.get('plant.tags'));
    const meter = run.readScalars('meter.tags');
    expect(meter.tag.length).toBe(acks.get('meter.tags'));
    run.close();
    // The derived FFT table is stored: 5 bins (frame 8) per frame of tag a, a whole number of frames.
    const segs = fs.readdirSync(runDir).filter((f) => /^seg-\d{6}\.h5$/.test(f)).sort();
    let freq: number[] = [];
    let source: number[] = [];
    for (const s of segs) {
      const h = h5dump(path.join(runDir, s));
      freq = freq.concat((h.datasets['tables/spec/freq_hz'] as number[] | undefined) ?? []);
      source = source.concat((h.datasets['tables/spec/source'] as number[] | undefined) ?? []);
    }
    expect(freq.length).toBe(acks.get('spec'));
    expect(freq.length).toBeGreaterThan(0);
    expect(freq.length % 5).toBe(0);
    expect(new Set(source)).toEqual(new Set([0]));
    // Every batch the plugins had rejected is in the run's loss log.
    const rejected = LossLog.read(runDir).filter((l) => l.reason === 'rejected-batch' && l.stream === 'someone-else.tags');
    expect(rejected.reduce((a, l) => a + (l.batches ?? 0), 0)).toBeGreaterThanOrEqual(1);
    expect(rejected[0]!.detail).toContain('DAQ_ERR_STREAM_UNKNOWN');
    // The run metadata names the processor's lineage.
    const runJson = JSON.parse(fs.readFileSync(path.join(runDir, 'run.json'), 'utf8')) as { streams: Array<{ name: string; lineage: { plugin: string; inputs: string[] } }> };
    expect(runJson.streams.find((s) => s.name === 'spec')!.lineage.inputs).toEqual(['meter.tags']);
  }, 150_000);

  it('fails before creating anything, naming the file and field, on an unknown processor type, a missing module or a module that is not a plugin', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const out = path.join(t.dir, 'out');
    const cases: Array<{ yaml: string; code: string; text: RegExp }> = [
      {
        yaml: `processors:\n  - name: x\n    type: wavelet\n    options: {}\n`,
        code: 'DAQ_ERR_CONFIG_INVALID',
        text: /processors\[0\]\.type: unknown processor type "wavelet" \(known: fft, filter, waveform-features, plugin\)/,
      },
      {
        yaml: `instruments:\n  - name: x\n    type: plugin\n    module: ./nowhere/meter.ts\n`,
        code: 'DAQ_ERR_CONFIG_INVALID',
        text: /instruments\[0\]\.module: plugin module not found: .*nowhere\/meter\.ts/,
      },
      {
        yaml: `instruments:\n  - name: plant\n    type: sim-scalar\n  - name: x\n    type: plugin\n    module: ${fixture('not-a-plugin')}\n`,
        code: 'DAQ_ERR_PLUGIN_INVALID',
        text: /instruments\[1\]\.module: .*not-a-plugin/,
      },
      {
        yaml: `instruments:\n  - name: x\n    type: plugin\n    module: ${fixture('throws-at-import')}\n`,
        code: 'DAQ_ERR_PLUGIN_LOAD',
        text: /instruments\[0\]\.module: .*throws-at-import/,
      },
      {
        yaml: `processors:\n  - name: x\n    type: plugin\n    module: ${fixture('good')}\n`,
        code: 'DAQ_ERR_PLUGIN_INVALID',
        text: /processors\[0\]\.module: the default export of .*good\.ts is not a defineProcessor\(\) result/,
      },
      {
        yaml: `processors:\n  - name: x\n    type: fft\n    options: { stream: nope.tags }\n`,
        code: 'DAQ_ERR_STREAM_UNKNOWN',
        text: /processors\[0\]: .*needs stream "nope\.tags"/,
      },
    ];
    for (const [i, c] of cases.entries()) {
      const cfg = path.join(t.dir, `bad-${i}.yaml`);
      fs.writeFileSync(cfg, `run:\n  out: ${out}\nmerge:\n  enabled: false\n${c.yaml}`);
      const p = daq(['run', '--config', cfg, '--quiet', '--port', '0']);
      const { code } = await p.exit;
      expect(code, p.stderr()).not.toBe(0);
      expect(p.stderr()).toContain(`daq: ${c.code}: `);
      expect(p.stderr()).toContain(`${cfg}: `);
      expect(p.stderr()).toMatch(c.text);
      if (c.code !== 'DAQ_ERR_STREAM_UNKNOWN') expect(fs.existsSync(out), `case ${i} created ${out}`).toBe(false);
    }
  }, 180_000);

  it('the example SCPI meter plugin, configured in YAML, reads its simulated device end to end into stored files', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const sim = await startScpiSim();
    try {
      const cfg = path.join(t.dir, 'daq.yaml');
      const ackLog = path.join(t.dir, 'acks.log');
      const meter = path.resolve(import.meta.dirname, '../../examples/custom-instrument/scpi-meter.ts');
      fs.writeFileSync(
        cfg,
        `run:
  out: ${t.dir}/out
instruments:
  - name: pm
    type: plugin
    module: ${meter}
    options:
      port: ${sim.port}
      period_ms: 20
      queries:
        - { tag: volt, query: "MEAS:VOLT?", unit: V }
        - { tag: curr, query: "MEAS:CURR?", unit: A }
merge:
  enabled: false
`,
      );
      proc = daq(['run', '--config', cfg, '--quiet', '--port', '0', '--ack-log', ackLog]);
      const p = proc;
      await p.waitFor('started', 60_000); // four plugin worker threads boot first; slow on a loaded 2-core machine
      const start = Date.now();
      while ((sim.served.get('MEAS:CURR?')?.length ?? 0) < 20) {
        if (Date.now() - start > 30_000) throw new Error(`the meter did not poll the device; stderr:\n${p.stderr()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      p.child.kill('SIGTERM');
      expect((await p.exit).code, p.stderr()).toBe(0);
      const run = await openRun(p.stdout().trim());
      expect(run.tags('pm.tags')).toMatchObject({ name: ['volt', 'curr'], unit: ['V', 'A'] });
      const pts = run.readScalars('pm.tags');
      expect(pts.tag.length).toBe(readAckLog(ackLog).get('pm.tags'));
      const volt = pts.value.filter((_, i) => pts.tag[i] === 0);
      const curr = pts.value.filter((_, i) => pts.tag[i] === 1);
      expect(volt.length).toBeGreaterThanOrEqual(10);
      expect(pts.quality.every((q) => q === Quality.GOOD)).toBe(true);
      // Exactly the numbers the device served, in order (stored sorted by tag, then time).
      expect(Array.from(volt)).toEqual(sim.served.get('MEAS:VOLT?')!.slice(0, volt.length));
      expect(Array.from(curr)).toEqual(sim.served.get('MEAS:CURR?')!.slice(0, curr.length));
      run.close();
    } finally {
      await sim.close();
    }
  }, 60_000);
});
