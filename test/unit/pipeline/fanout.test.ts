import { describe, expect, it } from 'vitest';
import { Fanout } from '../../../src/pipeline/fanout.ts';
import { makeScalarBatch, scalarSchema, scalarColumns, isDaqError } from '../../../src/index.ts';
import type { StreamBatch, StreamInfo } from '../../../src/index.ts';

const lineage = { plugin: 't', version: '1', optionsHash: '', inputs: [] };
const info = (name: string): StreamInfo => ({ name, kind: 'scalar', schema: scalarSchema, lineage });

/** A batch of `rows` points whose values all equal `id`, 21 bytes per row. */
function batch(stream: string, rows: number, id: number): StreamBatch {
  return {
    kind: 'scalar',
    stream,
    batch: makeScalarBatch({ timestampNs: new BigInt64Array(rows), tag: new Uint32Array(rows), value: new Float64Array(rows).fill(id), quality: new Uint8Array(rows) }),
  };
}
const idOf = (sb: StreamBatch) => scalarColumns(sb.batch).value[0];

describe('Fanout', () => {
  it('delivers the same batch object to every subscriber (no copy)', () => {
    const f = new Fanout();
    f.registerStream(info('a'));
    const got: StreamBatch[][] = [[], []];
    f.subscribe({ id: 's1', mode: 'lossless', streams: ['a'], deliver: (sb) => got[0]!.push(sb) });
    f.subscribe({ id: 's2', mode: 'lossy', streams: () => true, deliver: (sb) => got[1]!.push(sb) });
    const b = batch('a', 10, 1);
    f.publish(b);
    expect(got[0]![0]).toBe(b);
    expect(got[1]![0]).toBe(b);
  });

  it('holds producers while a lossless subscriber is over its in-flight bytes, and releases them on ack', () => {
    const f = new Fanout();
    f.registerStream(info('a'));
    const tokens: number[] = [];
    f.subscribe({ id: 'slow', mode: 'lossless', streams: ['a'], maxInflightBytes: 2100, deliver: (_sb, t) => tokens.push(t) });
    expect(f.publish(batch('a', 50, 1))).toBe(true); // 1050 bytes
    expect(f.publish(batch('a', 50, 2))).toBe(true); // 2100: at the limit, not over
    expect(f.publish(batch('a', 50, 3))).toBe(false); // over: the producer must wait
    let released = false;
    f.whenWritable('a', () => (released = true));
    expect(released).toBe(false);
    f.ack('slow', tokens[0]!);
    expect(released).toBe(true);
    expect(f.writable).toBe(true);
    expect(f.subscriberStats()[0]).toMatchObject({ delivered_batches: 3, dropped_batches: 0, inflight_batches: 2 });
  });

  it('holds only the producers of a blocked subscriber\'s streams: a processor over its limit can still publish its output', () => {
    const f = new Fanout();
    f.registerStream(info('in'));
    f.registerStream(info('out'));
    const procTokens: number[] = [];
    const sinkTokens: number[] = [];
    // A processor (takes `in`, publishes `out`) and a sink of `out`.
    f.subscribe({ id: 'proc', mode: 'lossless', streams: ['in'], maxInflightBytes: 1000, deliver: (_sb, t) => procTokens.push(t) });
    f.subscribe({ id: 'sink', mode: 'lossless', streams: ['out'], maxInflightBytes: 1000, deliver: (_sb, t) => sinkTokens.push(t) });
    expect(f.publish(batch('in', 50, 1))).toBe(false); // 1050 bytes: the processor is over its limit
    expect(f.writable).toBe(false);
    expect(f.writableFor('in')).toBe(false);
    expect(f.writableFor('out')).toBe(true);
    // The processor's output is not held by the processor's own backlog.
    expect(f.publish(batch('out', 10, 2))).toBe(true);
    let outReleased = false;
    f.whenWritable('out', () => (outReleased = true));
    expect(outReleased).toBe(true);
    // The sink over its limit holds producers of `out` only; each waiter wakes when its own stream has room.
    expect(f.publish(batch('out', 50, 3))).toBe(false);
    const woke: string[] = [];
    f.whenWritable('in', () => woke.push('in'));
    f.whenWritable('out', () => woke.push('out'));
    f.ack('sink', sinkTokens[1]!);
    expect(woke).toEqual(['out']);
    f.ack('proc', procTokens[0]!);
    expect(woke).toEqual(['out', 'in']);
    expect(f.writable).toBe(true);
  });

  it('gives a lossy subscriber the newest batches and counts drops, never holding producers', () => {
    const f = new Fanout();
    f.registerStream(info('a'));
    const got: Array<{ sb: StreamBatch; t: number }> = [];
    f.subscribe({ id: 'view', mode: 'lossy', streams: ['a'], maxInflightBatches: 1, maxPendingBatches: 2, deliver: (sb, t) => got.push({ sb, t }) });
    for (let i = 0; i < 10; i++) expect(f.publish(batch('a', 5, i))).toBe(true);
    expect(got.map((g) => idOf(g.sb))).toEqual([0]);
    const st = f.subscriberStats()[0]!;
    expect(st).toMatchObject({ dropped_batches: 7, dropped_rows: 35, pending_batches: 2 });
    f.ack('view', got[0]!.t);
    f.ack('view', got[1]!.t);
    // After catching up it sees the newest two, 8 and 9.
    expect(got.map((g) => idOf(g.sb))).toEqual([0, 8, 9]);
  });

  it('matches streams registered after the subscription and announces them first', () => {
    const f = new Fanout();
    const events: string[] = [];
    f.subscribe({ id: 's', mode: 'lossless', streams: (i) => i.name.startsWith('x.'), onStream: (i) => events.push(`stream ${i.name}`), deliver: (sb) => events.push(`batch ${sb.stream}`) });
    f.registerStream(info('x.1'));
    f.registerStream(info('y.1'));
    f.publish(batch('x.1', 1, 0));
    f.publish(batch('y.1', 1, 0));
    expect(events).toEqual(['stream x.1', 'batch x.1']);
  });

  it('rejects unknown and duplicate streams with coded errors', () => {
    const f = new Fanout();
    f.registerStream(info('a'));
    expect(() => f.registerStream(info('a'))).toThrow(/already registered/);
    try {
      f.publish(batch('nope', 1, 0));
      throw new Error('expected');
    } catch (err) {
      expect(isDaqError(err, 'DAQ_ERR_STREAM_UNKNOWN')).toBe(true);
    }
  });

  it('counts rows and bytes per stream and tracks lossless in-flight for drain', () => {
    const f = new Fanout();
    f.registerStream(info('a'));
    const tokens: number[] = [];
    f.subscribe({ id: 's', mode: 'lossless', streams: ['a'], deliver: (_sb, t) => tokens.push(t) });
    f.publish(batch('a', 100, 0));
    f.publish(batch('a', 100, 0));
    expect(f.streamStats()['a']).toEqual({ batches: 2, rows: 200, bytes: 4200 });
    expect(f.losslessInflight).toBe(2);
    tokens.forEach((t) => f.ack('s', t));
    expect(f.losslessInflight).toBe(0);
  });
});
