import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WalWriter, realIo } from '../../../src/storage/wal/wal-writer.ts';
import type { WalIo } from '../../../src/storage/wal/wal-writer.ts';
import { scanWal, walSegments } from '../../../src/storage/wal/wal-reader.ts';
import { isDaqError } from '../../../src/errors.ts';
import { tmpDir } from '../../helpers/tmp.ts';

let cleanup: (() => void) | null = null;
afterEach(() => cleanup?.());

function payload(i: number, size = 100): Uint8Array {
  const b = new Uint8Array(size);
  for (let k = 0; k < size; k++) b[k] = (i * 31 + k) & 0xff;
  return b;
}

async function writeRecords(dir: string, n: number, opts: ConstructorParameters<typeof WalWriter>[1] = {}, size = 100): Promise<WalWriter> {
  const w = new WalWriter(dir, opts);
  await Promise.all(Array.from({ length: n }, (_, i) => w.append(2, [payload(i, size)])));
  return w;
}

describe('WAL framing and group commit', () => {
  it('round-trips records across segments, in order, with sequence numbers', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const w = await writeRecords(t.dir, 200, { segmentBytes: 4096 });
    await w.close();
    expect(walSegments(t.dir).length).toBeGreaterThan(3);
    const scan = scanWal(t.dir);
    expect(scan.records.length).toBe(200);
    scan.records.forEach((r, i) => {
      expect(r.seq).toBe(BigInt(i + 1));
      expect(Buffer.compare(r.payload, Buffer.from(payload(i)))).toBe(0);
    });
    expect(scan.corruption).toBeNull();
    expect(scan.nextSeq).toBe(201n);
  });

  it('covers many concurrent appends with few fsyncs, and acknowledges none before its fsync', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    let release!: () => void;
    let syncs = 0;
    const gate = new Promise<void>((r) => (release = r));
    const io: WalIo = { ...realIo, datasync: async (fh) => { syncs++; await gate; await fh.datasync(); } };
    const w = new WalWriter(t.dir, { io, groupCommitMs: 1 });
    let acked = 0;
    const ps = Array.from({ length: 500 }, (_, i) => w.append(2, [payload(i)]).then(() => acked++));
    // Under load the first fsync may start late: wait for it, then give a second one time to
    // (wrongly) start.
    await vi.waitFor(() => expect(syncs).toBeGreaterThan(0), { timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 50));
    expect(acked).toBe(0); // written, but the fsync has not returned
    expect(syncs).toBe(1); // one fsync in flight at a time
    release();
    await Promise.all(ps);
    expect(acked).toBe(500);
    expect(w.fsyncs).toBeLessThanOrEqual(3);
    await w.close();
  });

  it('keeps every record when appends roll segments while a group commit is in flight', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    // Slow fsyncs: records keep arriving (and rolling segments) during each commit.
    const io: WalIo = { ...realIo, datasync: async (fh) => { await new Promise((r) => setTimeout(r, 5)); await fh.datasync(); } };
    const w = new WalWriter(t.dir, { io, segmentBytes: 8192, groupCommitMs: 0 });
    const acks: Promise<bigint>[] = [];
    for (let i = 0; i < 400; i++) {
      acks.push(w.append(2, [payload(i, 500)]));
      if (i % 7 === 0) await new Promise((r) => setImmediate(r));
    }
    await Promise.all(acks);
    await w.close();
    const scan = scanWal(t.dir);
    expect(scan.corruption).toBeNull();
    expect(scan.records.length).toBe(400);
    scan.records.forEach((r, i) => expect(Buffer.compare(r.payload, Buffer.from(payload(i, 500)))).toBe(0));
  });

  it('durability "none" acknowledges without fsync', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const w = await writeRecords(t.dir, 50, { durability: 'none' });
    expect(w.fsyncs).toBe(0);
    await w.close();
    expect(scanWal(t.dir).records.length).toBe(50);
  });
});

describe('WAL recovery', () => {
  it('a tail cut at every byte of the last record yields exactly the records before it', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const src = path.join(t.dir, 'src');
    fs.mkdirSync(src);
    const w = await writeRecords(src, 5, {}, 37);
    await w.close();
    const file = walSegments(src)[0]!.file;
    const full = fs.readFileSync(file);
    const lastStart = full.length - 72; // 32-byte header + 37 bytes + 3 padding
    const lastEnd = lastStart + 32 + 37;
    for (let cut = lastStart; cut < full.length; cut++) {
      if (cut >= lastEnd) {
        // Only padding is missing: the record itself is whole and kept.
        const d = path.join(t.dir, `pad${cut}`);
        fs.mkdirSync(d);
        fs.writeFileSync(path.join(d, path.basename(file)), full.subarray(0, cut));
        expect(scanWal(d).records.length).toBe(5);
        continue;
      }
      const d = path.join(t.dir, `cut${cut}`);
      fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, path.basename(file)), full.subarray(0, cut));
      const scan = scanWal(d);
      expect(scan.records.length, `cut at ${cut}`).toBe(4);
      expect(scan.corruption).toBeNull();
      expect(scan.nextSeq).toBe(5n);
      // The torn bytes are gone, so a second scan is clean.
      expect(fs.statSync(path.join(d, path.basename(file))).size).toBe(lastStart);
    }
  });

  it('a torn tail followed by preallocated zeros is cut too', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const w = await writeRecords(t.dir, 3);
    await w.close();
    const file = walSegments(t.dir)[0]!.file;
    const buf = fs.readFileSync(file);
    const torn = Buffer.concat([buf.subarray(0, buf.length - 50), Buffer.alloc(4096)]);
    fs.writeFileSync(file, torn);
    const scan = scanWal(t.dir);
    expect(scan.records.length).toBe(2);
    expect(scan.truncated).not.toBeNull();
  });

  it('a bit flip in a closed segment is detected, reported with file and offset, and replay stops there', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const w = await writeRecords(t.dir, 100, { segmentBytes: 2048 });
    await w.close();
    const segs = walSegments(t.dir);
    expect(segs.length).toBeGreaterThan(3);
    const victim = segs[1]!.file;
    const buf = fs.readFileSync(victim);
    buf[32 + 10]! ^= 0x04; // inside the first record's payload
    fs.writeFileSync(victim, buf);
    const scan = scanWal(t.dir);
    expect(scan.corruption).not.toBeNull();
    expect(isDaqError(scan.corruption, 'DAQ_ERR_WAL_CORRUPTED')).toBe(true);
    expect(scan.corruption!.message).toContain(`${victim} at byte 0`);
    expect(scan.corruption!.details).toMatchObject({ file: victim, offset: 0 });
    // Only the records of the first segment were replayed; the rest was moved aside, not skipped.
    expect(scan.records.every((r) => r.segId === segs[0]!.id)).toBe(true);
    expect(scan.movedAside.length).toBe(segs.length - 1);
    expect(fs.existsSync(`${victim}.corrupt`)).toBe(true);
    expect(walSegments(t.dir).length).toBe(1);
  });

  it('a record whose bytes are valid but out of sequence is corruption, not skipped', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const w = await writeRecords(t.dir, 6);
    await w.close();
    const file = walSegments(t.dir)[0]!.file;
    const buf = fs.readFileSync(file);
    const rec = 136; // 32 + 100 -> 136 bytes per record
    // Duplicate record 2 over record 3: framing and CRC valid, sequence wrong.
    buf.copy(buf, 3 * rec, 2 * rec, 3 * rec);
    fs.writeFileSync(file, buf);
    const scan = scanWal(t.dir);
    expect(scan.records.length).toBe(3);
    expect(scan.corruption?.message).toMatch(/sequence 3 where 4 was expected/);
  });
});

describe('WAL I/O faults', () => {
  for (const where of ['write', 'fsync'] as const) {
    for (const code of ['ENOSPC', 'EIO'] as const) {
      it(`${code} on ${where}: appends reject with DAQ_ERR_WAL_POISONED, acknowledged records survive`, async () => {
        const t = tmpDir();
        cleanup = t.cleanup;
        let fail = false;
        const err = () => Object.assign(new Error(`${code}: injected`), { code });
        const io: WalIo = {
          ...realIo,
          writev: async (fh, bufs, pos) => {
            if (fail && where === 'write') throw err();
            return realIo.writev(fh, bufs, pos);
          },
          datasync: async (fh) => {
            if (fail && where === 'fsync') throw err();
            return realIo.datasync(fh);
          },
        };
        const w = new WalWriter(t.dir, { io });
        const acked = await Promise.all(Array.from({ length: 20 }, (_, i) => w.append(2, [payload(i)])));
        expect(acked.length).toBe(20);
        fail = true;
        const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => w.append(2, [payload(100 + i)])));
        expect(results.every((r) => r.status === 'rejected')).toBe(true);
        const reason = (results[0] as PromiseRejectedResult).reason as Error & { code: string };
        expect(reason.code).toBe('DAQ_ERR_WAL_POISONED');
        expect(reason.message).toContain(code);
        // Never retried: later appends fail at once.
        fail = false;
        await expect(w.append(2, [payload(999)])).rejects.toMatchObject({ code: 'DAQ_ERR_WAL_POISONED' });
        await w.close().catch(() => undefined);
        const scan = scanWal(t.dir);
        expect(scan.records.length).toBeGreaterThanOrEqual(20);
        scan.records.slice(0, 20).forEach((r, i) => expect(Buffer.compare(r.payload, Buffer.from(payload(i)))).toBe(0));
      });
    }
  }
});

describe('WAL side files (waveform pools)', () => {
  it('writes side bytes at their position and fdatasyncs them before the record that refers to them is written', async () => {
    const t = tmpDir();
    cleanup = t.cleanup;
    const order: string[] = [];
    const names = new Map<unknown, string>();
    const io: WalIo = {
      ...realIo,
      open: async (file, flags) => {
        const fh = await realIo.open(file, flags);
        names.set(fh, path.basename(file));
        return fh;
      },
      writev: async (fh, bufs, pos) => {
        order.push(`write ${names.get(fh)}`);
        return realIo.writev(fh, bufs, pos);
      },
      datasync: async (fh) => {
        order.push(`sync ${names.get(fh)}`);
        return realIo.datasync(fh);
      },
    };
    const w = new WalWriter(path.join(t.dir, 'wal'), { io });
    fs.mkdirSync(path.join(t.dir, 'wal'));
    const side = path.join(t.dir, 'pool.bin');
    await Promise.all([w.append(2, [payload(1)], { file: side, position: 4096, data: payload(7, 1000) }), w.append(2, [payload(2)], { file: side, position: 5096, data: payload(8, 24) })]);
    const got = fs.readFileSync(side);
    expect(got.length).toBe(5120);
    expect(Buffer.compare(got.subarray(4096, 5096), Buffer.from(payload(7, 1000)))).toBe(0);
    expect(Buffer.compare(got.subarray(5096), Buffer.from(payload(8, 24)))).toBe(0);
    const walWrite = order.findIndex((o) => o.startsWith('write wal-'));
    expect(order.indexOf('sync pool.bin')).toBeGreaterThanOrEqual(0);
    expect(order.indexOf('sync pool.bin')).toBeLessThan(walWrite);
    expect(w.sideBytesWritten).toBe(1024);
    await w.closeSide(side);
    // After closeSide nothing holds it open; a record appended later may not name it again.
    await w.close();
    expect(scanWal(path.join(t.dir, 'wal')).records.length).toBe(2);
  });

  for (const where of ['write', 'fsync'] as const) {
    for (const code of ['ENOSPC', 'EIO'] as const) {
      it(`${code} on a side file's ${where}: poisoned, the error names the side file, earlier records stay`, async () => {
        const t = tmpDir();
        cleanup = t.cleanup;
        const side = path.join(t.dir, 'pool.bin');
        let fail = false;
        const sideFhs = new Set<unknown>();
        const err = () => Object.assign(new Error(`${code}: injected`), { code });
        const io: WalIo = {
          ...realIo,
          open: async (file, flags) => {
            const fh = await realIo.open(file, flags);
            if (file === side) sideFhs.add(fh);
            return fh;
          },
          writev: async (fh, bufs, pos) => {
            if (fail && where === 'write' && sideFhs.has(fh)) throw err();
            return realIo.writev(fh, bufs, pos);
          },
          datasync: async (fh) => {
            if (fail && where === 'fsync' && sideFhs.has(fh)) throw err();
            return realIo.datasync(fh);
          },
        };
        fs.mkdirSync(path.join(t.dir, 'wal'));
        const w = new WalWriter(path.join(t.dir, 'wal'), { io });
        await w.append(2, [payload(0)], { file: side, position: 0, data: payload(0, 64) });
        fail = true;
        const r = await Promise.allSettled([w.append(2, [payload(1)], { file: side, position: 64, data: payload(1, 64) }), w.append(2, [payload(2)])]);
        expect(r.map((x) => x.status)).toEqual(['rejected', 'rejected']);
        const reason = (r[0] as PromiseRejectedResult).reason as Error & { code: string };
        expect(reason.code).toBe('DAQ_ERR_WAL_POISONED');
        expect(reason.message).toContain(side);
        expect(reason.message).toContain(code);
        await w.close().catch(() => undefined);
        // The record whose side bytes failed never reached the WAL.
        expect(scanWal(path.join(t.dir, 'wal')).records.length).toBe(1);
      });
    }
  }
});
