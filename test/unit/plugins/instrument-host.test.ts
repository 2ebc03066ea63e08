import { describe, expect, it } from 'vitest';
import { isDaqError } from '../../../src/errors.ts';
import { InstrumentHost } from '../../../src/plugins/instrument-host.ts';
import { backoffDelayMs } from '../../../src/plugins/backoff.ts';
import { scalarColumns } from '../../../src/schema/scalar.ts';
import { optionsHash } from '../../../src/util/hash.ts';
import { consume, fixture, loadFixture, until } from './host-helpers.ts';

describe('InstrumentHost', () => {
  it('runs a good plugin in a worker: streams with lineage, valid batches in order, logs forwarded, clean stop', async () => {
    const { host, logs } = await loadFixture('good', { options: { rows: 6, interval_ms: 1 } });
    expect(host.plugin).toEqual({ name: 'fixture-good', version: '1.2.3' });
    expect(host.streams.map((s) => s.name)).toEqual(['good.tags']);
    expect(host.streams[0]!.lineage).toEqual({ plugin: 'fixture-good', version: '1.2.3', optionsHash: optionsHash({ rows: 6, interval_ms: 1 }), inputs: [] });
    expect(host.streams[0]!.tags?.map((t) => t.name)).toEqual(['a', 'b']);
    const c = consume(host);
    await until(() => c.batches.length >= 20, '20 batches');
    await c.stop();
    const values = c.batches.flatMap((b) => Array.from(scalarColumns(b.batch).value));
    expect(values.slice(0, 120)).toEqual(Array.from({ length: 120 }, (_, i) => i));
    expect(host.stats()).toMatchObject({ rejected: 0, restarts: 0, running: false });
    expect(host.stats().batches).toBe(c.batches.length);
    expect(logs.some((l) => l.msg.includes('good plugin started') && l.extra?.seed === 7)).toBe(true);
    expect(c.error).toBeNull();
  });

  it('ends when the plugin run() returns, and applies credit-based backpressure', async () => {
    const { host } = await loadFixture('good', { options: { rows: 1, interval_ms: 0, count: 50 }, credits: 3 });
    const ac = new AbortController();
    const it = host.run(ac.signal)[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);
    // Consumer holds: the plugin may run ahead by at most the credits.
    await new Promise((r) => setTimeout(r, 300));
    expect(host.stats().batches).toBeLessThanOrEqual(4);
    let n = 1;
    while (!(await it.next()).done) n++;
    expect(n).toBe(50);
    expect(host.stats().restarts).toBe(0);
  });

  it('refuses a module that does not exist, does not import, or is not a defineInstrument export, and bad options', async () => {
    const codeOf = async (p: Promise<unknown>) => p.then(() => 'resolved', (e: unknown) => (isDaqError(e) ? `${e.code}: ${e.message}` : String(e)));
    const base = { instance: 'x', options: {}, t0UnixNs: 0n, seed: 1 };
    expect(await codeOf(InstrumentHost.load({ ...base, module: fixture('nope') }))).toMatch(/^DAQ_ERR_PLUGIN_LOAD: plugin module not found: .*nope\.ts/);
    expect(await codeOf(InstrumentHost.load({ ...base, module: fixture('throws-at-import') }))).toMatch(
      /^DAQ_ERR_PLUGIN_LOAD: cannot import plugin module .*throws-at-import\.ts: missing calibration file/,
    );
    const invalid = await codeOf(InstrumentHost.load({ ...base, module: fixture('not-a-plugin') }));
    expect(invalid).toMatch(/^DAQ_ERR_PLUGIN_INVALID: plugin module .*not-a-plugin\.ts must default-export defineInstrument/);
    expect(invalid).toMatch(/default\.options: must be a zod schema/);
    expect(invalid).toMatch(/default\.run: must be a function/);
    const badOpts = await codeOf(InstrumentHost.load({ ...base, module: fixture('good'), options: { rows: 'many' } }));
    expect(badOpts).toMatch(/^DAQ_ERR_PLUGIN_INVALID: plugin fixture-good .*instance "x": invalid options: options\.rows: /);
  });

  it('rejects wrong batches, counts and logs them once per kind, and the stream goes on', async () => {
    const { host, logs } = await loadFixture('wrong-schema');
    const c = consume(host);
    await until(() => c.batches.length >= 10, '10 good batches');
    await c.stop();
    const s = host.stats();
    expect(c.batches.every((b) => b.stream === 'wrong-schema.tags' && b.batch.numRows === 3)).toBe(true);
    expect(s.rejectedByKind['wrong-schema.tags:DAQ_ERR_SCHEMA_MISMATCH']).toBeGreaterThanOrEqual(10);
    expect(s.rejectedByKind['someone-else.tags:DAQ_ERR_STREAM_UNKNOWN']).toBeGreaterThanOrEqual(9);
    expect(s.rejectedByKind['wrong-schema.tags:DAQ_ERR_BATCH_INVALID']).toBeGreaterThanOrEqual(9);
    expect(s.rejected).toBe(Object.values(s.rejectedByKind).reduce((a, b) => a + b, 0));
    const rejLogs = logs.filter((l) => l.msg.includes('batch rejected'));
    expect(rejLogs).toHaveLength(3);
    expect(rejLogs[0]!.msg).toMatch(/field "timestamp_ns" has type Int32, expected Int64/);
    expect(s.restarts).toBe(0);
  });

  it('restarts a plugin that throws on start with growing, capped backoff', async () => {
    const { host, logs } = await loadFixture('throw-on-start');
    const c = consume(host);
    await until(() => host.stats().faults.start >= 4, '4 start faults');
    await c.stop();
    const s = host.stats();
    expect(s.faults.start).toBeGreaterThanOrEqual(4);
    expect(s.restarts).toBeGreaterThanOrEqual(3);
    expect(s.lastBackoffMs).toBe(160); // 40, 80, 160, 160 ...
    expect(c.batches).toHaveLength(0);
    const warn = logs.find((l) => l.extra?.code === 'DAQ_ERR_PLUGIN_CRASHED');
    expect(warn?.msg).toMatch(/failed \(start\): plugin run\(\) threw before its first batch: device not found on \/dev\/ttyUSB9/);
    expect(backoffDelayMs(1, { initialMs: 40, maxMs: 160, factor: 2 })).toBe(40);
    expect(backoffDelayMs(3, { initialMs: 40, maxMs: 160, factor: 2 })).toBe(160);
  });

  it('restarts a plugin that rejects mid-stream and keeps its batches; gives up after maxRestarts', async () => {
    const { host } = await loadFixture('throw-mid-stream', { maxRestarts: 0 });
    const c = consume(host);
    await c.done;
    expect(c.batches).toHaveLength(3);
    expect(isDaqError(c.error, 'DAQ_ERR_PLUGIN_CRASHED')).toBe(true);
    expect(String((c.error as Error).message)).toMatch(/checksum mismatch in frame 3/);

    const { host: h2 } = await loadFixture('throw-mid-stream');
    const c2 = consume(h2);
    await until(() => h2.stats().faults.throw >= 3, '3 mid-stream faults');
    await c2.stop();
    expect(c2.batches.length).toBeGreaterThanOrEqual(9);
    // After a session that delivered, the backoff starts over at its initial delay.
    expect(h2.stats().lastBackoffMs).toBe(40);
  });

  it('terminates a busy-looping plugin and restarts it; the main thread and another plugin keep going', async () => {
    const { host: busy } = await loadFixture('busy-loop');
    const { host: good } = await loadFixture('good', { instance: 'other', options: { rows: 1, interval_ms: 5 } });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const b = consume(busy);
    const g = consume(good);
    const t0 = Date.now();
    await until(() => busy.stats().faults.unresponsive >= 2, '2 unresponsive faults');
    const elapsed = Date.now() - t0;
    const goodBefore = g.batches.length;
    await new Promise((r) => setTimeout(r, 200));
    const goodAfter = g.batches.length;
    clearInterval(timer);
    await Promise.all([b.stop(), g.stop()]);
    // The main loop kept firing timers throughout (at least a third of the ideal count).
    expect(ticks).toBeGreaterThan(elapsed / 10 / 3);
    expect(busy.stats().restarts).toBeGreaterThanOrEqual(1);
    expect(b.batches.length).toBeGreaterThanOrEqual(2); // one per session before it spun
    expect(goodAfter).toBeGreaterThan(goodBefore);
    expect(good.stats().faults.unresponsive).toBe(0);
  });
});
