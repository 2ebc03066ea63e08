// Worker entry of an InstrumentHost: imports the plugin module, validates it, then iterates its
// run() under credit-based flow control and posts each batch (IPC bytes, transferred).
import { parentPort, workerData } from 'node:worker_threads';
import type { z } from 'zod';
import type { InstrumentDefinition } from '../plugin.ts';
import type { StreamBatch } from '../schema/batch.ts';
import { formatIssues, instrumentDefinitionShape, streamShape } from './definition-shape.ts';
import { encodeBatch, encodeSchema } from './wire.ts';
import type { HostToWorker, WireStream, WorkerToHost } from './wire.ts';

interface Data {
  moduleHref: string;
  modulePath: string;
  instance: string;
  options: unknown;
  t0UnixNs: bigint;
  sessionStartUnixNs: bigint;
  seed: number;
}

const port = parentPort!;
const data = workerData as Data;
const post = (m: WorkerToHost, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
const abort = new AbortController();
let credits = 0;
let wake: (() => void) | null = null;
let def: InstrumentDefinition | null = null;
let options: unknown;

port.on('message', (m: HostToWorker) => {
  switch (m.type) {
    case 'ping':
      post({ type: 'pong', seq: m.seq });
      break;
    case 'credit':
      credits += m.n;
      wake?.();
      break;
    case 'stop':
      abort.abort();
      wake?.();
      break;
    case 'start':
      credits += m.credits;
      void runLoop();
      break;
  }
});

function bootError(code: 'DAQ_ERR_PLUGIN_LOAD' | 'DAQ_ERR_PLUGIN_INVALID', message: string): void {
  post({ type: 'boot-error', code, message });
}

async function boot(): Promise<void> {
  let mod: { default?: unknown };
  try {
    mod = (await import(data.moduleHref)) as { default?: unknown };
  } catch (err) {
    return bootError('DAQ_ERR_PLUGIN_LOAD', `cannot import plugin module ${data.modulePath}: ${(err as Error).message}`);
  }
  const shape = instrumentDefinitionShape.safeParse(mod.default);
  if (!shape.success) {
    const what = mod.default === undefined ? 'it has no default export' : formatIssues(shape.error, 'default');
    return bootError('DAQ_ERR_PLUGIN_INVALID', `plugin module ${data.modulePath} must default-export defineInstrument({...}): ${what}`);
  }
  def = mod.default as InstrumentDefinition;
  const parsed = (def.options as z.ZodType).safeParse(data.options);
  if (!parsed.success) {
    return bootError('DAQ_ERR_PLUGIN_INVALID', `plugin ${def.name} (${data.modulePath}), instance "${data.instance}": invalid options: ${formatIssues(parsed.error, 'options')}`);
  }
  options = parsed.data;
  let streams: WireStream[];
  try {
    const declared = def.streams(options, data.instance);
    if (!Array.isArray(declared) || declared.length === 0) throw new Error(`streams() must return a non-empty array, got ${Array.isArray(declared) ? '[]' : typeof declared}`);
    streams = declared.map((s, i) => {
      const r = streamShape.safeParse(s);
      if (!r.success) throw new Error(formatIssues(r.error, `streams[${i}]`));
      const { schema, ...rest } = s;
      return { ...rest, schemaIpc: encodeSchema(schema) };
    });
  } catch (err) {
    return bootError('DAQ_ERR_PLUGIN_INVALID', `plugin ${def.name} (${data.modulePath}): streams() failed: ${(err as Error).message}`);
  }
  let clonable: unknown;
  try {
    clonable = structuredClone(options);
  } catch {
    clonable = data.options;
  }
  post({ type: 'ready', name: def.name, version: def.version, options: clonable, streams });
}

async function runLoop(): Promise<void> {
  let produced = 0;
  try {
    const ctx = {
      signal: abort.signal,
      t0UnixNs: data.t0UnixNs,
      sessionStartUnixNs: data.sessionStartUnixNs,
      seed: data.seed,
      log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, extra?: Record<string, unknown>) => post({ type: 'log', level, msg, ...(extra ? { extra } : {}) }),
    };
    const it = def!.run(options, ctx, data.instance)[Symbol.asyncIterator]();
    for (;;) {
      while (credits === 0) await new Promise<void>((r) => (wake = r));
      wake = null;
      const r = await it.next();
      if (r.done) break;
      credits--;
      produced++;
      send(r.value);
    }
    post({ type: 'done' });
  } catch (err) {
    const e = err as Error;
    post({ type: 'error', phase: produced === 0 ? 'start' : 'run', message: e?.message ?? String(err), ...(e?.stack ? { stack: e.stack } : {}) });
  }
}

function send(sb: StreamBatch): void {
  const stream = typeof sb?.stream === 'string' ? sb.stream : '?';
  let ipc: Uint8Array;
  try {
    ipc = encodeBatch(sb.batch);
  } catch (err) {
    post({ type: 'bad-batch', stream, message: `not an Arrow RecordBatch: ${(err as Error).message}` });
    return;
  }
  const transfer: ArrayBuffer[] = [ipc.buffer as ArrayBuffer];
  if (sb.kind === 'waveform') {
    let samples = sb.samples;
    if (!(samples instanceof Uint16Array)) {
      post({ type: 'bad-batch', stream, message: 'waveform samples must be a Uint16Array' });
      return;
    }
    // Transfer when the view owns its whole buffer; otherwise copy so the plugin's buffer stays usable.
    if (samples.byteOffset !== 0 || samples.byteLength !== samples.buffer.byteLength || !(samples.buffer instanceof ArrayBuffer)) samples = samples.slice();
    transfer.push(samples.buffer as ArrayBuffer);
    post({ type: 'batch', stream, kind: sb.kind, ipc, samples }, transfer);
  } else {
    post({ type: 'batch', stream, kind: String(sb?.kind), ipc }, transfer);
  }
}

await boot();
