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
 * through the manager. An input batch is acknowledged only after its outputs are admitted, so
 * backpressure on the outputs reaches the inputs' producers.
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
  return spawn(
    parent,
    async (state: null, msg: ProcessorMsg) => {
      if (msg.type === 'batch') {
        counters.inBatches++;
        try {
          await emit(await proc.process(msg.sb));
        } catch (err) {
          counters.failures++;
          faults.record(id, 'DAQ_ERR_PROCESSOR_FAILED', err as Error);
        }
        dispatch(manager, { type: 'ack', subscriber: id, token: msg.token });
      } else {
        try {
          if (proc.flush) await emit(await proc.flush());
        } catch (err) {
          counters.failures++;
          faults.record(id, 'DAQ_ERR_PROCESSOR_FAILED', err as Error);
        }
        msg.reply();
      }
      return state;
    },
    `processor-${id}`,
    { initialState: null },
  );
}
