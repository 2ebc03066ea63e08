import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InstrumentHost } from '../../../src/plugins/instrument-host.ts';
import { Quality, scalarColumns } from '../../../src/schema/scalar.ts';
import { startScpiSim } from '../../fixtures/scpi-sim-server.ts';
import { consume, until } from './host-helpers.ts';
import type { LogLine } from './host-helpers.ts';

const meter = path.resolve(import.meta.dirname, '../../../examples/custom-instrument/scpi-meter.ts');

async function loadMeter(port: number, queries: { tag: string; query: string; unit?: string }[], extra: Record<string, unknown> = {}) {
  const logs: LogLine[] = [];
  const host = await InstrumentHost.load({
    module: meter,
    instance: 'pm',
    options: { port, queries, period_ms: 20, timeout_ms: 500, reconnect: { initial_ms: 30, max_ms: 120 }, ...extra },
    t0UnixNs: 0n,
    seed: 1,
    log: (level, msg, x) => logs.push({ level, msg, ...(x ? { extra: x } : {}) }),
  });
  return { host, logs };
}

/** Rows of the collected batches as [tag, value, quality] columns. */
function rows(batches: { batch: Parameters<typeof scalarColumns>[0] }[]) {
  const tag: number[] = [];
  const value: number[] = [];
  const quality: number[] = [];
  for (const b of batches) {
    const c = scalarColumns(b.batch);
    tag.push(...c.tag);
    value.push(...c.value);
    quality.push(...c.quality);
  }
  return { tag, value, quality };
}

describe('example plugin scpi-meter through InstrumentHost', () => {
  it('emits exactly the values the simulated device served, tagged per query', async () => {
    const sim = await startScpiSim();
    const { host, logs } = await loadMeter(sim.port, [
      { tag: 'volt', query: 'MEAS:VOLT?', unit: 'V' },
      { tag: 'curr', query: 'MEAS:CURR?', unit: 'A' },
    ]);
    expect(host.streams[0]!.tags).toEqual([
      { id: 0, name: 'volt', unit: 'V', type: 'float64' },
      { id: 1, name: 'curr', unit: 'A', type: 'float64' },
    ]);
    const c = consume(host);
    await until(() => c.batches.length >= 6, '6 cycles');
    await c.stop();
    await sim.close();
    const r = rows(c.batches);
    expect(r.quality.every((q) => q === Quality.GOOD)).toBe(true);
    const volt = r.value.filter((_, i) => r.tag[i] === 0);
    const curr = r.value.filter((_, i) => r.tag[i] === 1);
    expect(volt).toEqual(sim.served.get('MEAS:VOLT?')!.slice(0, volt.length));
    expect(curr).toEqual(sim.served.get('MEAS:CURR?')!.slice(0, curr.length));
    expect(volt[0]).toBe(1.5);
    expect(sim.received[0]).toBe('*IDN?');
    expect(logs.some((l) => l.msg.includes('connected to 127.0.0.1:') && l.msg.includes('DAQ-SIM,PM-100'))).toBe(true);
    expect(host.stats()).toMatchObject({ rejected: 0, restarts: 0 });
  });

  it('reports a refused connection clearly, records COMM_FAILURE points, and reconnects when the device comes back or drops', async () => {
    // A free port with nothing listening yet.
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));

    const { host, logs } = await loadMeter(port, [
      { tag: 'p', query: 'MEAS:POW?', unit: 'W' },
      { tag: 'x', query: 'MEAS:BROKEN?' },
    ]);
    const c = consume(host);
    await until(() => logs.some((l) => l.msg.includes('ECONNREFUSED')), 'a refused-connection log');
    expect(logs.find((l) => l.msg.includes('ECONNREFUSED'))!.msg).toMatch(new RegExp(`cannot connect to 127\\.0\\.0\\.1:${port}: ECONNREFUSED; reconnecting in \\d+ ms`));
    const sim = await startScpiSim(port);
    await until(() => rows(c.batches).quality.includes(Quality.GOOD), 'a good point after the device appears');
    sim.dropConnections();
    const before = sim.served.get('MEAS:POW?')!.length;
    await until(() => (sim.served.get('MEAS:POW?')?.length ?? 0) >= before + 3, 'reads after the drop');
    await c.stop();
    await sim.close();
    const r = rows(c.batches);
    expect(r.quality).toContain(Quality.COMM_FAILURE);
    // Good values are served values, in order (a value served just as the link dropped may be lost: COMM_FAILURE).
    const good = r.value.filter((_, i) => r.tag[i] === 0 && r.quality[i] === Quality.GOOD);
    const served = sim.served.get('MEAS:POW?')!;
    expect(good.length).toBeGreaterThanOrEqual(before + 1);
    let j = 0;
    for (const v of good) {
      while (j < served.length && served[j] !== v) j++;
      expect(j, `value ${v} not served in order`).toBeLessThan(served.length);
      j++;
    }
    // The non-numeric answer is a BAD point with a log naming query and answer.
    expect(r.quality.filter((q, i) => r.tag[i] === 1 && q !== Quality.COMM_FAILURE).every((q) => q === Quality.BAD)).toBe(true);
    expect(logs.some((l) => l.msg.includes('answered "MEAS:BROKEN?" with "OVERLOAD", expected a number'))).toBe(true);
    expect(host.stats().restarts).toBe(0);
  });
});
