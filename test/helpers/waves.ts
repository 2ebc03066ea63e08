import { allocRecordColumns, makeRecordsBatch, recordColumns } from '../../src/schema/waveform.ts';
import type { WaveBatch } from '../../src/schema/batch.ts';
import { Xorshift } from '../../src/instruments/rng.ts';

/** One event as plain values (tests only: reference computations). */
export interface Ev {
  t: bigint;
  pid: number;
  ch: number;
  wave: Uint16Array;
  /** Where it came from: input index and position, for stability checks. */
  src: number;
  seq: number;
}

/** Builds a WaveBatch from events (samples back to back). */
export function waveBatch(stream: string, evs: Ev[], watermarkPs?: bigint): WaveBatch {
  const c = allocRecordColumns(evs.length);
  const total = evs.reduce((a, e) => a + e.wave.length, 0);
  const samples = new Uint16Array(total);
  let off = 0;
  evs.forEach((e, i) => {
    c.timestamp[i] = e.t;
    c.pid[i] = e.pid;
    c.channel[i] = e.ch;
    c.baseline[i] = e.src;
    c.event_id[i] = BigInt(e.seq);
    c.event_length[i] = e.wave.length;
    c.wave_offset[i] = BigInt(off);
    c.dt[i] = 4;
    c.time[i] = e.t / 1000n;
    samples.set(e.wave, off);
    off += e.wave.length;
  });
  return { kind: 'waveform', stream, batch: makeRecordsBatch(c), samples, ...(watermarkPs !== undefined ? { watermarkPs } : {}) };
}

/** Events of merged output batches, with their waves, in order. */
export function eventsOf(batches: WaveBatch[]): Array<Ev & { eventId: bigint; flags: number; globalOffset: bigint }> {
  const out: Array<Ev & { eventId: bigint; flags: number; globalOffset: bigint }> = [];
  for (const b of batches) {
    const c = recordColumns(b.batch);
    for (let i = 0; i < b.batch.numRows; i++) {
      const off = Number(c.wave_offset[i]);
      out.push({
        t: c.timestamp[i]!,
        pid: c.pid[i]!,
        ch: c.channel[i]!,
        wave: b.samples.subarray(off, off + c.event_length[i]!),
        src: c.baseline[i]!,
        seq: Number(c.event_id[i]),
        eventId: c.event_id[i]!,
        flags: c.flags[i]!,
        globalOffset: (b.globalSampleOffset ?? 0n) + BigInt(off),
      });
    }
  }
  return out;
}

/** Random sorted events for one input. */
export function randomInput(rng: Xorshift, src: number, n: number, opts: { maxT: number; pids: number; chans: number; maxLen: number; longEvery?: number }): Ev[] {
  const evs: Ev[] = [];
  for (let i = 0; i < n; i++) {
    const long = opts.longEvery && rng.next() < 1 / opts.longEvery;
    const len = long ? 1_000_000 : 1 + Math.floor(rng.next() * opts.maxLen);
    const wave = new Uint16Array(len);
    const base = (src * 7919 + i * 31) & 0x3fff;
    for (let s = 0; s < len; s += 97) wave[s] = (base + s) & 0x3fff;
    wave[len - 1] = i & 0xffff;
    evs.push({ t: BigInt(Math.floor(rng.next() * opts.maxT)), pid: Math.floor(rng.next() * opts.pids), ch: Math.floor(rng.next() * opts.chans), wave, src, seq: i });
  }
  evs.sort((a, b) => (a.t !== b.t ? (a.t < b.t ? -1 : 1) : a.pid !== b.pid ? a.pid - b.pid : a.ch - b.ch));
  evs.forEach((e, i) => (e.seq = i));
  return evs;
}
