import type { WaveBatch } from '../schema/batch.ts';
import { allocRecordColumns, makeRecordsBatch } from '../schema/waveform.ts';
import type { RecordColumns } from '../schema/waveform.ts';

interface Run {
  cols: RecordColumns;
  samples: Uint16Array;
  from: number;
  to: number;
  flags: number;
}

/**
 * Collects runs of input rows in output order and assembles them into output WaveBatches: one
 * allocation per column and one for the samples, runs copied with TypedArray.set, `event_id`
 * numbered in output order, `wave_offset` rewritten to positions in the new sample slice and
 * `globalSampleOffset` tracking the run-wide wave pool.
 */
export class WaveOutputBuilder {
  private runs: Run[] = [];
  private nextEventId = 0n;
  private nextSample = 0n;

  constructor(
    private readonly stream: string,
    private readonly maxRows: number,
  ) {}

  append(cols: RecordColumns, samples: Uint16Array, from: number, to: number, flags: number): void {
    if (to > from) this.runs.push({ cols, samples, from, to, flags });
  }

  take(): WaveBatch[] {
    const out: WaveBatch[] = [];
    let part: Run[] = [];
    let rows = 0;
    for (const run of this.runs) {
      let r = run;
      while (r.to > r.from) {
        const take = Math.min(r.to - r.from, this.maxRows - rows);
        part.push({ ...r, to: r.from + take });
        rows += take;
        r = { ...r, from: r.from + take };
        if (rows === this.maxRows) {
          out.push(this.build(part, rows));
          part = [];
          rows = 0;
        }
      }
    }
    if (rows > 0) out.push(this.build(part, rows));
    this.runs = [];
    return out;
  }

  private build(part: Run[], n: number): WaveBatch {
    const c = allocRecordColumns(n);
    let total = 0;
    for (const r of part) for (let i = r.from; i < r.to; i++) total += r.cols.event_length[i]!;
    const samples = new Uint16Array(total);
    let row = 0;
    let off = 0;
    for (const r of part) {
      const len = r.to - r.from;
      c.timestamp.set(r.cols.timestamp.subarray(r.from, r.to), row);
      c.pid.set(r.cols.pid.subarray(r.from, r.to), row);
      c.channel.set(r.cols.channel.subarray(r.from, r.to), row);
      c.baseline.set(r.cols.baseline.subarray(r.from, r.to), row);
      c.dt.set(r.cols.dt.subarray(r.from, r.to), row);
      c.trigger_type.set(r.cols.trigger_type.subarray(r.from, r.to), row);
      c.flags.set(r.cols.flags.subarray(r.from, r.to), row);
      c.event_length.set(r.cols.event_length.subarray(r.from, r.to), row);
      c.time.set(r.cols.time.subarray(r.from, r.to), row);
      // Samples: one copy for a contiguous run, else one per event.
      const srcOff = r.cols.wave_offset;
      const lens = r.cols.event_length;
      let contiguous = true;
      for (let i = r.from; i + 1 < r.to; i++) {
        if (srcOff[i + 1] !== srcOff[i]! + BigInt(lens[i]!)) {
          contiguous = false;
          break;
        }
      }
      if (contiguous) {
        const s0 = Number(srcOff[r.from]);
        const last = r.to - 1;
        const s1 = Number(srcOff[last]) + lens[last]!;
        samples.set(r.samples.subarray(s0, s1), off);
        for (let i = r.from; i < r.to; i++) {
          c.wave_offset[row + i - r.from] = BigInt(off + Number(srcOff[i]) - s0);
        }
        off += s1 - s0;
      } else {
        for (let i = r.from; i < r.to; i++) {
          const s0 = Number(srcOff[i]);
          samples.set(r.samples.subarray(s0, s0 + lens[i]!), off);
          c.wave_offset[row + i - r.from] = BigInt(off);
          off += lens[i]!;
        }
      }
      if (r.flags) for (let i = row; i < row + len; i++) c.flags[i]! |= r.flags;
      row += len;
    }
    for (let i = 0; i < n; i++) c.event_id[i] = this.nextEventId++;
    const globalSampleOffset = this.nextSample;
    this.nextSample += BigInt(total);
    return { kind: 'waveform', stream: this.stream, batch: makeRecordsBatch(c), samples, globalSampleOffset };
  }
}
