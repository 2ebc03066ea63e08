import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadNativeKernel, NATIVE_ADDON, NATIVE_STAMP, nativeKernel, nativeSourceHash } from '../../../src/merge/native-kernel.ts';
import { StreamingMerge } from '../../../src/merge/streaming-merge.ts';
import { allocRecordColumns } from '../../../src/schema/waveform.ts';
import { isDaqError } from '../../../src/errors.ts';
import { eventsOf, waveBatch } from '../../helpers/waves.ts';
import { reference } from '../../helpers/merge.ts';
import { makeRecordsBatch, recordColumns } from '../../../src/schema/waveform.ts';
import type { WaveBatch } from '../../../src/schema/batch.ts';
import type { Ev } from '../../helpers/waves.ts';

/** A deep copy of an output batch (its buffers its own). */
function copyOf(b: WaveBatch): WaveBatch {
  const c = recordColumns(b.batch);
  const copy = Object.fromEntries(Object.entries(c).map(([k, v]) => [k, v.slice()])) as unknown as typeof c;
  return { ...b, batch: makeRecordsBatch(copy), samples: b.samples.slice() };
}

/** The batches hold exactly the stable merge of the inputs: order, ids, contiguous offsets, samples. */
function expectMerged(out: WaveBatch[], ins: Ev[][]): void {
  const got = eventsOf(out);
  const want = reference(ins);
  expect(got.length).toBe(want.length);
  let off = 0n;
  got.forEach((e, i) => {
    const w = want[i]!;
    expect([e.t, e.ch, e.eventId, e.globalOffset]).toEqual([w.t, w.ch, BigInt(i), off]);
    expect(Array.from(e.wave)).toEqual(Array.from(w.wave));
    off += BigInt(e.wave.length);
  });
}

const ROOT = path.resolve(import.meta.dirname, '../../..');
const BUILD = path.join(ROOT, 'scripts/build-native.mjs');

function tmp(): string {
  return mkdtempSync(path.join(tmpdir(), 'native-kernel-'));
}

describe('native merge kernel: build and load', () => {
  it('is built and loads here (npm ci and pretest build it)', () => {
    expect(nativeKernel().why).toBe('loaded');
    expect(new StreamingMerge({ output: 'r', kernel: 'native' }).path).toBe('native');
  });

  it('is not loaded, and says why, when missing, unstamped, built from other sources, not an addon, or turned off', () => {
    const dir = tmp();
    try {
      const file = path.join(dir, 'merge-kernel.node');
      const stamp = path.join(dir, 'merge-kernel.json');
      expect(loadNativeKernel(file, stamp).why).toMatch(/is not built \(npm run build:native/);
      copyFileSync(NATIVE_ADDON, file);
      expect(loadNativeKernel(file, stamp).why).toMatch(/has no build stamp/);
      writeFileSync(stamp, JSON.stringify({ source: '0'.repeat(40) }));
      expect(loadNativeKernel(file, stamp).why).toMatch(/built from another version of src\/merge\/native/);
      writeFileSync(stamp, JSON.stringify({ source: nativeSourceHash() }));
      expect(loadNativeKernel(file, stamp).why).toBe('loaded');
      expect(loadNativeKernel(file, stamp, { DAQ_MERGE_NATIVE: '0' }).why).toBe('DAQ_MERGE_NATIVE=0');
      const junk = path.join(dir, 'junk.node');
      writeFileSync(junk, 'not a shared object');
      expect(loadNativeKernel(junk, stamp).why).toMatch(/junk\.node does not load/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('without it, auto takes the WebAssembly kernel and kernel "native" names why', () => {
    const probe = (env: NodeJS.ProcessEnv) => execFileSync(process.execPath, ['bin/run-ts.js', 'test/fixtures/merge-kernel-probe.ts'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env } });
    const off = probe({ DAQ_MERGE_NATIVE: '0' });
    expect(off).toContain('auto: wasm');
    expect(off).toContain('DAQ_ERR_USAGE merge kernel "native" asked for, but DAQ_MERGE_NATIVE=0');
    const on = probe({});
    expect(on).toContain('auto: native');
    expect(on).toContain('native: native');
  });

  it('the build script stamps the addon with the hash the loader checks, and skips a build that is current', () => {
    const dir = tmp();
    try {
      const env = { ...process.env, DAQ_NATIVE_OUT: dir };
      const first = spawnSync(process.execPath, [BUILD, '--require'], { encoding: 'utf8', env });
      expect(first.status, first.stderr).toBe(0);
      expect(first.stderr).toMatch(/build-native: built .*merge-kernel\.node/);
      const stamp = JSON.parse(readFileSync(path.join(dir, 'merge-kernel.json'), 'utf8')) as { source: string };
      expect(stamp.source).toBe(nativeSourceHash());
      expect(loadNativeKernel(path.join(dir, 'merge-kernel.node'), path.join(dir, 'merge-kernel.json')).why).toBe('loaded');
      const again = spawnSync(process.execPath, [BUILD, '--require'], { encoding: 'utf8', env });
      expect(again.status).toBe(0);
      expect(again.stderr).toBe(''); // current: nothing built
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the build script without a C compiler: a message and exit 0 at install, exit 1 with --require; no addon left', () => {
    const dir = tmp();
    try {
      const env = { ...process.env, DAQ_NATIVE_OUT: dir, CC: path.join(dir, 'no-such-cc') };
      const lax = spawnSync(process.execPath, [BUILD], { encoding: 'utf8', env });
      expect(lax.status).toBe(0);
      expect(lax.stderr).toContain(`no C compiler (${env.CC}); the merge will use its WebAssembly kernel`);
      const strict = spawnSync(process.execPath, [BUILD, '--require'], { encoding: 'utf8', env });
      expect(strict.status).toBe(1);
      expect(strict.stderr).toContain('apt-get install gcc');
      expect(existsSync(path.join(dir, 'merge-kernel.node'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the package builds it at install (prepare) and before the tests', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['prepare']).toBe('node scripts/build-native.mjs');
    expect(pkg.scripts['pretest']).toContain('node scripts/build-native.mjs --require');
    expect(existsSync(NATIVE_STAMP)).toBe(true);
  });
});

describe('native merge kernel: what it refuses', () => {
  it('an input batch whose arrays were transferred away while the merge held it: an error, not a crash', () => {
    const evs = Array.from({ length: 50 }, (_, i) => ({ t: BigInt(i * 10), pid: 0, ch: 0, wave: Uint16Array.of(i, 1, 2), src: 0, seq: i }));
    const m = new StreamingMerge({ output: 'r', kernel: 'native', silenceTimeoutMs: 1e12 });
    m.addInput('a');
    m.addInput('b'); // silent: holds a's batch in the merge
    const wb = waveBatch('a', evs);
    m.push('a', wb);
    structuredClone(wb.samples.buffer, { transfer: [wb.samples.buffer as ArrayBuffer] }); // detaches it here
    m.end('b');
    try {
      m.drain();
      expect.unreachable();
    } catch (e) {
      expect(isDaqError(e) && e.code).toBe('DAQ_ERR_BATCH_INVALID');
      expect((e as Error).message).toMatch(/lost its arrays \(transferred or detached\)/);
    }
  });

  const addon = () => nativeKernel().addon!;
  function cols(n: number) {
    const c = allocRecordColumns(n);
    return [c.timestamp, c.time, c.wave_offset, c.baseline, c.pid, c.dt, c.flags, c.event_length, c.channel, c.trigger_type] as ArrayBufferView[];
  }

  it('a column of the wrong type or length, named', () => {
    const good = cols(4);
    expect(() => addon().describe(...good, new Uint16Array(8))).not.toThrow();
    const wrongType = [...good];
    wrongType[1] = new Float64Array(4); // time
    expect(() => addon().describe(...wrongType, new Uint16Array(8))).toThrow(new TypeError('time'));
    const wrongLength = [...good];
    wrongLength[7] = new Int32Array(3); // event_length
    expect(() => addon().describe(...wrongLength, new Uint16Array(8))).toThrow(new RangeError('event_length'));
    expect(() => addon().describe(...good, new Int16Array(8))).toThrow(new TypeError('samples'));
  });

  it('slots and rows outside what it was given', () => {
    const a = addon();
    const [h] = a.create(16, 1024, new ArrayBuffer(16 * 60), new ArrayBuffer(1024 * 2 + 128), 1024);
    const desc = a.describe(...cols(4), new Uint16Array(8));
    a.setSlots(h, 2);
    expect(() => a.setSlot(h, 2, desc, 0, 4)).toThrow(/no such slot/);
    expect(() => a.setSlot(h, 0, desc, 0, 5)).toThrow(/rows out of the batch/);
    expect(() => a.setSlot(h, 0, desc, 3, 2)).toThrow(/rows out of the batch/);
    expect(() => a.append(h, desc, 2, 3, 0)).toThrow(/rows out of the batch/);
    expect(() => a.setSlot(h, 0, new ArrayBuffer(8), 0, 1)).toThrow(/not a batch descriptor/);
    expect(() => a.run({})).toThrow(/not a kernel handle/);
    expect(() => a.setSlots(h, 4097)).toThrow(/slot count out of range/);
  });

  it('an output area too small, misaligned or not ArrayBuffers; a new area while output is pending', () => {
    const a = addon();
    const area = (rows: number, cap: number) => [new ArrayBuffer(rows * 60), new ArrayBuffer(cap * 2 + 128)] as const;
    expect(() => a.create(16, 1024, new ArrayBuffer(16 * 60 - 1), area(16, 64)[1], 64)).toThrow(/output area is too small or misaligned/);
    expect(() => a.create(16, 1024, ...area(16, 63), 64)).toThrow(/output area is too small or misaligned/);
    expect(() => a.create(16, 1024, ...area(16, 64), 0)).toThrow(/output area is too small or misaligned/);
    expect(() => a.create(16, 1024, new Uint8Array(960) as unknown as ArrayBuffer, area(16, 64)[1], 64)).toThrow(/must be two ArrayBuffers/);
    const [h] = a.create(16, 1024, ...area(16, 64), 64);
    const big = new ArrayBuffer(17 * 60 + 8);
    expect(() => a.setArea(h, big.slice(4) as ArrayBuffer, area(16, 64)[1], 64)).not.toThrow(); // a fresh ArrayBuffer: aligned
    expect(() => a.setArea(h, ...area(15, 64), 64)).toThrow(/too small/);
    const desc = a.describe(...cols(4), new Uint16Array(8));
    a.setSlots(h, 1);
    expect(a.append(h, desc, 0, 2, 0)).toBe(0); // two rows now pending in the area
    expect(() => a.setArea(h, ...area(16, 64), 64)).toThrow(/changes only between output batches/);
  });
});

describe('native merge kernel: full output batches leave as they lie', () => {
  /** 3 inputs of n events, 1 to 40 samples each (sample j of event i of input s: s * 1000 + i + j). */
  function inputs(n: number) {
    return [0, 1, 2].map((s) =>
      Array.from({ length: n }, (_, i) => ({ t: BigInt(i * 3 + s), pid: 0, ch: s, wave: Uint16Array.from({ length: 1 + ((i * 7 + s) % 40) }, (_, j) => s * 1000 + i + j), src: s, seq: i })),
    );
  }

  function merge(consume: (m: StreamingMerge, b: WaveBatch) => void): { batches: number; areas: number; handedSamples: number } {
    const m = new StreamingMerge({ output: 'r', kernel: 'native', maxOutputRows: 64, silenceTimeoutMs: 1e12 });
    const ins = inputs(2000);
    ins.forEach((_, s) => m.addInput(`in${s}`));
    let batches = 0;
    let areas = 0;
    let handedSamples = 0;
    const sink = (b: WaveBatch) => {
      batches++;
      const c = Object.values(recordColumns(b.batch)) as ArrayBufferView[];
      if (c.every((v) => v.buffer === c[0]!.buffer)) areas++;
      if (b.samples.buffer.byteLength > b.samples.byteLength + 64) handedSamples++; // the sample area (its slack with it)
      consume(m, b);
    };
    for (let j = 0; j < 2000; j += 250) {
      ins.forEach((evs, s) => m.push(`in${s}`, waveBatch(`in${s}`, evs.slice(j, j + 250))));
      m.drain(sink);
    }
    m.finish(sink);
    return { batches, areas, handedSamples };
  }

  it('a consumer that keeps every batch: full batches are the areas, no buffer shared by two batches, every event intact', () => {
    const kept: WaveBatch[] = [];
    const r = merge((_, b) => kept.push(b));
    expect(r.areas).toBeGreaterThan(r.batches / 2); // most batches are full (64 rows): the area went out whole
    expect(r.handedSamples).toBeGreaterThan(r.batches / 2);
    const owner = new Map<ArrayBufferLike, number>();
    kept.forEach((b, i) => {
      for (const buf of new Set([...Object.values(recordColumns(b.batch)).map((v: ArrayBufferView) => v.buffer), b.samples.buffer])) {
        expect(owner.get(buf) ?? i).toBe(i); // the kernel never writes into a batch it handed out
        owner.set(buf, i);
      }
    });
    // Memory a kept batch holds: at most 4/3 of its samples (and the area's slack), 8/7 of its columns.
    for (const b of kept) {
      expect(b.samples.buffer.byteLength).toBeLessThanOrEqual((b.samples.byteLength * 4) / 3 + 128);
      const c = recordColumns(b.batch);
      expect(c.timestamp.buffer.byteLength).toBeLessThanOrEqual(b.batch.numRows * 60 * (8 / 7));
    }
    expectMerged(kept, inputs(2000));
  });

  it('a consumer that gives batches back: their areas come back as later output, every event intact', () => {
    const seen = new Set<ArrayBufferLike>();
    let reused = 0;
    const copies: WaveBatch[] = [];
    merge((m, b) => {
      const area = recordColumns(b.batch).timestamp.buffer;
      if (seen.has(area)) reused++;
      seen.add(area);
      copies.push(copyOf(b));
      m.recycle(b);
    });
    expect(reused).toBeGreaterThan(10);
    expectMerged(copies, inputs(2000));
  });
});
