import { dispatch, spawn } from 'nact';
import type { Ref } from 'nact';
import type { Sink } from '../../src/pipeline/types.ts';
import type { SinkMsg } from './sink.protocol.ts';
import type { ManagerMsg } from '../manager/manager.protocol.ts';
import type { AckCounter } from './ack-counter.ts';

/**
 * A lossless sink actor. Batches are handed to `sink.write` in mailbox order without waiting for
 * the previous write to finish, so a WAL can cover many of them with one fsync (group commit);
 * each is acknowledged to the manager when its own write resolves. A failed write is fatal:
 * nothing after it is acknowledged and `onFatal` is told (the daemon stops, exit non-zero).
 */
export function spawnSink(
  parent: Parameters<typeof spawn>[0],
  manager: Ref<ManagerMsg>,
  sink: Sink,
  id: string,
  onFatal: (err: Error) => void,
  acked: AckCounter,
) {
  let failed: Error | null = null;
  return spawn(
    parent,
    async (state: null, msg: SinkMsg) => {
      switch (msg.type) {
        case 'stream':
          if (!failed) {
            try {
              await sink.addStream(msg.info);
            } catch (err) {
              failed = err as Error;
              onFatal(failed);
            }
          }
          break;
        case 'batch':
          if (failed) break;
          sink.write(msg.sb).then(
            () => {
              if (failed) return;
              acked.add(msg.sb.stream, msg.sb.batch.numRows);
              dispatch(manager, { type: 'ack', subscriber: id, token: msg.token });
            },
            (err: Error) => {
              if (!failed) {
                failed = err;
                onFatal(err);
              }
            },
          );
          break;
        case 'close':
          try {
            await sink.close();
            msg.reply(failed);
          } catch (err) {
            msg.reply((failed ??= err as Error));
          }
          break;
      }
      return state;
    },
    `sink-${id}`,
    { initialState: null },
  );
}
