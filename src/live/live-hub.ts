import { Field, Float64, Int16, Schema, Uint32 } from 'apache-arrow';
import { RecordBatch } from 'apache-arrow';
import { Observable, defer, share, startWith } from 'rxjs';
import { makeBatch } from '../schema/batch.ts';
import type { StreamBatch, StreamInfo } from '../schema/batch.ts';
import { scalarColumns } from '../schema/scalar.ts';
import { recordColumns } from '../schema/waveform.ts';
import { DaqError } from '../errors.ts';
import { minMaxDecimate } from './decimate.ts';
import { TrendRing } from './ring.ts';
import { FrameEncoder } from './ipc.ts';

/** What a viewer asks for on one stream. */
export interface LiveViewOptions {
  /** Scalar streams: tag names to trend (default: the first 4 tags). */
  tags?: string[];
  /** Horizontal resolution: points become at most this many min/max buckets. Default 800. */
  pixels?: number;
  /** Update period in ms (sampled, not buffered). Default 250. */
  intervalMs?: number;
}

/**
 * One display update: `kind` "trend" (tag, t_ms, min, max), "scope" (channel, x_ns, min, max) or
 * "table" (a derived table stream's newest rows, its own columns: FFT bins, waveform features).
 */
export interface LiveFrame {
  stream: string;
  kind: 'trend' | 'scope' | 'table';
  batch: RecordBatch;
  /** The batch as an Arrow IPC stream, when it was built straight into one (trend frames). */
  ipc?: Uint8Array;
}

const trendSchema = (stream: string) =>
  new Schema(
    [new Field('tag', new Uint32(), false), new Field('t_ms', new Float64(), false), new Field('min', new Float64(), false), new Field('max', new Float64(), false)],
    new Map([['stream', stream], ['kind', 'trend']]),
  );
const scopeSchema = (stream: string) =>
  new Schema(
    [new Field('channel', new Int16(), false), new Field('x_ns', new Float64(), false), new Field('min', new Float64(), false), new Field('max', new Float64(), false)],
    new Map([['stream', stream], ['kind', 'scope']]),
  );

interface ScalarState {
  kind: 'scalar';
  info: StreamInfo;
  byName: Map<string, number>;
  /** Subscribers per tag id (refcount); a ring exists while > 0. */
  wanted: Uint16Array;
  rings: Map<number, TrendRing>;
  lastValue: Float64Array;
  lastTimeMs: Float64Array;
  version: number;
  frames: FrameCache;
  /** The trend frame schema, made once. */
  frameSchema: Schema;
}

interface ScopeTrace {
  samples: Uint16Array;
  baseline: number;
  dtNs: number;
}

interface WaveState {
  kind: 'waveform';
  info: StreamInfo;
  latest: Map<number, ScopeTrace>;
  version: number;
  frames: FrameCache;
  /** The scope frame schema, made once. */
  frameSchema: Schema;
}

/**
 * Decimated series back to back as frame columns: key (tag id or channel, one per point), x, min,
 * max. One allocation per column, whatever the number of series.
 */
function packParts(parts: Array<{ key: number; d: { x: Float64Array; min: Float64Array; max: Float64Array } }>, Key: Uint32ArrayConstructor | Int16ArrayConstructor): ArrayLike<unknown>[] {
  const n = parts.reduce((a, p) => a + p.d.x.length, 0);
  const key = new Key(n);
  const x = new Float64Array(n);
  const min = new Float64Array(n);
  const max = new Float64Array(n);
  let o = 0;
  for (const p of parts) {
    key.fill(p.key, o, o + p.d.x.length);
    x.set(p.d.x, o);
    min.set(p.d.min, o);
    max.set(p.d.max, o);
    o += p.d.x.length;
  }
  return [key, x, min, max];
}

/** Frames already built, by view (`pixels|tag ids`), with the stream version they show. */
type FrameCache = Map<string, { version: number; frame: LiveFrame }>;

/** A derived table stream (processor output): the newest batch. */
interface TableState {
  kind: 'table';
  info: StreamInfo;
  latest: RecordBatch | null;
  version: number;
  frames: FrameCache;
}

type State = ScalarState | WaveState | TableState;

/** Points kept per trended tag. */
const RING_POINTS = 20_000;

/**
 * The live-view engine behind the live-view actor. `push` runs on the acquisition thread and
 * only keeps the newest data: last value per tag, bounded trend rings for tags someone watches,
 * the latest waveform per channel. Viewers get rxjs Observables sampled every `intervalMs` and
 * min/max-decimated to `pixels`, so a million-point trend or a 1 MS waveform fits a screen with
 * its peaks, and nothing is queued per viewer here.
 */
export class LiveHub {
  private readonly states = new Map<string, State>();
  /** One shared frame stream per view (stream, tags, pixels, interval): its viewers tick together. */
  private readonly views = new Map<string, Observable<LiveFrame>>();
  /** Lays trend frames out as Arrow IPC streams from the start (see FrameEncoder.allocate). */
  private readonly encoder = new FrameEncoder();
  pushedBatches = 0;
  pushedRows = 0;
  /**
   * Time spent serving viewers, ms: building frames and handing them to every viewer (in the
   * server: encoding once, sending to each). Besides this, viewers only make `push` write their
   * watched tags into rings (once per point, whatever the number of viewers). Wall time, and the
   * process's CPU time over the same spans (process.cpuUsage: with other threads busy at the
   * same moments it counts them too).
   */
  serveMs = 0;
  serveCpuMs = 0;
  /** View ticks that produced a frame. */
  ticks = 0;

  addStream(info: StreamInfo): void {
    if (info.kind === 'scalar') {
      let n = 0;
      for (const t of info.tags ?? []) n = Math.max(n, t.id + 1); // no spread: up to 1M tags
      this.states.set(info.name, {
        kind: 'scalar',
        info,
        byName: new Map((info.tags ?? []).map((t) => [t.name, t.id])),
        wanted: new Uint16Array(n),
        rings: new Map(),
        lastValue: new Float64Array(n).fill(Number.NaN),
        lastTimeMs: new Float64Array(n),
        version: 0,
        frames: new Map(),
        frameSchema: trendSchema(info.name),
      });
    } else if (info.kind === 'waveform') {
      this.states.set(info.name, { kind: 'waveform', info, latest: new Map(), version: 0, frames: new Map(), frameSchema: scopeSchema(info.name) });
    } else if (info.kind === 'table') {
      this.states.set(info.name, { kind: 'table', info, latest: null, version: 0, frames: new Map() });
    }
  }

  /** Streams a viewer can watch. */
  streams(): Array<{ name: string; kind: string; tags?: string[]; channels?: number[]; columns?: string[] }> {
    return [...this.states.values()].map((s) => ({
      name: s.info.name,
      kind: s.info.kind,
      ...(s.kind === 'scalar' ? { tags: (s.info.tags ?? []).map((t) => t.name) } : s.kind === 'table' ? { columns: s.info.schema.fields.map((f) => f.name) } : { channels: s.info.channels ?? [] }),
    }));
  }

  push(sb: StreamBatch): void {
    const st = this.states.get(sb.stream);
    if (!st) return;
    this.pushedBatches++;
    this.pushedRows += sb.batch.numRows;
    if (st.kind === 'scalar' && sb.kind === 'scalar') this.pushScalar(st, sb);
    else if (st.kind === 'waveform' && sb.kind === 'waveform') this.pushWave(st, sb);
    else if (st.kind === 'table' && sb.kind === 'table') st.latest = sb.batch; // by reference: newest only
    st.version++;
  }

  private pushScalar(st: ScalarState, sb: StreamBatch): void {
    const c = scalarColumns(sb.batch);
    // Time as 32-bit words: no BigInt per row.
    const w = new Uint32Array(c.timestampNs.buffer, c.timestampNs.byteOffset, c.timestampNs.length * 2);
    const hi = new Int32Array(c.timestampNs.buffer, c.timestampNs.byteOffset, c.timestampNs.length * 2);
    const { wanted, lastValue, lastTimeMs } = st;
    for (let i = 0; i < c.tag.length; i++) {
      const tag = c.tag[i]!;
      const tMs = (hi[2 * i + 1]! * 4294967296 + w[2 * i]!) / 1e6;
      lastValue[tag] = c.value[i]!;
      lastTimeMs[tag] = tMs;
      if (wanted[tag]) st.rings.get(tag)!.push(tMs, c.value[i]!);
    }
  }

  private pushWave(st: WaveState, sb: StreamBatch & { kind: 'waveform' }): void {
    const c = recordColumns(sb.batch);
    const n = sb.batch.numRows;
    // The last event of each channel in this batch.
    const seen = new Set<number>();
    for (let i = n - 1; i >= 0; i--) {
      const ch = c.channel[i]!;
      if (seen.has(ch)) continue;
      seen.add(ch);
      const off = Number(c.wave_offset[i]);
      st.latest.set(ch, { samples: sb.samples.subarray(off, off + c.event_length[i]!), baseline: c.baseline[i]!, dtNs: c.dt[i]! });
    }
  }

  /** Last value and time per tag of a scalar stream (for tables of current values). */
  lastValues(stream: string): Array<{ tag: string; value: number; tMs: number }> {
    const st = this.states.get(stream);
    if (!st || st.kind !== 'scalar') return [];
    return (st.info.tags ?? []).map((t) => ({ tag: t.name, value: st.lastValue[t.id]!, tMs: st.lastTimeMs[t.id]! }));
  }

  /**
   * An Observable of display frames for one stream: sampled every `intervalMs` (an update is sent
   * only if data arrived since the last one), min/max-decimated to `pixels`.
   */
  stream$(name: string, opts: LiveViewOptions = {}): Observable<LiveFrame> {
    const st = this.states.get(name);
    if (!st) throw new DaqError('DAQ_ERR_STREAM_UNKNOWN', `live view: no stream "${name}"`, { details: { stream: name } });
    const pixels = Math.max(2, Math.min(opts.pixels ?? 800, 10_000));
    const period = Math.max(20, opts.intervalMs ?? 250);
    if (st.kind === 'scalar') this.watch(st, opts.tags, true); // unknown tags fail now, at subscription
    // Viewers of the same view share one timer and so one frame per tick (built and, in the
    // server, encoded once), whatever the ingest rate.
    const key = `${name}|${pixels}|${period}|${st.kind === 'scalar' ? JSON.stringify(opts.tags ?? null) : ''}`;
    const existing = this.views.get(key);
    if (existing) return existing;
    // A viewer joining a view already running gets its latest frame at once, then the ticks.
    let latest: LiveFrame | null = null;
    const ticks$ = new Observable<LiveFrame>((subscriber) => {
      let seenVersion = -1;
      const tags = st.kind === 'scalar' ? this.watch(st, opts.tags) : [];
      const timer = setInterval(() => {
        if (st.version === seenVersion || (st.kind === 'table' && st.latest === null)) return;
        const t0 = performance.now();
        const c0 = process.cpuUsage();
        seenVersion = st.version;
        try {
          latest = this.frame(st, tags, pixels);
        } catch (err) {
          subscriber.error(err);
          return;
        }
        // Synchronous through share(): every viewer of the view gets it (the server encodes it
        // once and sends it to each), so the time measured is this tick's whole serving cost.
        subscriber.next(latest);
        this.serveMs += performance.now() - t0;
        const c = process.cpuUsage(c0);
        this.serveCpuMs += (c.user + c.system) / 1000;
        this.ticks++;
      }, period);
      return () => {
        clearInterval(timer);
        if (st.kind === 'scalar') this.unwatch(st, tags);
        this.views.delete(key);
        latest = null;
      };
    }).pipe(share());
    const view$ = defer(() => (latest ? ticks$.pipe(startWith(latest)) : ticks$));
    this.views.set(key, view$);
    return view$;
  }

  /**
   * The frame of a stream for these tags and pixels at the stream's current version: built once
   * and shared by every viewer asking for the same view (ten viewers of one trend cost one
   * decimation and, in the server, one IPC encoding).
   */
  private frame(st: State, tags: number[], pixels: number): LiveFrame {
    const key = `${pixels}|${tags.join(',')}`;
    const hit = st.frames.get(key);
    if (hit && hit.version === st.version) return hit.frame;
    const frame = st.kind === 'scalar' ? this.trendFrame(st, tags, pixels) : st.kind === 'table' ? this.tableFrame(st, pixels) : this.scopeFrame(st, pixels);
    if (!hit && st.frames.size >= 64) st.frames.clear(); // many distinct views: keep the cache small
    st.frames.set(key, { version: st.version, frame });
    return frame;
  }

  private watch(st: ScalarState, names: string[] | undefined, checkOnly = false): number[] {
    const ids = (names ?? (st.info.tags ?? []).slice(0, 4).map((t) => t.name)).map((n) => {
      const id = st.byName.get(n);
      if (id === undefined) throw new DaqError('DAQ_ERR_STREAM_UNKNOWN', `live view: stream "${st.info.name}" has no tag "${n}"`, { details: { stream: st.info.name, tag: n } });
      return id;
    });
    if (checkOnly) return ids;
    for (const id of ids) {
      if (st.wanted[id]!++ === 0) st.rings.set(id, new TrendRing(RING_POINTS));
    }
    return ids;
  }

  private unwatch(st: ScalarState, ids: number[]): void {
    for (const id of ids) if (--st.wanted[id]! === 0) st.rings.delete(id);
  }

  private trendFrame(st: ScalarState, ids: number[], pixels: number): LiveFrame {
    // Decimated straight from each ring (fixed capacity) into the frame's columns: the work per
    // frame does not grow with the ingest rate, and nothing is copied twice.
    const rings = ids.map((id) => st.rings.get(id)!);
    const n = rings.reduce((a, r) => a + Math.min(pixels, r.length), 0);
    // The columns are laid out inside the frame's IPC bytes: one allocation, and the server sends
    // these bytes as they are.
    const lay = this.encoder.allocate(st.frameSchema, n);
    const [key, x, min, max] = (lay?.columns ?? [new Uint32Array(n), new Float64Array(n), new Float64Array(n), new Float64Array(n)]) as [Uint32Array, Float64Array, Float64Array, Float64Array];
    const d = { x, min, max };
    let o = 0;
    rings.forEach((r, j) => {
      const k = r.decimateInto(pixels, d, o);
      key.fill(ids[j]!, o, o + k);
      o += k;
    });
    const frame: LiveFrame = { stream: st.info.name, kind: 'trend', batch: makeBatch(st.frameSchema, [key, x, min, max]) };
    if (lay) frame.ipc = lay.bytes;
    return frame;
  }

  /** The newest table batch, at most `pixels` of its last rows, tagged with stream and kind. */
  private tableFrame(st: TableState, pixels: number): LiveFrame {
    const b = st.latest!;
    const rows = b.numRows > pixels ? b.slice(b.numRows - pixels) : b;
    const schema = new Schema(rows.schema.fields, new Map([['stream', st.info.name], ['kind', 'table']]));
    return { stream: st.info.name, kind: 'table', batch: new RecordBatch(schema, rows.data) };
  }

  private scopeFrame(st: WaveState, pixels: number): LiveFrame {
    const chans = [...st.latest.keys()].sort((a, b) => a - b);
    const parts = chans.map((ch) => {
      const tr = st.latest.get(ch)!;
      const d = minMaxDecimate(tr.samples, pixels);
      for (let i = 0; i < d.x.length; i++) d.x[i] = d.x[i]! * tr.dtNs;
      return { key: ch, d };
    });
    return { stream: st.info.name, kind: 'scope', batch: makeBatch(st.frameSchema, packParts(parts, Int16Array)) };
  }

  stats(): Record<string, number> {
    let rings = 0;
    for (const s of this.states.values()) if (s.kind === 'scalar') rings += s.rings.size;
    return { pushed_batches: this.pushedBatches, pushed_rows: this.pushedRows, trend_rings: rings, view_ticks: this.ticks, serve_ms: Math.round(this.serveMs * 1000) / 1000, serve_cpu_ms: Math.round(this.serveCpuMs * 1000) / 1000 };
  }
}
