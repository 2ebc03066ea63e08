import fs from 'node:fs';
import path from 'node:path';
import h5wasm from 'h5wasm/node';
import type { Group } from 'h5wasm/node';
import { DaqError, StorageError } from '../../errors.ts';
import { RECORD_FIELDS } from '../../schema/waveform.ts';
import type { ScalarSegmentPart, SegmentContent, SegmentSummary, TableSegmentPart, WaveSegmentPart } from '../segment.ts';
import { sortByTagThenTime } from './tag-sort.ts';

/** Chunk sizes (elements), measured in test/bench/storage.bench.ts: 1 Mi elements per chunk
 * keeps h5wasm's per-call cost negligible and deflate effective; a 1000-sample wave read touches
 * one or two chunks. */
export const CHUNK_ELEMENTS = 1 << 20;
/** Deflate level for compressed columns: 1 is several times faster than 4 and nearly as small on
 * sorted timestamps and tag ids (measured with test/bench/storage.bench.ts). */
export const DEFLATE_LEVEL = Number(process.env['DAQ_DEFLATE_LEVEL'] ?? 1);

const DTYPES: Record<string, string> = {
  timestamp: '<q',
  pid: '<i',
  channel: '<h',
  baseline: '<d',
  event_id: '<q',
  dt: '<i',
  trigger_type: '<h',
  flags: '<I',
  wave_offset: '<q',
  event_length: '<i',
  time: '<q',
};

export function segmentFileName(index: number): string {
  return `seg-${String(index).padStart(6, '0')}.h5`;
}

let ready: Promise<unknown> | null = null;
/** h5wasm's WebAssembly module, loaded once. */
export function h5ready(): Promise<unknown> {
  ready ??= h5wasm.ready;
  return ready;
}

/** h5wasm often reports failure by returning null or printing to stderr: check what it made. */
function check<T>(value: T | null | undefined, what: string, file: string): T {
  if (value === null || value === undefined) {
    throw new DaqError('DAQ_ERR_HDF5', `h5wasm could not ${what} in ${file}`, { details: { file } });
  }
  return value;
}

function dataset(group: Group, name: string, data: ArrayLike<unknown> & { length: number }, dtype: string | null, file: string, compress: boolean, unit?: string): void {
  const n = data.length;
  const args: Parameters<Group['create_dataset']>[0] = { name, data: data as never, shape: [n] };
  if (dtype) args.dtype = dtype;
  if (n > 0) {
    args.chunks = [Math.min(n, CHUNK_ELEMENTS)];
    args.maxshape = [null];
    if (compress) {
      args.compression = 'gzip';
      args.compression_opts = DEFLATE_LEVEL;
    }
  }
  const ds = check(group.create_dataset(args), `create dataset ${name}`, file);
  const shape = ds.shape;
  if (!shape || shape[0] !== n) throw new DaqError('DAQ_ERR_HDF5', `h5wasm wrote ${shape?.[0]} elements to ${name} in ${file}, expected ${n}`, { details: { file, field: name } });
  if (unit) ds.create_attribute('units', unit);
}

function writeRecords(group: Group, part: WaveSegmentPart, file: string): void {
  const records = check(group.create_group('records'), 'create group records', file);
  records.create_attribute('NX_class', 'NXdata');
  records.create_attribute('signal', 'event_length');
  records.create_attribute('axes', 'timestamp');
  for (const f of RECORD_FIELDS) {
    dataset(records, f.name, part.records[f.name], DTYPES[f.name]!, file, f.name !== 'baseline', f.unit || undefined);
  }
  dataset(group, 'wave_pool', part.samples, '<H', file, false, 'ADC counts');
  const pool = group.get('wave_pool') as unknown as { create_attribute: Group['create_attribute'] };
  pool.create_attribute('global_offset', new BigInt64Array([part.globalSampleOffset]) as never);
  pool.create_attribute('dt_ns', part.dtNs);
}

function writeScalars(root: Group, part: ScalarSegmentPart, file: string): void {
  const g = check(root.create_group(part.stream), `create group ${part.stream}`, file);
  g.create_attribute('NX_class', 'NXdata');
  g.create_attribute('signal', 'value');
  g.create_attribute('axes', 'timestamp_ns');
  const s = sortByTagThenTime(part);
  dataset(g, 'timestamp_ns', s.timestampNs, '<q', file, true, 'ns');
  dataset(g, 'tag', s.tag, '<I', file, true);
  dataset(g, 'value', s.value, '<d', file, false);
  dataset(g, 'quality', s.quality, '<B', file, true);
  const idx = check(g.create_group('tag_index'), 'create group tag_index', file);
  dataset(idx, 'tag', s.index.tag, '<I', file, false);
  dataset(idx, 'start', s.index.start, '<q', file, false);
  dataset(idx, 'count', s.index.count, '<q', file, false);
  dataset(idx, 't_min_ns', s.index.tMin, '<q', file, false, 'ns');
  dataset(idx, 't_max_ns', s.index.tMax, '<q', file, false, 'ns');
  const tags = check(g.create_group('tags'), 'create group tags', file);
  dataset(tags, 'id', Uint32Array.from(part.tags, (t) => t.id), '<I', file, false);
  // Fixed-length strings: several times faster to write than variable-length ones in h5wasm.
  for (const key of ['name', 'unit', 'type'] as const) {
    const strs = part.tags.map((t) => t[key]);
    const width = Math.max(1, ...strs.map((x) => Buffer.byteLength(x)));
    check(tags.create_dataset({ name: key, data: strs, dtype: `S${width}` }), `create dataset tags/${key}`, file);
  }
}

function writeTable(root: Group, part: TableSegmentPart, file: string): void {
  const g = check(root.create_group(part.stream), `create group ${part.stream}`, file);
  for (const [name, col] of Object.entries(part.columns)) dataset(g, name, col as never, null, file, false, part.units[name]);
}

/**
 * Writes one segment synchronously: `<dir>/seg-NNNNNN.h5.tmp`, closed, fsynced, renamed to
 * `seg-NNNNNN.h5`, directory fsynced — a reader never sees a half-written file. h5wasm is
 * synchronous: call this from a worker thread ({@link SegmentWriter}), not the acquisition loop.
 */
export function writeSegmentSync(dir: string, content: SegmentContent): SegmentSummary {
  const t0 = performance.now();
  const final = path.join(dir, segmentFileName(content.index));
  const tmp = `${final}.tmp`;
  fs.rmSync(tmp, { force: true });
  const f = new h5wasm.File(tmp, 'w');
  let closed = false;
  try {
    f.create_attribute('run_id', content.runId);
    f.create_attribute('software', content.software);
    f.create_attribute('config', content.configJson);
    f.create_attribute('lineage', content.lineageJson);
    f.create_attribute('t0_unix_ns', new BigInt64Array([content.t0UnixNs]) as never);
    f.create_attribute('segment_index', content.index);
    f.create_attribute('wal_seq_last', new BigInt64Array([content.walSeqLast]) as never);
    f.create_attribute('NX_class', 'NXentry');
    f.create_attribute('default', content.waves.some((w) => w.primary) ? 'records' : content.scalars[0] ? `scalars/${content.scalars[0].stream}` : '');
    for (const w of content.waves) {
      if (w.primary) writeRecords(f, w, tmp);
      else {
        const streams = (f.get('streams') as Group | null) ?? f.create_group('streams');
        writeRecords(check(streams.create_group(w.stream), `create group streams/${w.stream}`, tmp), w, tmp);
      }
    }
    if (content.scalars.length > 0) {
      const sg = f.create_group('scalars');
      for (const s of content.scalars) writeScalars(sg, s, tmp);
    }
    if (content.tables.length > 0) {
      const tg = f.create_group('tables');
      for (const t of content.tables) writeTable(tg, t, tmp);
    }
    f.close();
    closed = true;
    const fd = fs.openSync(tmp, 'r+');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, final);
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch (err) {
    if (!closed) {
      try {
        f.close();
      } catch {
        // already failing
      }
    }
    fs.rmSync(tmp, { force: true });
    if (err instanceof DaqError) throw err;
    throw new StorageError(`writing segment ${final} failed: ${(err as Error).message}`, { cause: err, details: { file: final } });
  }
  return {
    path: final,
    bytes: fs.statSync(final).size,
    scalarPoints: content.scalars.reduce((a, s) => a + s.tag.length, 0),
    records: content.waves.reduce((a, w) => a + w.records.timestamp.length, 0),
    samples: content.waves.reduce((a, w) => a + w.samples.length, 0),
    durationMs: performance.now() - t0,
  };
}
