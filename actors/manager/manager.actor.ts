import { spawn } from 'nact';
import { Fanout } from '../../src/pipeline/fanout.ts';
import { validateBatch } from '../../src/schema/validate.ts';
import { isDaqError } from '../../src/errors.ts';
import type { ManagerMsg } from './manager.protocol.ts';
import type { FaultLog } from '../supervision.ts';

/** Counters the manager keeps besides the fan-out's own. */
export interface ManagerCounters {
  rejectedBatches: Map<string, number>;
  rejectedRows: Map<string, number>;
}

/**
 * The manager: registry of streams and subscribers, schema check of every published batch,
 * fan-out by reference and flow control (see {@link Fanout}). The Fanout and counters are owned
 * by this actor; the daemon reads them (same thread) only for status.
 */
export function spawnManager(parent: Parameters<typeof spawn>[0], fanout: Fanout, counters: ManagerCounters, faults: FaultLog) {
  const drainWaiters: Array<() => void> = [];
  const checkDrained = () => {
    if (fanout.losslessInflight === 0) for (const w of drainWaiters.splice(0)) w();
  };
  return spawn(
    parent,
    (state: null, msg: ManagerMsg) => {
      switch (msg.type) {
        case 'register-stream':
          try {
            fanout.registerStream(msg.info);
            msg.reply(null);
          } catch (err) {
            msg.reply(err as Error);
          }
          break;
        case 'subscribe':
          msg.reply(fanout.subscribe(msg.spec));
          break;
        case 'unsubscribe':
          fanout.unsubscribe(msg.id);
          checkDrained();
          break;
        case 'publish': {
          const info = fanout.streamInfo(msg.sb.stream);
          try {
            if (!info) fanout.publish(msg.sb); // throws the unknown-stream error
            else validateBatch(info, msg.sb);
          } catch (err) {
            const key = msg.sb.stream;
            counters.rejectedBatches.set(key, (counters.rejectedBatches.get(key) ?? 0) + 1);
            counters.rejectedRows.set(key, (counters.rejectedRows.get(key) ?? 0) + msg.sb.batch.numRows);
            faults.record(msg.producer, isDaqError(err) ? err.code : 'DAQ_ERR_BATCH_INVALID', err as Error, { stream: key, reason: 'rejected-batch', sb: msg.sb });
            msg.admitted(err as Error);
            break;
          }
          if (fanout.publish(msg.sb)) msg.admitted(null);
          else fanout.whenWritable(msg.sb.stream, () => msg.admitted(null));
          break;
        }
        case 'ack':
          fanout.ack(msg.subscriber, msg.token);
          checkDrained();
          break;
        case 'when-drained':
          drainWaiters.push(msg.reply);
          checkDrained();
          break;
      }
      return state;
    },
    'manager',
    {
      initialState: null,
      onCrash: (_msg, err, ctx) => {
        faults.record('manager', 'DAQ_ERR_INTERNAL', err ?? new Error('unknown fault'));
        return ctx.resume;
      },
    },
  );
}
