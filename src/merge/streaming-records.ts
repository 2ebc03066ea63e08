import { recordsSchema } from '../schema/waveform.ts';
import type { StreamBatch, StreamInfo, WaveBatch } from '../schema/batch.ts';
import type { Processor } from '../pipeline/types.ts';
import { DaqError } from '../errors.ts';
import { optionsHash } from '../util/hash.ts';
import { StreamingMerge } from './streaming-merge.ts';
import type { LatePolicy, LossRecord, StreamingMergeOptions } from './streaming-merge.ts';

export interface StreamingRecordsOptions {
  /** Waveform streams to merge. */
  inputs: string[];
  /** Output stream name (default "records"). */
  output?: string;
  silenceTimeoutMs?: number;
  latePolicy?: LatePolicy;
  maxBufferedBytes?: number;
}

export const STREAMING_RECORDS_VERSION = '1.0.0';

/**
 * The streaming-records processor: merges waveform streams into one globally ordered `records`
 * stream (see {@link StreamingMerge}). It holds input batches until their events are emitted, so
 * the manager's flow control for this subscriber bounds its memory; a tick every 100 ms applies
 * the silence timeout even when no batch arrives (silence counts only while other inputs push).
 */
export class StreamingRecords implements Processor {
  readonly name: string;
  readonly inputs: string[];
  readonly holdsInput = true;
  readonly tickMs = 100;
  private readonly merge: StreamingMerge;
  private readonly output: string;

  constructor(
    private readonly opts: StreamingRecordsOptions,
    now?: () => number,
  ) {
    this.output = opts.output ?? 'records';
    this.name = `merge-${this.output}`;
    this.inputs = [...opts.inputs];
    const mo: StreamingMergeOptions = { output: this.output };
    if (opts.silenceTimeoutMs !== undefined) mo.silenceTimeoutMs = opts.silenceTimeoutMs;
    if (opts.latePolicy !== undefined) mo.latePolicy = opts.latePolicy;
    if (opts.maxBufferedBytes !== undefined) mo.maxBufferedBytes = opts.maxBufferedBytes;
    if (now) mo.now = now;
    this.merge = new StreamingMerge(mo);
    for (const i of this.inputs) this.merge.addInput(i);
  }

  outputs(inputs: StreamInfo[]): StreamInfo[] {
    for (const i of inputs) {
      if (i.kind !== 'waveform') {
        throw new DaqError('DAQ_ERR_CONFIG_INVALID', `merge input "${i.name}" is a ${i.kind} stream; only waveform streams can be merged`, {
          details: { field: 'merge.inputs', stream: i.name },
        });
      }
    }
    const channels = [...new Set(inputs.flatMap((i) => i.channels ?? []))].sort((a, b) => a - b);
    const info: StreamInfo = {
      name: this.output,
      kind: 'waveform',
      schema: recordsSchema,
      channels,
      lineage: { plugin: 'streaming-records', version: STREAMING_RECORDS_VERSION, optionsHash: optionsHash(this.opts), inputs: [...this.inputs] },
    };
    const dt = inputs[0]?.dtNs;
    if (dt !== undefined) info.dtNs = dt;
    return [info];
  }

  process(sb: StreamBatch, release: () => void): StreamBatch[] {
    this.merge.push(sb.stream, sb as WaveBatch, release);
    this.merge.tick();
    return this.merge.drain();
  }

  tick(): StreamBatch[] {
    this.merge.tick();
    return this.merge.drain();
  }

  flush(): StreamBatch[] {
    return this.merge.finish();
  }

  /** Data the merge dropped (late events under policy "reject"). */
  get losses(): LossRecord[] {
    return this.merge.losses;
  }

  stats(): Record<string, number> {
    const s = this.merge.stats();
    const out: Record<string, number> = { emitted_events: s.emitted_events, emitted_samples: s.emitted_samples, buffered_bytes: s.buffered_bytes };
    for (const [id, i] of Object.entries(s.inputs)) {
      out[`late_events.${id}`] = i.late_events;
      out[`timeouts.${id}`] = i.timeouts;
      out[`buffered_events.${id}`] = i.buffered_events;
    }
    return out;
  }
}
