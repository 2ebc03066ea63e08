import { dispatch, spawn } from 'nact';
import type { Ref } from 'nact';
import type { InstrumentCounters, InstrumentMsg, InstrumentSource } from './instrument.protocol.ts';
import type { ManagerMsg } from '../manager/manager.protocol.ts';
import { backoffMs } from '../supervision.ts';
import type { FaultLog } from '../supervision.ts';
import type { StreamBatch } from '../../src/schema/batch.ts';

/** Sends a batch to the manager and resolves when it is admitted (or rejected by validation). */
export function publish(manager: Ref<ManagerMsg>, sb: StreamBatch, producer: string): Promise<Error | null> {
  return new Promise((resolve) => dispatch(manager, { type: 'publish', sb, producer, admitted: resolve }));
}

/**
 * An instrument actor: pulls batches from its source and publishes them to the manager, asking
 * for the next batch only once the previous one is admitted, so flow control reaches the source.
 * The pump runs beside the mailbox so `stop` is handled while it waits.
 */
export function spawnInstrument(
  parent: Parameters<typeof spawn>[0],
  manager: Ref<ManagerMsg>,
  source: InstrumentSource,
  faults: FaultLog,
  counters: InstrumentCounters,
) {
  const abort = new AbortController();
  let pump: Promise<void> | null = null;

  const run = async () => {
    counters.running = true;
    let failures = 0;
    while (!abort.signal.aborted) {
      try {
        for await (const sb of source.run(abort.signal)) {
          const t = performance.now();
          const err = await publish(manager, sb, source.name);
          counters.blockedMs += performance.now() - t;
          if (err) counters.rejected++;
          else {
            counters.batches++;
            counters.rows += sb.batch.numRows;
            failures = 0;
          }
        }
        break; // source ended (or stopped)
      } catch (err) {
        faults.record(source.name, 'DAQ_ERR_INSTRUMENT_FAILED', err as Error);
        if (!source.restartable || abort.signal.aborted) break;
        failures++;
        counters.restarts++;
        await new Promise((r) => setTimeout(r, backoffMs(failures)));
      }
    }
    counters.running = false;
  };

  return spawn(
    parent,
    async (state: null, msg: InstrumentMsg) => {
      if (msg.type === 'start') {
        pump ??= run();
      } else {
        abort.abort();
        await pump;
        msg.reply();
      }
      return state;
    },
    `instrument-${source.name}`,
    { initialState: null },
  );
}
