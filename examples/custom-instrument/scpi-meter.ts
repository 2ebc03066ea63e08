/**
 * Example instrument plugin: reads a SCPI power meter / multimeter / oscilloscope over TCP.
 * Connects to host:port, asks `*IDN?` once per connection, then sends each configured query
 * (e.g. `MEAS:VOLT:DC?`) every `period_ms` and emits one scalar batch per cycle, a row per query.
 * A lost or refused connection is logged with host:port and the cause and retried with backoff;
 * the cycles it misses are emitted as COMM_FAILURE points (value NaN), so the stored trend shows
 * "not recorded" rather than a silent gap. An answer that is not a number is a BAD point.
 *
 * Config:
 *   instruments:
 *     - name: pm
 *       type: plugin
 *       module: ./examples/custom-instrument/scpi-meter.ts
 *       options: { host: 192.168.1.40, port: 5025, period_ms: 500,
 *                  queries: [{ tag: power, query: "MEAS:POW?", unit: W }] }
 */
import { z } from 'zod';
import { defineInstrument } from '../../src/plugin.ts';
import { makeScalarBatch, Quality, scalarSchema } from '../../src/schema/scalar.ts';
import type { StreamBatch } from '../../src/schema/batch.ts';
import { ScpiClient } from './scpi-client.ts';

const options = z
  .object({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(1).max(65535).default(5025),
    /** What to read each cycle: a tag name, the SCPI query that returns its value, its unit. */
    queries: z
      .array(z.object({ tag: z.string().min(1), query: z.string().min(1), unit: z.string().default('') }).strict())
      .min(1),
    period_ms: z.number().positive().default(1000),
    /** Per connect and per query. */
    timeout_ms: z.number().positive().default(2000),
    reconnect: z.object({ initial_ms: z.number().positive().default(250), max_ms: z.number().positive().default(10_000) }).strict().default({ initial_ms: 250, max_ms: 10_000 }),
  })
  .strict();
type Options = z.infer<typeof options>;

const nowNs = () => BigInt(Date.now()) * 1_000_000n;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });
}

/** One cycle's rows: every query's value (or NaN) with its quality. */
function cycleBatch(stream: string, t: bigint, values: Float64Array, quality: Uint8Array): StreamBatch {
  const n = values.length;
  const ts = new BigInt64Array(n).fill(t);
  const tag = new Uint32Array(n);
  for (let i = 0; i < n; i++) tag[i] = i;
  return { kind: 'scalar', stream, batch: makeScalarBatch({ timestampNs: ts, tag, value: values, quality }) };
}

export default defineInstrument<Options>({
  name: 'scpi-meter',
  version: '1.0.0',
  options,
  streams: (o, instance) => [
    {
      name: `${instance}.tags`,
      kind: 'scalar',
      schema: scalarSchema,
      tags: o.queries.map((q, id) => ({ id, name: q.tag, unit: q.unit, type: 'float64' as const })),
      units: { timestamp_ns: 'ns' },
    },
  ],
  async *run(o, ctx, instance) {
    const stream = `${instance}.tags`;
    const n = o.queries.length;
    let client: ScpiClient | null = null;
    let failures = 0;
    let next = Date.now();
    try {
      while (!ctx.signal.aborted) {
        await sleep(next - Date.now(), ctx.signal);
        if (ctx.signal.aborted) break;
        next = Math.max(next + o.period_ms, Date.now());
        try {
          if (!client) {
            client = await ScpiClient.connect(o.host, o.port, o.timeout_ms);
            const idn = await client.query('*IDN?');
            ctx.log('info', `connected to ${client.where}: ${idn}`);
            failures = 0;
          }
          const values = new Float64Array(n);
          const quality = new Uint8Array(n);
          for (let i = 0; i < n; i++) {
            const q = o.queries[i]!;
            const answer = await client.query(q.query);
            const v = Number(answer);
            if (answer === '' || !Number.isFinite(v)) {
              values[i] = NaN;
              quality[i] = Quality.BAD;
              ctx.log('warn', `device ${client.where} answered "${q.query}" with "${answer}", expected a number (tag ${q.tag})`);
            } else values[i] = v;
          }
          yield cycleBatch(stream, nowNs(), values, quality);
        } catch (err) {
          client?.close();
          client = null;
          failures++;
          const delay = Math.min(o.reconnect.max_ms, o.reconnect.initial_ms * 2 ** (failures - 1));
          ctx.log('error', `${(err as Error).message}; reconnecting in ${delay} ms`, { failures });
          yield cycleBatch(stream, nowNs(), new Float64Array(n).fill(NaN), new Uint8Array(n).fill(Quality.COMM_FAILURE));
          next = Date.now() + delay;
        }
      }
    } finally {
      client?.close();
    }
  },
});
