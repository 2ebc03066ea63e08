import { Field, Float64, Int16, Schema, Uint32 } from 'apache-arrow';
import { RecordBatch } from 'apache-arrow';
import { Observable, defer, share, startWith } from 'rxjs';
import { makeBatch } from '../schema/batch.ts';
import type { StreamBatch, StreamInfo } from '../schema/batch.ts';
import { scalarColumns } from '../schema/scalar.ts';
import type { ScalarColumns } from '../schema/scalar.ts';
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
  /** Tag id by name, made at the first subscription by name (a million tags: ~70 MB of Map). */
  byName: Map<string, number> | null;
  /** Subscribers per tag id (refcount); a ring exists while > 0. */
  wanted: Uint16Array;
  /** 1 where `wanted` > 0: the ingest scan's lookup table (a byte per tag stays in L1 longer). */
  watchedFlag: Uint8Array;
  /** Tags with `wanted` > 0: while 0, no batch is scanned for ring points. */
  watched: number;
  /** The tag ids 0, 1, 2, ... as bytes, made when first needed (see inIdOrder). */
  idSequence?: Buffer;
  rings: Map<number, TrendRing>;
  /** Last value and time per tag, up to date once `pending` is folded in (see foldLastValues). */
  lastValue: Float64Array;
  lastTimeMs: Float64Array;
  /**
   * Tag ids 0 .. tagCount-1 (the table's largest id + 1): a fold that has met this many has met
   * every tag and stops (with gaps in the ids it never stops early, which is only slower).
   */
  tagCount: number;
  /** Batches pushed since the last fold (their columns, by reference), oldest first, and their rows. */
  pending: ScalarColumns[];
  pendingRows: number;
  /**
   * Whether the newest batch in `pending` was found to hold every id in order, round and round
   * (inIdOrder, checked while feeding rings; false when no tag is watched, as nothing checks it):
   * a fold then takes its last values by arithmetic (foldLastValues).
   */
  newestInOrder: boolean;
  /** Rows after which `pending` is folded: bounds the memory it holds. */
  foldRows: number;
  /** Per tag, the fold that last saw it (`epoch`): a tag's newest row is taken once per fold. */
  seen: Uint32Array;
  epoch: number;
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
 * Queued rows after which a scalar stream's last values are folded in: at least 4 per tag (with
 * tags interleaved, a fold then reads the newest quarter or less and skips the rest), at least
 * 2^18 (a fold every few batches), at most 2^20 (about 21 MB of scalar rows held by reference; with
 * more tags than that a fold reads every row, as pushing them one by one did).
 */
const FOLD_ROWS_MIN = 1 << 18;
const FOLD_ROWS_MAX = 1 << 20;
/**
 * Up to this many watched tags in a stream, a batch is searched tag by tag with indexOf (feedRings);
 * beyond, one scan. With the tag column cold in cache (as in the daemon), each indexOf pass costs
 * about as much as the one scan: measured +0.5 ns per row for 3 tags by one scan, +2 ns by 3 passes.
 */
const FEW_WATCHED = 1;
/** Fewest tag ids for which batches are checked for tags in id order (inIdOrder). */
const MIN_PERIOD = 64;

/**
 * The live-view engine behind the live-view actor. `push` runs on the acquisition thread and
 * only keeps the newest data: last value per tag (folded in lazily, see pushScalar), bounded
 * trend rings for tags someone watches, the latest waveform per channel. Viewers get rxjs
 * Observables sampled every `intervalMs` and min/max-decimated to `pixels`, so a million-point trend or a 1 MS waveform fits a screen with
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
  /** Batches whose watched points were found by arithmetic: their tags in id order (inIdOrder). */
  inOrderBatches = 0;
  /** Folds of last values done by arithmetic on a newest batch in id order (foldInOrder). */
  inOrderFolds = 0;
  /**
   * Time spent in `push`, ms (wall, two clock reads per batch): the ingest side of the live view,
   * whose growth with viewers (ring feeding) is, with `serveMs`, what viewers cost the daemon.
   */
  pushMs = 0;
  /**
   * Time spent serving viewers, ms: building frames and handing them to every viewer (in the
   * server: encoding once, sending to each), timed per tick with performance.now() (wall time of
   * synchronous work on this thread). Besides this, viewers only make `push` scan each batch of a
   * stream with watched tags and write those tags' points into rings (once per point, whatever the
   * number of viewers). No CPU-time reading per tick: process.cpuUsage() (getrusage over every
   * thread) took 0.07–1.3 ms per call in a busy daemon on a 2-core VM, more than a tick's frame.
   */
  serveMs = 0;
  /** View ticks that produced a frame. */
  ticks = 0;

  addStream(info: StreamInfo): void {
    if (info.kind === 'scalar') {
      let n = 0;
      for (const t of info.tags ?? []) n = Math.max(n, t.id + 1); // no spread: up to 1M tags
      this.states.set(info.name, {
        kind: 'scalar',
        info,
        byName: null,
        wanted: new Uint16Array(n),
        watchedFlag: new Uint8Array(n),
        watched: 0,
        rings: new Map(),
        lastValue: new Float64Array(n).fill(Number.NaN),
        lastTimeMs: new Float64Array(n),
        tagCount: n,
        pending: [],
        pendingRows: 0,
        newestInOrder: false,
        foldRows: Math.min(FOLD_ROWS_MAX, Math.max(FOLD_ROWS_MIN, 4 * n)),
        seen: new Uint32Array(n),
        epoch: 0,
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
    const t0 = performance.now();
    this.pushedBatches++;
    this.pushedRows += sb.batch.numRows;
    if (st.kind === 'scalar' && sb.kind === 'scalar') this.pushScalar(st, sb);
    else if (st.kind === 'waveform' && sb.kind === 'waveform') this.pushWave(st, sb);
    else if (st.kind === 'table' && sb.kind === 'table') st.latest = sb.batch; // by reference: newest only
    st.version++;
    this.pushMs += performance.now() - t0;
  }

  /**
   * Per batch, no work per point unless a viewer watches a tag of this stream: the batch's columns
   * are only queued (by reference) for the last values, folded in later (foldLastValues) newest
   * first, where a fold stops as soon as every tag has been seen, so it reads a few rows per tag
   * rather than every row. While tags are watched, the batch is searched once for their points
   * (feedRings, whatever the number of viewers) and those are written into their rings.
   */
  private pushScalar(st: ScalarState, sb: StreamBatch): void {
    const c = scalarColumns(sb.batch);
    st.newestInOrder = st.watched > 0 && this.feedRings(st, c);
    st.pending.push(c);
    st.pendingRows += c.tag.length;
    if (st.pendingRows >= st.foldRows) this.foldLastValues(st);
  }

  /**
   * Writes the points of watched tags into their rings (time in ms from the 32-bit words: no BigInt
   * per row). Tags in id order (inIdOrder, one memcmp): their rows are computed. Otherwise, one
   * watched tag: a native indexOf pass over the tag column; more (FEW_WATCHED): one scan, testing
   * eight rows at a time against a byte per tag. The scans are the one cost per point viewers add
   * (0.5-1.5 ns per row for 3 tags, 1-3 % of the daemon's CPU at full rate), hence the in-order case.
   * Returns whether the batch's tags are in id order (the next fold then uses it).
   */
  private feedRings(st: ScalarState, c: ScalarColumns): boolean {
    const { tag, value, timestampNs } = c;
    const n = tag.length;
    const lo = new Uint32Array(timestampNs.buffer, timestampNs.byteOffset, n * 2);
    const hi = new Int32Array(timestampNs.buffer, timestampNs.byteOffset, n * 2);
    const period = st.wanted.length;
    if (n > 0 && this.inIdOrder(st, tag)) {
      // Row j holds tag (phase + j) mod period: each watched tag's rows by arithmetic.
      this.inOrderBatches++;
      const phase = tag[0]!;
      for (const [id, ring] of st.rings) {
        for (let j = (id - phase + period) % period; j < n; j += period) ring.push((hi[2 * j + 1]! * 4294967296 + lo[2 * j]!) / 1e6, value[j]!);
      }
      return true;
    }
    if (st.watched <= FEW_WATCHED) {
      for (const [id, ring] of st.rings) {
        let j = tag.indexOf(id);
        // A tag found often (a stream of few tags): the rest of the column row by row, not a call per point.
        for (let hits = 0; j >= 0 && hits < 64; hits++) {
          ring.push((hi[2 * j + 1]! * 4294967296 + lo[2 * j]!) / 1e6, value[j]!);
          j = tag.indexOf(id, j + 1);
        }
        for (; j >= 0 && j < n; j++) if (tag[j] === id) ring.push((hi[2 * j + 1]! * 4294967296 + lo[2 * j]!) / 1e6, value[j]!);
      }
      return false;
    }
    const flag = st.watchedFlag;
    const m = n & ~7;
    for (let i = 0; i < n; i += 8) {
      // Watched rows are rare: mostly one well-predicted branch per eight rows.
      if (i < m && (flag[tag[i]!]! | flag[tag[i + 1]!]! | flag[tag[i + 2]!]! | flag[tag[i + 3]!]! | flag[tag[i + 4]!]! | flag[tag[i + 5]!]! | flag[tag[i + 6]!]! | flag[tag[i + 7]!]!) === 0) continue;
      const end = Math.min(i + 8, n);
      for (let j = i; j < end; j++) {
        const t = tag[j]!;
        if (flag[t] === 1) st.rings.get(t)!.push((hi[2 * j + 1]! * 4294967296 + lo[2 * j]!) / 1e6, value[j]!);
      }
    }
    return false;
  }

  /**
   * Whether the batch's tags are every id in order, round and round (tag[j] = (tag[0] + j) mod
   * ids), as a poller of every tag writes them (and the simulator): checked exactly, with memcmp
   * against the sequence of ids (about 0.03 ns per row; a batch in any other order usually differs
   * within its first rows). Not tried with fewer than MIN_PERIOD ids (many short compares).
   */
  private inIdOrder(st: ScalarState, tag: Uint32Array): boolean {
    const period = st.wanted.length;
    const phase = tag[0]!;
    if (period < MIN_PERIOD || phase >= period) return false;
    st.idSequence ??= Buffer.from(Uint32Array.from({ length: period }, (_, i) => i).buffer);
    const ids = st.idSequence;
    const rows = Buffer.from(tag.buffer, tag.byteOffset, tag.byteLength);
    for (let j = 0, start = phase; j < tag.length; start = 0) {
      const len = Math.min(period - start, tag.length - j);
      if (rows.compare(ids, start * 4, (start + len) * 4, j * 4, (j + len) * 4) !== 0) return false;
      j += len;
    }
    return true;
  }

  /**
   * Folds the queued batches into the last value and time per tag: newest batch first, each from
   * its last row back, a tag taken the first time it is met (its newest row), stopping once every
   * tag has been met. Runs when the queue reaches `foldRows` rows and before last values are read.
   */
  private foldLastValues(st: ScalarState): void {
    if (st.pending.length === 0) return;
    if (st.newestInOrder && this.foldInOrder(st)) return;
    const epoch = ++st.epoch === 0xffffffff ? this.resetEpoch(st) : st.epoch;
    const { seen, lastValue, lastTimeMs } = st;
    const nTags = seen.length;
    let found = 0;
    for (let b = st.pending.length - 1; b >= 0 && found < st.tagCount; b--) {
      const { tag, value, timestampNs } = st.pending[b]!;
      const lo = new Uint32Array(timestampNs.buffer, timestampNs.byteOffset, tag.length * 2);
      const hi = new Int32Array(timestampNs.buffer, timestampNs.byteOffset, tag.length * 2);
      for (let i = tag.length - 1; i >= 0; i--) {
        const t = tag[i]!;
        if (t >= nTags || seen[t] === epoch) continue;
        seen[t] = epoch;
        lastValue[t] = value[i]!;
        lastTimeMs[t] = (hi[2 * i + 1]! * 4294967296 + lo[2 * i]!) / 1e6;
        if (++found === st.tagCount) break;
      }
    }
    st.pending = [];
    st.pendingRows = 0;
  }

  /**
   * The fold when the newest batch holds every id in order round and round (newestInOrder) and at
   * least one full round: its last `period` rows hold each tag exactly once, the newest of each,
   * tags p0 .. period-1 then 0 .. p0-1. Values are two block copies, times one sequential pass;
   * no tag is read (the order check already read them) and older batches are not needed. While
   * tags are watched (the only time the order is known), this saves the fold most of its work.
   * Returns false (nothing done) when the newest batch is shorter than a round.
   */
  private foldInOrder(st: ScalarState): boolean {
    const period = st.wanted.length;
    const newest = st.pending[st.pending.length - 1]!;
    const { tag, value, timestampNs } = newest;
    const n = tag.length;
    if (n < period || period !== st.tagCount || period === 0) return false;
    const start = n - period;
    const p0 = tag[start]!; // (phase + start) mod period, as checked
    const head = period - p0; // rows start .. start+head-1: tags p0 .. period-1
    st.lastValue.set(value.subarray(start, start + head), p0);
    st.lastValue.set(value.subarray(start + head, n), 0);
    const lo = new Uint32Array(timestampNs.buffer, timestampNs.byteOffset, n * 2);
    const hi = new Int32Array(timestampNs.buffer, timestampNs.byteOffset, n * 2);
    const times = st.lastTimeMs;
    for (let j = start, t = p0; j < n; j++) {
      times[t] = (hi[2 * j + 1]! * 4294967296 + lo[2 * j]!) / 1e6;
      if (++t === period) t = 0;
    }
    st.pending = [];
    st.pendingRows = 0;
    this.inOrderFolds++;
    return true;
  }

  private resetEpoch(st: ScalarState): number {
    st.seen.fill(0);
    st.epoch = 1;
    return 1;
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
    this.foldLastValues(st);
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
    // No names: the first four tags (no name map needed for those).
    const ids = names === undefined ? (st.info.tags ?? []).slice(0, 4).map((t) => t.id) : names.map((n) => {
      st.byName ??= new Map((st.info.tags ?? []).map((t) => [t.name, t.id]));
      const id = st.byName.get(n);
      if (id === undefined) throw new DaqError('DAQ_ERR_STREAM_UNKNOWN', `live view: stream "${st.info.name}" has no tag "${n}"`, { details: { stream: st.info.name, tag: n } });
      return id;
    });
    if (checkOnly) return ids;
    for (const id of ids) {
      if (st.wanted[id]!++ === 0) {
        st.rings.set(id, new TrendRing(RING_POINTS));
        st.watchedFlag[id] = 1;
        st.watched++;
      }
    }
    return ids;
  }

  private unwatch(st: ScalarState, ids: number[]): void {
    for (const id of ids) {
      if (--st.wanted[id]! === 0) {
        st.rings.delete(id);
        st.watchedFlag[id] = 0;
        st.watched--;
      }
    }
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
    const schema = st.frameSchema;
    const columns = [key, x, min, max];
    if (!lay) return { stream: st.info.name, kind: 'trend', batch: makeBatch(schema, columns) };
    // The server sends `ipc` as it is: the RecordBatch (Arrow's Data and Vector objects over the same
    // columns) is made only if something reads it (an in-process subscriber, a test).
    let batch: RecordBatch | undefined;
    return {
      stream: st.info.name,
      kind: 'trend',
      ipc: lay.bytes,
      get batch() {
        return (batch ??= makeBatch(schema, columns));
      },
    };
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
    let pending = 0;
    for (const s of this.states.values()) {
      if (s.kind === 'scalar') {
        rings += s.rings.size;
        pending += s.pendingRows;
      }
    }
    return { pushed_batches: this.pushedBatches, pushed_rows: this.pushedRows, trend_rings: rings, view_ticks: this.ticks, serve_ms: Math.round(this.serveMs * 1000) / 1000, push_ms: Math.round(this.pushMs * 1000) / 1000, pending_rows: pending };
  }
}
