import { afterEach, describe, expect, it } from 'vitest';
import { WalWriter, realIo } from '../../../src/storage/wal/wal-writer.ts';
import type { WalIo } from '../../../src/storage/wal/wal-writer.ts';
import { walSegments } from '../../../src/storage/wal/wal-reader.ts';
import { tmpDir } from '../../helpers/tmp.ts';

let cleanup: (() => void) | null = null;
afterEach(() => cleanup?.());

describe('WAL directory fsync', () => {
  it('a record in a new segment file is acknowledged only after the directory is fsynced', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    let release!: () => void;
    let gate = new Promise<void>((r) => (release = r));
    const dirSyncs: string[] = [];
    const io: WalIo = { ...realIo, syncDir: async (d) => { dirSyncs.push(d); await gate; await realIo.syncDir(d); } };
    const w = new WalWriter(t.dir, { io, groupCommitMs: 1, segmentBytes: 4096 });
    let acked = false;
    const first = w.append(2, [new Uint8Array(100)]).then(() => (acked = true));
    while (dirSyncs.length === 0) await new Promise((r) => setTimeout(r, 5)); // the commit reached the directory fsync
    await new Promise((r) => setTimeout(r, 20));
    expect(dirSyncs).toEqual([t.dir]);
    expect(acked).toBe(false); // written and fdatasynced, but the new file's name is not durable yet
    release();
    await first;
    // Records that fill the segment and spill into new files: one directory fsync per new file.
    gate = Promise.resolve();
    for (let i = 0; i < 12; i++) await w.append(2, [new Uint8Array(1000)]);
    await w.close();
    expect(dirSyncs.length).toBe(walSegments(t.dir).length);
    expect(dirSyncs.length).toBeGreaterThan(2);
  });

  it('durability "none" never fsyncs the directory', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    let dirSyncs = 0;
    const io: WalIo = { ...realIo, syncDir: async () => void dirSyncs++ };
    const w = new WalWriter(t.dir, { io, durability: 'none', segmentBytes: 4096 });
    for (let i = 0; i < 12; i++) await w.append(2, [new Uint8Array(1000)]);
    await w.close();
    expect(walSegments(t.dir).length).toBeGreaterThan(2);
    expect(dirSyncs).toBe(0);
  });

  it('syncNow makes a checkpoint durable even in durability "none"', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    let datasyncs = 0;
    let dirSyncs = 0;
    const io: WalIo = { ...realIo, datasync: async (fh) => { datasyncs++; await fh.datasync(); }, syncDir: async () => void dirSyncs++ };
    const w = new WalWriter(t.dir, { io, durability: 'none' });
    await w.append(2, [new Uint8Array(100)]);
    expect(datasyncs).toBe(0);
    void w.append(3, [new Uint8Array(10)]);
    await w.syncNow();
    expect(datasyncs).toBe(1);
    expect(dirSyncs).toBe(1);
    await w.close();
  });
});
