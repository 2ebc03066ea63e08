import { Field, Float64, Int16, Schema, Table, Uint32, Utf8, tableFromArrays, tableFromIPC, tableToIPC } from 'apache-arrow';
import { firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { FrameEncoder } from '../../../src/live/ipc.ts';
import { makeBatch } from '../../../src/schema/batch.ts';
import { feedHub, pushScalars, pushWaves } from '../../helpers/live-feed.ts';

const arrowBytes = (b: Parameters<FrameEncoder['encode']>[0]) => tableToIPC(new Table([b]), 'stream');
const schema = new Schema(
  [new Field('tag', new Uint32(), false), new Field('t_ms', new Float64(), false), new Field('min', new Float64(), false), new Field('max', new Float64(), false)],
  new Map([['stream', 's'], ['kind', 'trend']]),
);
const trend = (n: number, seed: number) =>
  makeBatch(schema, [
    Uint32Array.from({ length: n }, (_, i) => i % 3),
    Float64Array.from({ length: n }, (_, i) => seed + i),
    Float64Array.from({ length: n }, (_, i) => Math.sin(seed * i)),
    Float64Array.from({ length: n }, (_, i) => Math.cos(seed * i)),
  ]);

describe('FrameEncoder', () => {
  it('writes the same bytes as apache-arrow, first and later frames, whatever the row count', () => {
    const enc = new FrameEncoder();
    for (const [n, seed] of [[5, 1], [5, 2], [5, 3], [0, 4], [0, 5], [7, 6], [2400, 7], [2400, 8], [5, 9]] as const) {
      const b = trend(n, seed);
      expect(Buffer.from(enc.encode(b)).equals(Buffer.from(arrowBytes(b)))).toBe(true);
    }
    expect(enc.fromPrefix).toBe(5); // every frame but the first of each row count
    // Same row count, another schema (metadata, a field's type): its own prefix.
    const other = new Schema(schema.fields, new Map([['stream', 't'], ['kind', 'trend']]));
    const b2 = makeBatch(other, [Uint32Array.of(1), Float64Array.of(2), Float64Array.of(3), Float64Array.of(4)]);
    const b3 = makeBatch(new Schema([new Field('tag', new Int16(), false), ...schema.fields.slice(1)], schema.metadata), [Int16Array.of(1), Float64Array.of(2), Float64Array.of(3), Float64Array.of(4)]);
    for (const b of [trend(1, 1), b2, b3, trend(1, 2), b2, b3]) expect(Buffer.from(enc.encode(b)).equals(Buffer.from(arrowBytes(b)))).toBe(true);
    expect(enc.fromPrefix).toBe(8);
    const back = tableFromIPC(enc.encode(trend(3, 10)));
    expect(back.schema.metadata.get('kind')).toBe('trend');
    expect([...(back.getChild('t_ms')!.toArray() as Float64Array)]).toEqual([10, 11, 12]);
  });

  it('trend and scope frames of the hub, and other columns (strings, slices) through apache-arrow', async () => {
    const hub = feedHub();
    pushScalars(hub, 0, Date.now());
    pushWaves(hub, 1000);
    const enc = new FrameEncoder();
    for (const s of ['p.tags', 'records']) {
      const f = await firstValueFrom(hub.stream$(s, { intervalMs: 20, pixels: 50 }));
      // Trend frames come already laid out as IPC: the same bytes apache-arrow writes.
      if (s === 'p.tags') expect(f.ipc && Buffer.from(f.ipc).equals(Buffer.from(arrowBytes(f.batch)))).toBe(true);
      expect(Buffer.from(enc.encode(f.batch)).equals(Buffer.from(arrowBytes(f.batch)))).toBe(true);
      expect(Buffer.from(enc.encode(f.batch)).equals(Buffer.from(arrowBytes(f.batch)))).toBe(true);
    }
    expect(enc.fromPrefix).toBe(2); // the second trend and the second scope frame
    const strings = tableFromArrays({ name: ['a', 'bb', 'ccc'], x: Float64Array.of(1, 2, 3) }).batches[0]!;
    expect(Buffer.from(enc.encode(strings)).equals(Buffer.from(arrowBytes(strings)))).toBe(true);
    expect(Buffer.from(enc.encode(strings)).equals(Buffer.from(arrowBytes(strings)))).toBe(true);
    const sliced = trend(10, 1).slice(4);
    expect(tableFromIPC(enc.encode(sliced)).getChild('t_ms')!.toArray()).toEqual(Float64Array.of(5, 6, 7, 8, 9, 10));
    const scope = makeBatch(new Schema([new Field('channel', new Int16(), false), new Field('name', new Utf8(), false)]), [Int16Array.of(1), ['x']]);
    expect(tableFromIPC(enc.encode(scope)).numRows).toBe(1);
    expect(enc.fromPrefix).toBe(2); // none of these
  });

  it('allocates a frame as IPC bytes whose columns are filled in place', () => {
    const enc = new FrameEncoder();
    for (const n of [0, 3, 7, 2400, 7]) {
      const lay = enc.allocate(schema, n)!;
      const [tag, t, min, max] = lay.columns as [Uint32Array, Float64Array, Float64Array, Float64Array];
      for (let i = 0; i < n; i++) {
        tag[i] = i % 3;
        t[i] = 1e12 + i;
        min[i] = -i / 3;
        max[i] = i * 7.5;
      }
      const b = makeBatch(schema, [tag, t, min, max]);
      expect(Buffer.from(lay.bytes).equals(Buffer.from(arrowBytes(b)))).toBe(true);
      expect(Buffer.from(enc.encode(b)).equals(Buffer.from(lay.bytes))).toBe(true);
    }
    expect(enc.allocate(new Schema([new Field('name', new Utf8(), false)]), 3)).toBeNull();
  });

  it('prefixes for new row counts of a known schema are written without the writer, byte for byte the same', () => {
    const enc = new FrameEncoder();
    const scope = new Schema(
      [new Field('channel', new Int16(), false), new Field('x_ns', new Float64(), false), new Field('min', new Float64(), false), new Field('max', new Float64(), false)],
      new Map([['stream', 'r'], ['kind', 'scope']]),
    );
    // Row counts around the 8-byte padding of 2- and 4-byte columns, and large ones.
    const counts = [1, 2, 3, 4, 5, 8, 9, 15, 16, 17, 100, 799, 800, 801, 2400, 65_537];
    for (const sc of [schema, scope]) {
      for (const n of counts) {
        const lay = enc.allocate(sc, n)!;
        const cols = lay.columns;
        for (let i = 0; i < n; i++) for (let c = 0; c < cols.length; c++) (cols[c] as Float64Array | Int16Array | Uint32Array)[i] = (i * (c + 3)) % 1000;
        const b = makeBatch(sc, cols);
        expect(Buffer.from(lay.bytes).equals(Buffer.from(arrowBytes(b)))).toBe(true);
      }
      // The same through encode, with new row counts again.
      for (const n of [6, 7, 801, 803]) {
        const b = makeBatch(sc, sc === schema ? [new Uint32Array(n).fill(2), new Float64Array(n).fill(1), new Float64Array(n), new Float64Array(n)] : [new Int16Array(n).fill(-3), new Float64Array(n).fill(1), new Float64Array(n), new Float64Array(n)]);
        expect(Buffer.from(enc.encode(b)).equals(Buffer.from(arrowBytes(b)))).toBe(true);
      }
    }
    // All but the first row count of each schema.
    expect(enc.derivedPrefixes).toBe(2 * (counts.length + 4 - 1));
  });
});
