import { dispatch, spawn } from 'nact';
import type { Ref } from 'nact';
import type { ManagerMsg } from '../manager/manager.protocol.ts';
import type { LiveTarget, LiveViewMsg } from './live-view.protocol.ts';
import type { FaultLog } from '../supervision.ts';

/**
 * A live-view actor: a lossy subscriber of the manager. Each batch is pushed to the target and
 * acknowledged at once; when the target (or this mailbox) falls behind, the manager drops the
 * oldest pending batches for this subscriber and counts them. It never slows acquisition.
 */
export function spawnLiveView(parent: Parameters<typeof spawn>[0], manager: Ref<ManagerMsg>, target: LiveTarget, id: string, faults: FaultLog) {
  return spawn(
    parent,
    (state: null, msg: LiveViewMsg) => {
      try {
        if (msg.type === 'stream') target.addStream(msg.info);
        else target.push(msg.sb);
      } catch (err) {
        faults.record(id, 'DAQ_ERR_INTERNAL', err as Error);
      }
      if (msg.type === 'batch') dispatch(manager, { type: 'ack', subscriber: id, token: msg.token });
      return state;
    },
    `live-${id}`,
    { initialState: null },
  );
}
