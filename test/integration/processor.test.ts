import { afterEach, describe, expect, it } from 'vitest';
import { Daemon } from '../../actors/daemon.ts';
import { validateConfig } from '../../src/config/load.ts';
import { makeScalarBatch, scalarColumns, scalarSchema } from '../../src/schema/scalar.ts';
import type { Processor } from '../../src/pipeline/types.ts';
import type { StreamBatch, StreamInfo } from '../../src/schema/batch.ts';
import { CaptureSink } from '../helpers/capture-sink.ts';
import { tmpDir } from '../helpers/tmp.ts';
import path from 'node:path';

let cleanup: (() => void) | null = null;
afterEach(() => cleanup?.());

/** Doubles every value; holds back the last batch until flush, to exercise the drain order. */
function doubler(input: string, failEvery = 0): Processor & { seen: number } {
  let held: StreamBatch | null = null;
  const out = `${input}.x2`;
  const derive = (sb: StreamBatch): StreamBatch => {
    const c = scalarColumns(sb.batch);
    return { kind: 'scalar', stream: out, batch: makeScalarBatch({ ...c, value: c.value.map((v) => 2 * v) }) };
  };
  return {
    name: 'doubler',
    inputs: [input],
    seen: 0,
    outputs(inputs: StreamInfo[]): StreamInfo[] {
      return [{ ...inputs[0]!, name: out, lineage: { plugin: 'doubler', version: '1', optionsHash: 'x', inputs: [input] } }];
    },
    process(sb) {
      this.seen++;
      if (failEvery && this.seen % failEvery === 0) throw new Error('bad batch');
      const prev = held;
      held = sb;
      return prev ? [derive(prev)] : [];
    },
    flush() {
      const last = held;
      held = null;
      return last ? [derive(last)] : [];
    },
  };
}

describe('processor actors', () => {
  it('publish a derived stream back through the manager, flushed before sinks close', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const config = validateConfig({ run: { out: t.dir }, instruments: [{ name: 'p', type: 'sim-scalar', options: { tags: 50, rate_hz: 200, batch_ms: 20 } }], storage: { sinks: ['none'] } }, 'test');
    const sink = new CaptureSink('cap');
    const d = await Daemon.start({ config, log: () => {}, extraSinks: [sink], extraProcessors: [doubler('p.tags')] });
    await new Promise((r) => setTimeout(r, 700));
    await d.stop();
    const src = sink.batches.get('p.tags')!;
    const der = sink.batches.get('p.tags.x2')!;
    expect(src.length).toBeGreaterThan(5);
    expect(der.length).toBe(src.length); // including the batch held until flush
    der.forEach((b, i) => {
      const a = scalarColumns(src[i]!.batch).value;
      const x = scalarColumns(b.batch).value;
      expect(x.length).toBe(a.length);
      expect(x.every((v, j) => v === 2 * a[j]!)).toBe(true);
    });
    expect(sink.streams.find((s) => s.name === 'p.tags.x2')!.lineage.inputs).toEqual(['p.tags']);
    expect(d.status().processors['doubler']).toMatchObject({ failures: 0 });
  });

  it('a processor that throws is counted and keeps running; the source stream is untouched', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const config = validateConfig({ run: { out: t.dir }, instruments: [{ name: 'p', type: 'sim-scalar', options: { tags: 50, rate_hz: 200, batch_ms: 20 } }], storage: { sinks: ['none'] } }, 'test');
    const sink = new CaptureSink('cap');
    const d = await Daemon.start({ config, log: () => {}, extraSinks: [sink], extraProcessors: [doubler('p.tags', 3)] });
    await new Promise((r) => setTimeout(r, 700));
    await d.stop();
    const st = d.status();
    const seen = st.processors['doubler']!.inBatches;
    expect(st.processors['doubler']!.failures).toBe(Math.floor(seen / 3));
    expect(st.faults['doubler|DAQ_ERR_PROCESSOR_FAILED']).toBe(Math.floor(seen / 3));
    expect(sink.rows('p.tags')).toBe(st.streams['p.tags']!.rows);
    expect(sink.batches.get('p.tags.x2')!.length).toBeGreaterThan(0);
  });

  it('rejects a batch of the wrong schema, counts it, and the stream goes on', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const config = validateConfig({ run: { out: t.dir }, instruments: [], storage: { sinks: ['none'] } }, 'test');
    const sink = new CaptureSink('cap');
    const good = (v: number): StreamBatch => ({ kind: 'scalar', stream: 'm.v', batch: makeScalarBatch({ timestampNs: BigInt64Array.of(1n), tag: Uint32Array.of(0), value: Float64Array.of(v), quality: Uint8Array.of(0) }) });
    const d = await Daemon.start({
      config,
      log: () => {},
      extraSinks: [sink],
      extraSources: [
        {
          name: 'm',
          restartable: false,
          streams: [{ name: 'm.v', kind: 'scalar', schema: scalarSchema, lineage: { plugin: 'm', version: '1', optionsHash: '', inputs: [] } }],
          async *run() {
            yield good(1);
            yield { kind: 'waveform', stream: 'm.v', batch: good(2).batch, samples: new Uint16Array(0) };
            yield good(3);
          },
        },
      ],
    });
    while (d.status().instruments['m']!.running || d.status().instruments['m']!.batches < 2) await new Promise((r) => setTimeout(r, 5));
    await d.stop();
    expect(sink.batches.get('m.v')!.map((b) => scalarColumns(b.batch).value[0])).toEqual([1, 3]);
    expect(d.status().rejected_batches).toEqual({ 'm.v': 1 });
    expect(d.status().faults['m|DAQ_ERR_SCHEMA_MISMATCH']).toBe(1);
  });

  it('config processors[]: a built-in filter and a processor plugin module run from the config alone; bad plugin options name the field', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const module = path.resolve(import.meta.dirname, '../fixtures/plugins/scale-processor.ts');
    const raw = {
      run: { out: t.dir },
      instruments: [{ name: 'p', type: 'sim-scalar', options: { tags: 5, rate_hz: 100, batch_ms: 20 } }],
      processors: [
        { name: 'x3', type: 'plugin', module, options: { stream: 'p.tags', factor: 3 } },
        { name: 'smooth', type: 'filter', options: { stream: 'x3', filter: { type: 'moving-average', length: 4 } } },
      ],
      storage: { sinks: ['none'] },
      merge: { enabled: false },
    };
    const config = validateConfig(raw, 'cfg.yaml');
    const sink = new CaptureSink('cap');
    const d = await Daemon.start({ config, configSource: 'cfg.yaml', log: () => {}, extraSinks: [sink] });
    await new Promise((r) => setTimeout(r, 600));
    await d.stop();
    const src = sink.batches.get('p.tags')!;
    const x3 = sink.batches.get('x3')!;
    expect(x3.length).toBe(src.length);
    x3.forEach((b, i) => expect([...scalarColumns(b.batch).value]).toEqual([...scalarColumns(src[i]!.batch).value].map((v) => v * 3)));
    expect(sink.rows('smooth')).toBeGreaterThan(0);
    expect(sink.streams.find((s) => s.name === 'smooth')!.lineage.inputs).toEqual(['x3']);
    expect(d.status().processors['x3']).toMatchObject({ failures: 0 });

    const bad = validateConfig({ ...raw, processors: [{ name: 'x3', type: 'plugin', module, options: { stream: 'p.tags', factor: 'big' } }] }, 'cfg.yaml');
    await expect(Daemon.start({ config: bad, configSource: 'cfg.yaml', log: () => {} })).rejects.toThrow(/cfg\.yaml: processors\[0\]\.options\.factor/);
  });
});
