import { dispatch, spawn } from 'nact';
import type { Ref } from 'nact';
import type { Processor } from '../../src/pipeline/types.ts';
import type { StreamBatch } from '../../src/schema/batch.ts';
import type { ManagerMsg } from '../manager/manager.protocol.ts';
import type { ProcessorCounters, ProcessorMsg } from './processor.protocol.ts';
import { publish } from '../instrument/instrument.actor.ts';
import type { FaultLog } from '../supervision.ts';

/**
 * A processor actor: a lossless subscriber of its inputs that publishes derived batches back
 * through the manager. An input batch is acknowledged only after its outputs are admitted (and,
 * for a processor that holds input, once it releases the batch), so backpressure on the outputs
 * and the processor's own buffer reach the inputs' producers. Returns the actor and a function
 * that stops its tick timer.
 */
export function spawnProcessor(
  parent: Parameters<typeof spawn>[0],
  manager: Ref<ManagerMsg>,
  proc: Processor,
  id: string,
  faults: FaultLog,
  counters: ProcessorCounters,
) {
  const emit = async (outs: StreamBatch[]) => {
    for (const out of outs) {
      const err = await publish(manager, out, id);
      if (!err) counters.outBatches++;
    }
  };
  /** Runs the processor's work and publishes its outputs; false when it threw (counted). */
  const guarded = async (work: () => StreamBatch[] | Promise<StreamBatch[]>, input?: StreamBatch): Promise<boolean> => {
    let outs: StreamBatch[];
    try {
      outs = await work();
    } catch (err) {
      counters.failures++;
      // The derived stream has a gap where this input batch would have been processed.
      faults.record(id, 'DAQ_ERR_PROCESSOR_FAILED', err as Error, input ? { stream: id, reason: 'processor-failed', sb: input, detail: `input ${input.stream}: ${(err as Error).message}` } : undefined);
      return false;
    }
    await emit(outs);
    return true;
  };
  const ref = spawn(
    parent,
    async (state: null, msg: ProcessorMsg) => {
      switch (msg.type) {
        case 'batch': {
          counters.inBatches++;
          let released = false;
          const release = () => {
            if (released) return;
            released = true;
            dispatch(manager, { type: 'ack', subscriber: id, token: msg.token });
          };
          const ok = await guarded(() => proc.process(msg.sb, release), msg.sb);
          // A processor that failed on the batch, or does not hold input, is done with it now.
          if (!proc.holdsInput || !ok) release();
          break;
        }
        case 'tick':
          if (proc.tick) await guarded(() => proc.tick!(Date.now()));
          break;
        case 'flush':
          if (proc.flush) await guarded(() => proc.flush!());
          msg.reply();
          break;
      }
      return state;
    },
    `processor-${id}`,
    { initialState: null },
  );
  const timer = proc.tick ? setInterval(() => dispatch(ref, { type: 'tick' }), proc.tickMs ?? 100) : null;
  return { ref, stopTicks: () => timer && clearInterval(timer) };
}
