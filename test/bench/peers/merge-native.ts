/**
 * Runs the native merge peer (merge-native.c) on the merge bench's inputs: compiles it once with
 * the system's C compiler (`cc -O3 -march=native`), writes the inputs to a file in its format
 * (each input's batches concatenated, wave_offset rebased onto the input's concatenated samples),
 * runs it and returns its median seconds over `reps` timed merges. The peer checks its own output
 * (key order, offsets, event ids, waveform bytes) in an untimed run; a failed check is an error.
 * Returns null, saying why on stderr, when there is no C compiler (Debian: `apt-get install gcc`).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WaveBatch } from '../../../src/schema/batch.ts';
import { recordColumns } from '../../../src/schema/waveform.ts';
import { median } from '../harness.ts';

const SOURCE = fileURLToPath(new URL('./merge-native.c', import.meta.url));
/** Rows the peer prefetches ahead of each input's head (BENCH_NATIVE_AHEAD; 0: no prefetch). */
const AHEAD = Number(process.env['BENCH_NATIVE_AHEAD'] ?? 8);
let binary: string | null | undefined;

function compile(): string | null {
  if (binary !== undefined) return binary;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daq-merge-native-'));
  const out = path.join(dir, 'merge-native');
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  try {
    execFileSync('cc', ['-O3', '-march=native', `-DAHEAD=${AHEAD}`, '-o', out, SOURCE], { stdio: ['ignore', 'ignore', 'pipe'] });
    binary = out;
  } catch (e) {
    console.error(`native merge peer not built (cc -O3 -march=native ${SOURCE}): ${(e as Error).message.split('\n')[0]}; on Debian: apt-get install gcc`);
    binary = null;
  }
  return binary;
}

/** Column order of the peer's input format (merge-native.c); the samples follow them. */
const COLUMNS = ['timestamp', 'time', 'wave_offset', 'baseline', 'pid', 'dt', 'flags', 'event_length', 'channel', 'trigger_type'] as const;

function writeInputs(file: string, inputs: WaveBatch[][]): void {
  const fd = fs.openSync(file, 'w');
  try {
    const head = new BigInt64Array(1);
    fs.writeSync(fd, Buffer.from('DAQMERGE'));
    head[0] = BigInt(inputs.length);
    fs.writeSync(fd, new Uint8Array(head.buffer));
    for (const batches of inputs) {
      const n = batches.reduce((a, b) => a + b.batch.numRows, 0);
      const S = batches.reduce((a, b) => a + b.samples.length, 0);
      fs.writeSync(fd, new Uint8Array(new BigInt64Array([BigInt(n), BigInt(S)]).buffer));
      for (const name of COLUMNS) {
        let base = 0;
        for (const b of batches) {
          const v: ArrayBufferView = recordColumns(b.batch)[name];
          if (name === 'wave_offset') {
            // Rebased onto the input's concatenated samples, as 32-bit word pairs (offsets < 2^53).
            const w = new Uint32Array(new BigInt64Array(v as BigInt64Array).buffer);
            for (let i = 0; i < w.length; i += 2) {
              const sum = w[i]! + w[i + 1]! * 2 ** 32 + base;
              w[i] = sum % 2 ** 32;
              w[i + 1] = Math.floor(sum / 2 ** 32);
            }
            fs.writeSync(fd, new Uint8Array(w.buffer));
            base += b.samples.length;
          } else {
            fs.writeSync(fd, new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
          }
        }
      }
      for (const b of batches) fs.writeSync(fd, new Uint8Array(b.samples.buffer, b.samples.byteOffset, b.samples.byteLength));
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Median seconds of the native merge of `inputs` over `reps` runs, or null without a C compiler. */
export function nativeMergeSeconds(inputs: WaveBatch[][], reps: number): number | null {
  const bin = compile();
  if (!bin) return null;
  const file = path.join(path.dirname(bin), 'inputs.bin');
  writeInputs(file, inputs);
  try {
    let out: string;
    try {
      out = execFileSync(bin, [file, String(reps)], { encoding: 'utf8', maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      throw new Error(`native merge peer failed: ${String((e as { stderr?: string }).stderr ?? (e as Error).message).trim()}`);
    }
    const lines = out.trim().split('\n');
    if (!lines.at(-1)!.startsWith('ok')) throw new Error(`native merge peer: no check line in its output:\n${out}`);
    return median(lines.slice(0, -1).map((l) => Number(l.split(' ')[0])));
  } finally {
    fs.rmSync(file, { force: true });
  }
}
