import { afterEach, describe, expect, it } from 'vitest';
import { Daemon } from '../../actors/daemon.ts';
import { validateConfig } from '../../src/config/load.ts';
import { ScalarGenerator } from '../../src/instruments/sim-scalar.ts';
import type { SimScalarOptions } from '../../src/instruments/sim-scalar.ts';
import { ChannelGenerator, simDigitizerOptions } from '../../src/instruments/sim-digitizer.ts';
import type { SimDigitizerOptions } from '../../src/instruments/sim-digitizer.ts';
import { concatScalar } from '../helpers/scalar.ts';
import { recordColumns, recordsSchema } from '../../src/schema/waveform.ts';
import type { StreamBatch, WaveBatch } from '../../src/schema/batch.ts';
import { CaptureSink } from '../helpers/capture-sink.ts';
import { sameBytes } from '../helpers/bytes.ts';
import { tmpDir } from '../helpers/tmp.ts';

const quiet = () => {};
let cleanup: (() => void) | null = null;
afterEach(() => cleanup?.());


/** Checks a sink's scalar stream equals, row for row, what the generator makes for this seed. */
function expectScalarExact(batches: StreamBatch[], opts: SimScalarOptions, seed: number, t0: bigint) {
  const got = concatScalar(batches);
  expect(got.tag.length).toBeGreaterThan(0);
  const ref = concatScalar([new ScalarGenerator(opts, seed, t0).generate(got.tag.length, 's')]);
  expect(sameBytes(got.ts, ref.ts)).toBe(true);
  expect(sameBytes(got.tag, ref.tag)).toBe(true);
  expect(sameBytes(got.value, ref.value)).toBe(true);
  expect(sameBytes(got.quality, ref.quality)).toBe(true);
}

/** Checks a channel's events and waveforms equal the generator's, in order, none missing or repeated. */
function expectChannelExact(batches: StreamBatch[], opts: SimDigitizerOptions, seed: number, ch: number, t0: bigint) {
  const events = batches.flatMap((b) => {
    const wb = b as WaveBatch;
    const c = recordColumns(wb.batch);
    return Array.from({ length: wb.batch.numRows }, (_, i) => ({
      ts: c.timestamp[i]!,
      wave: wb.samples.subarray(Number(c.wave_offset[i]), Number(c.wave_offset[i]) + c.event_length[i]!),
    }));
  });
  expect(events.length).toBeGreaterThan(0);
  const last = events[events.length - 1]!.ts;
  const ref = new ChannelGenerator(opts, seed, ch, t0).generate(last + 1n, 'x')!;
  const rc = recordColumns(ref.batch);
  expect(ref.batch.numRows).toBe(events.length);
  events.forEach((e, i) => {
    expect(e.ts).toBe(rc.timestamp[i]);
    const off = Number(rc.wave_offset[i]);
    expect(sameBytes(e.wave, ref.samples.subarray(off, off + rc.event_length[i]!))).toBe(true);
  });
}

/**
 * Two waveform sources w0 and w1 (stream w<ch>.ch0), each `batches` batches of 20 ms of one
 * simulated channel, with the generator's watermark on each batch or (watermark false) none.
 */
function waveSources(opts: SimDigitizerOptions, seed: number, batches: number, watermark: boolean) {
  return [0, 1].map((ch) => ({
    name: `w${ch}`,
    restartable: false,
    streams: [{ name: `w${ch}.ch0`, kind: 'waveform' as const, schema: recordsSchema, channels: [ch], dtNs: 4, lineage: { plugin: 't', version: '1', optionsHash: '', inputs: [] } }],
    async *run() {
      const g = new ChannelGenerator(opts, seed, ch, 0n);
      for (let k = 1; k <= batches; k++) {
        const wb = g.generate(BigInt(k) * 20_000_000_000n, `w${ch}.ch0`)!;
        if (watermark) wb.watermarkPs = g.nextTriggerPs;
        else delete wb.watermarkPs;
        yield wb;
      }
    },
  }));
}

describe('pipeline (real nact actor system)', () => {
  it('delivers every emitted row to every lossless sink exactly once and in order', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const config = validateConfig(
      {
        run: { out: t.dir, seed: 7 },
        instruments: [
          { name: 'plant', type: 'sim-scalar', options: { tags: 2000, rate_hz: 20, batch_ms: 50 } },
          { name: 'dig', type: 'sim-digitizer', options: { channels: 3, trigger_rate_hz: 300, max_length: 5000, batch_ms: 20 } },
        ],
        storage: { sinks: ['none'] },
        merge: { store_inputs: true },
      },
      'test',
    );
    const fast = new CaptureSink('fast');
    const slow = new CaptureSink('slow', 3);
    const d = await Daemon.start({ config, log: quiet, extraSinks: [fast, slow] });
    await new Promise((r) => setTimeout(r, 2500));
    await d.stop();
    const t0 = d.run.t0UnixNs;
    for (const sink of [fast, slow]) {
      expect(sink.closed).toBe(true);
      expectScalarExact(sink.batches.get('plant.tags')!, config.instruments[0]!.options as SimScalarOptions, 7, t0);
      for (let ch = 0; ch < 3; ch++) expectChannelExact(sink.batches.get(`dig.ch${ch}`)!, config.instruments[1]!.options as SimDigitizerOptions, 7, ch, t0);
    }
    // The merged records stream holds every channel's events once, globally ordered.
    const merged = fast.batches.get('records')!.flatMap((b) => {
      const c = recordColumns(b.batch);
      return Array.from({ length: b.batch.numRows }, (_, i) => ({ t: c.timestamp[i]!, ch: c.channel[i]!, id: c.event_id[i]!, len: c.event_length[i]! }));
    });
    const perChannel = [0, 1, 2].map((ch) => fast.batches.get(`dig.ch${ch}`)!.reduce((a, b) => a + b.batch.numRows, 0));
    expect(merged.length).toBe(perChannel.reduce((a, b) => a + b, 0));
    merged.forEach((e, i) => {
      expect(e.id).toBe(BigInt(i));
      if (i > 0) expect(e.t > merged[i - 1]!.t || (e.t === merged[i - 1]!.t && e.ch >= merged[i - 1]!.ch)).toBe(true);
    });
    for (let ch = 0; ch < 3; ch++) expect(merged.filter((e) => e.ch === ch).length).toBe(perChannel[ch]);
    // Both sinks saw the same batch objects, in the same order (fan-out by reference).
    expect(slow.batches.get('plant.tags')).toEqual(fast.batches.get('plant.tags'));
    const st = d.status();
    expect(st.streams['plant.tags']!.rows).toBe(fast.rows('plant.tags'));
    expect(st.acked_rows['slow']!['plant.tags']).toBe(slow.rows('plant.tags'));
    // The cheap accessor the storage bench samples every 5 ms gives the same counts.
    expect(d.ackedRows('slow', 'plant.tags')).toBe(slow.rows('plant.tags'));
    expect(d.ackedRows('fast', 'dig.ch0')).toBe(st.acked_rows['fast']!['dig.ch0']);
    expect(d.ackedRows('fast', 'no.such.stream')).toBe(0);
    expect(d.ackedRows('no-such-sink', 'plant.tags')).toBe(0);
    // ~2.5 s at 40k points/s.
    expect(fast.rows('plant.tags')).toBeGreaterThan(40_000);
  });

  it('a slow lossless sink holds producers: memory bounded, nothing lost', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const config = validateConfig(
      {
        run: { out: t.dir, seed: 3 },
        instruments: [{ name: 'fast', type: 'sim-scalar', options: { tags: 1000, rate_hz: 1000, batch_rows: 5000, realtime: false } }],
        storage: { sinks: ['none'] },
        flow: { lossless_max_inflight_mib: 0.5 },
      },
      'test',
    );
    const slow = new CaptureSink('slow', 20);
    const d = await Daemon.start({ config, log: quiet, extraSinks: [slow] });
    let maxInflight = 0;
    const probe = setInterval(() => {
      for (const s of d.status().subscribers) maxInflight = Math.max(maxInflight, s.inflight_bytes);
    }, 5);
    await new Promise((r) => setTimeout(r, 1500));
    clearInterval(probe);
    await d.stop();
    const batchBytes = 5000 * 21;
    const limit = 0.5 * 1024 * 1024;
    // Never more than the limit plus the one batch that crossed it.
    expect(maxInflight).toBeGreaterThan(0);
    expect(maxInflight).toBeLessThanOrEqual(limit + batchBytes);
    expect(slow.maxOutstanding * batchBytes).toBeLessThanOrEqual(limit + batchBytes);
    expect(d.status().instruments['fast']!.blockedMs).toBeGreaterThan(500);
    expectScalarExact(slow.batches.get('fast.tags')!, config.instruments[0]!.options as SimScalarOptions, 3, d.run.t0UnixNs);
  });

  it('a stalled lossy subscriber costs only its own drops, counted; lossless sinks get everything', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const config = validateConfig(
      {
        run: { out: t.dir, seed: 5 },
        instruments: [{ name: 'p', type: 'sim-scalar', options: { tags: 100, rate_hz: 1000, batch_rows: 1000, realtime: false } }],
        storage: { sinks: ['none'] },
        flow: { lossy_max_pending: 3 },
      },
      'test',
    );
    const sink = new CaptureSink('null');
    let stalledGot = 0;
    const d = await Daemon.start({
      config,
      log: quiet,
      extraSinks: [sink],
      extraSubscribers: [{ id: 'stalled', mode: 'lossy', streams: () => true, maxPendingBatches: 3, deliver: () => void stalledGot++ }],
    });
    await new Promise((r) => setTimeout(r, 800));
    await d.stop();
    const st = d.status();
    const total = st.streams['p.tags']!.batches;
    const stalled = st.subscribers.find((s) => s.id === 'stalled')!;
    expect(total).toBeGreaterThan(20);
    expect(stalledGot).toBe(2); // its in-flight allowance, never acknowledged
    expect(stalled.pending_batches).toBe(3);
    expect(stalled.dropped_batches).toBe(total - 2 - 3);
    expect(sink.rows('p.tags')).toBe(st.streams['p.tags']!.rows);
    expectScalarExact(sink.batches.get('p.tags')!, config.instruments[0]!.options as SimScalarOptions, 5, d.run.t0UnixNs);
  });
});

describe('flow control through the merge', () => {
  // Flow control used to hold every producer while any lossless subscriber was over its limit:
  // a merge over its buffer limit (its mailbox filled while it waited to publish to a slow sink)
  // then waited on itself to publish the output that would drain it, and the daemon hung (found
  // with `daq run` on the default digitizer, unpaced, http off). Only the producers of a blocked
  // subscriber's streams wait now.
  it('a merge over its buffer limit still publishes its output: the run drains and stops, every event stored', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const config = validateConfig(
      { run: { out: t.dir }, instruments: [], storage: { sinks: ['none'] }, http: { enabled: false }, merge: { max_buffered_mib: 0.25 }, flow: { lossless_max_inflight_mib: 0.25 } },
      'test',
    );
    const sink = new CaptureSink('slow', 3);
    const opts = simDigitizerOptions.parse({ channels: 2, trigger_rate_hz: 2000, max_length: 2000, long_fraction: 0 });
    const sources = waveSources(opts, 11, 60, true);
    const d = await Daemon.start({ config, log: quiet, extraSinks: [sink], extraSources: sources });
    let mergeMax = 0;
    const probe = setInterval(() => {
      const m = d.status().subscribers.find((x) => x.id === 'merge-records');
      if (m) mergeMax = Math.max(mergeMax, m.inflight_bytes);
    }, 2);
    const deadline = (ms: number, what: string) => new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} after ${ms} ms: flow control deadlock`)), ms).unref());
    const finished = (async () => {
      while (['w0', 'w1'].some((n) => d.status().instruments[n]!.running)) await new Promise((r) => setTimeout(r, 10));
    })();
    try {
      await Promise.race([finished, deadline(20_000, 'inputs still held')]);
      await Promise.race([d.stop(), deadline(10_000, 'stop still waiting')]);
    } finally {
      clearInterval(probe);
    }
    const limit = 0.25 * 1024 * 1024;
    // The merge did go over its limit (so this run exercised the case), and stayed bounded.
    expect(mergeMax).toBeGreaterThan(limit);
    expect(mergeMax).toBeLessThan(limit + 2 * 1024 * 1024);
    const emitted = ['w0.ch0', 'w1.ch0'].reduce((a, st) => a + (d.status().streams[st]?.rows ?? 0), 0);
    expect(emitted).toBeGreaterThan(3000);
    expect(sink.rows('records')).toBe(emitted);
  }, 60_000);
});

describe('a failing lossless sink (disk full)', () => {
  it('stops the daemon with the error instead of hanging, other sinks keep every admitted row', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const config = validateConfig(
      {
        run: { out: t.dir, seed: 2 },
        instruments: [{ name: 'p', type: 'sim-scalar', options: { tags: 100, rate_hz: 1000, batch_rows: 2000, realtime: false } }],
        storage: { sinks: ['none'] },
        flow: { lossless_max_inflight_mib: 0.2 },
      },
      'test',
    );
    class FullDisk extends CaptureSink {
      override async write(sb: StreamBatch): Promise<void> {
        if (this.rows('p.tags') >= 20_000) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        await super.write(sb);
        await new Promise((r) => setTimeout(r, 1));
      }
    }
    const full = new FullDisk('full');
    const other = new CaptureSink('other');
    const d = await Daemon.start({ config, log: () => {}, extraSinks: [full, other] });
    const fatal = new Promise<Error>((resolve) => d.onFatal(resolve));
    expect((await fatal).message).toContain('ENOSPC');
    await expect(d.stop()).rejects.toThrow(/ENOSPC/);
    expect(d.status().state).toBe('failed');
    expect(full.rows('p.tags')).toBe(20_000);
    expectScalarExact(other.batches.get('p.tags')!, config.instruments[0]!.options as SimScalarOptions, 2, d.run.t0UnixNs);
  });

  it('stops promptly when waveform inputs give no watermark: the merge is flushed before the sinks are awaited', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const config = validateConfig({ run: { out: t.dir }, instruments: [], storage: { sinks: ['none'] }, http: { enabled: false } }, 'test');
    const sink = new CaptureSink('cap');
    const opts = simDigitizerOptions.parse({ channels: 2, trigger_rate_hz: 500, max_length: 500 });
    // Producers that promise nothing: the merge holds each one's newest event.
    const sources = waveSources(opts, 7, 5, false);
    const d = await Daemon.start({ config, log: quiet, extraSinks: [sink], extraSources: sources });
    while (['w0', 'w1'].some((n) => d.status().instruments[n]!.running)) await new Promise((r) => setTimeout(r, 10));
    const t0 = Date.now();
    await d.stop();
    expect(Date.now() - t0).toBeLessThan(1500); // not held until a silence timeout (2 s), nor forever
    const emitted = ['w0.ch0', 'w1.ch0'].reduce((a, s) => a + (d.status().streams[s]?.rows ?? 0), 0);
    expect(emitted).toBeGreaterThan(50);
    expect(sink.rows('records')).toBe(emitted); // every event merged, the held ones too
  }, 30_000);
});
