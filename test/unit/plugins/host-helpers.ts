import path from 'node:path';
import { InstrumentHost } from '../../../src/plugins/instrument-host.ts';
import type { InstrumentHostOptions } from '../../../src/plugins/instrument-host.ts';
import type { StreamBatch } from '../../../src/schema/batch.ts';

export const fixture = (name: string) => path.resolve(import.meta.dirname, '../../fixtures/plugins', `${name}.ts`);

export interface LogLine {
  level: string;
  msg: string;
  extra?: Record<string, unknown>;
}

/** Loads a fixture plugin with fast watchdogs and backoff; collects its logs. */
export async function loadFixture(name: string, over: Partial<InstrumentHostOptions> = {}) {
  const logs: LogLine[] = [];
  const host = await InstrumentHost.load({
    module: fixture(name),
    instance: name,
    options: {},
    t0UnixNs: 0n,
    seed: 7,
    log: (level, msg, extra) => logs.push({ level, msg, ...(extra ? { extra } : {}) }),
    pingIntervalMs: 50,
    pingTimeoutMs: 400,
    backoff: { initialMs: 40, maxMs: 160, factor: 2 },
    ...over,
  });
  return { host, logs };
}

/** Consumes `host.run()` in the background into `batches`; `stop()` aborts and waits for the end. */
export function consume(host: InstrumentHost) {
  const ac = new AbortController();
  const batches: StreamBatch[] = [];
  let error: unknown = null;
  const done = (async () => {
    try {
      for await (const sb of host.run(ac.signal)) batches.push(sb);
    } catch (err) {
      error = err;
    }
  })();
  return {
    batches,
    get error() {
      return error;
    },
    done,
    stop: async () => {
      ac.abort();
      await done;
    },
  };
}

/** Polls `cond` every 10 ms until true or `timeoutMs` elapses (then throws with `what`). */
export async function until(cond: () => boolean, what: string, timeoutMs = 45_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
