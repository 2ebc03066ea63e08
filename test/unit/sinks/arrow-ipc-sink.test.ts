import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tableFromIPC } from 'apache-arrow';
import { ArrowIpcSink } from '../../../src/sinks/arrow-ipc-sink.ts';
import { makeScalarBatch, scalarSchema } from '../../../src/schema/scalar.ts';
import { tmpDir } from '../../helpers/tmp.ts';

describe('ArrowIpcSink', () => {
  it('keeps call order when many writes are in flight at once (coalesced writes)', async () => {
    const t = tmpDir();
    try {
      const sink = new ArrowIpcSink();
      await sink.open({ runId: 'r', dir: t.dir, t0UnixNs: 0n, config: {}, software: 't' });
      await sink.addStream({ name: 's', kind: 'scalar', schema: scalarSchema, lineage: { plugin: 't', version: '1', optionsHash: '', inputs: [] } });
      const writes = Array.from({ length: 300 }, (_, k) =>
        sink.write({ kind: 'scalar', stream: 's', batch: makeScalarBatch({ timestampNs: BigInt64Array.of(BigInt(k)), tag: Uint32Array.of(k), value: Float64Array.of(k * 0.5), quality: Uint8Array.of(0) }) }),
      );
      await Promise.all(writes);
      await sink.close();
      const tbl = tableFromIPC(fs.readFileSync(path.join(t.dir, 's.arrows')));
      expect(tbl.numRows).toBe(300);
      expect([...(tbl.getChild('tag')!.toArray() as Uint32Array)]).toEqual(Array.from({ length: 300 }, (_, k) => k));
      expect(sink.stats()['rows_written']).toBe(300);
    } finally {
      t.cleanup();
    }
  });

  it('a failed write rejects it and every later write', async () => {
    const t = tmpDir();
    try {
      const sink = new ArrowIpcSink();
      await sink.open({ runId: 'r', dir: t.dir, t0UnixNs: 0n, config: {}, software: 't' });
      await sink.addStream({ name: 's', kind: 'scalar', schema: scalarSchema, lineage: { plugin: 't', version: '1', optionsHash: '', inputs: [] } });
      const b = { kind: 'scalar' as const, stream: 's', batch: makeScalarBatch({ timestampNs: BigInt64Array.of(1n), tag: Uint32Array.of(0), value: Float64Array.of(1), quality: Uint8Array.of(0) }) };
      await sink.write(b);
      // Close the file handle under the sink: the next write fails with EBADF.
      await (sink as unknown as { files: Map<string, { main: { fh: { close(): Promise<void> } } }> }).files.get('s')!.main.fh.close();
      await expect(sink.write(b)).rejects.toMatchObject({ code: 'DAQ_ERR_STORAGE_IO' });
      await expect(sink.write(b)).rejects.toBeTruthy();
    } finally {
      t.cleanup();
    }
  });

  it('a continued run (the same folder opened again) writes <stream>@<k>.arrows and never overwrites an earlier session', async () => {
    const t = tmpDir();
    try {
      for (let session = 0; session < 3; session++) {
        const sink = new ArrowIpcSink();
        await sink.open({ runId: 'r', dir: t.dir, t0UnixNs: 0n, config: {}, software: 't' });
        await sink.addStream({ name: 's', kind: 'scalar', schema: scalarSchema, lineage: { plugin: 't', version: '1', optionsHash: '', inputs: [] } });
        await sink.write({ kind: 'scalar', stream: 's', batch: makeScalarBatch({ timestampNs: BigInt64Array.of(BigInt(session)), tag: Uint32Array.of(0), value: Float64Array.of(session), quality: Uint8Array.of(0) }) });
        await sink.close();
      }
      expect(fs.readdirSync(t.dir).sort()).toEqual(['s.arrows', 's@1.arrows', 's@2.arrows']);
      const values = ['s.arrows', 's@1.arrows', 's@2.arrows'].map((f) => [...(tableFromIPC(fs.readFileSync(path.join(t.dir, f))).getChild('value')!.toArray() as Float64Array)]);
      expect(values).toEqual([[0], [1], [2]]);
    } finally {
      t.cleanup();
    }
  });
});
