/**
 * The native merge kernel's loop alone: src/merge/native/merge-core.h driven from C
 * (peers/merge-kernel-alone.c: no Node, no push-time check, no JS between merge steps) over k = 2,
 * 8, 64 inputs of BENCH_RECORDS events in all (default 10 M) in BENCH_BATCH-row batches (8192),
 * interleaved one by one (Poisson), mean 32 samples an event, borrowing consumer. Beside it, in the
 * same process and run, memcpy of the same column and sample bytes. Set against the merge bench's
 * `native-borrow` figures, this splits them into the loop and the rest (check, JS glue).
 * `node bin/run-ts.js test/bench/merge-kernel.bench.ts`; BENCH_REPS runs per figure (median),
 * BENCH_KS the input counts (e.g. `BENCH_KS=64`). Needs a C compiler (`apt-get install gcc`); the
 * program checks its own output (key order, ids, offsets, every waveform) in an untimed run.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { envInt, median, printTable } from './harness.ts';

const SOURCE = fileURLToPath(new URL('./peers/merge-kernel-alone.c', import.meta.url));
const REPS = envInt('BENCH_REPS', 3);
const N = envInt('BENCH_RECORDS', 10_000_000);
const BATCH = envInt('BENCH_BATCH', 8192);
const KS = (process.env['BENCH_KS'] ?? '2,8,64').split(',').map(Number);

/** Builds the driver (cc -O3 -march=native, as the addon is built); its path. */
export function buildKernelAlone(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'daq-merge-kernel-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'merge-kernel-alone');
  execFileSync('cc', ['-O3', '-march=native', '-o', out, SOURCE, '-lm'], { stdio: ['ignore', 'ignore', 'pipe'] });
  return out;
}

/** Runs the driver: per rep the kernel's and memcpy's seconds; throws when its output check fails. */
export function runKernelAlone(bin: string, k: number, n: number, batch: number, reps: number): { kernel: number[]; memcpy: number[]; records: number; samples: number; bytes: number } {
  let out: string;
  try {
    out = execFileSync(bin, [String(k), String(n), String(batch), String(reps)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`merge-kernel-alone failed: ${String((e as { stderr?: string }).stderr ?? (e as Error).message).trim()}`);
  }
  const lines = out.trim().split('\n');
  if (lines.at(-1) !== 'ok') throw new Error(`merge-kernel-alone: no check line in its output:\n${out}`);
  const r = { kernel: [] as number[], memcpy: [] as number[], records: 0, samples: 0, bytes: 0 };
  for (const l of lines.slice(0, -1)) {
    const [what, sec, a, b] = l.split(' ');
    if (what === 'kernel') {
      r.kernel.push(Number(sec));
      r.records = Number(a);
      r.samples = Number(b);
    } else {
      r.memcpy.push(Number(sec));
      r.bytes = Number(a);
    }
  }
  return r;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let bin: string;
  try {
    bin = buildKernelAlone();
  } catch (e) {
    console.error(`merge-kernel bench: cannot build ${SOURCE} (cc -O3 -march=native): ${(e as Error).message.split('\n')[0]}; on Debian: apt-get install gcc`);
    process.exit(1);
  }
  const rows = [];
  for (const k of KS) {
    const r = runKernelAlone(bin, k, N, BATCH, REPS);
    const sec = median(r.kernel);
    const copy = median(r.memcpy);
    rows.push({
      measure: `native kernel's loop alone (C driver), k=${k}, ${(r.records / 1e6).toFixed(1)} M records interleaved one by one, ${(r.samples / 1e6).toFixed(0)} M samples, ${BATCH}-row batches`,
      value: `${(r.records / sec / 1e6).toFixed(1)} M records/s, samples ${((r.samples * 2) / sec / 1e9).toFixed(2)} GB/s (${((sec * 1e9) / r.records).toFixed(0)} ns a record)`,
      reference: `memcpy of the same bytes: ${(r.bytes / copy / 1e9).toFixed(2)} GB/s`,
      ratio: (copy / sec).toFixed(2),
      goal: '',
    });
  }
  printTable(`native merge kernel alone, mean event length 32 samples, ${REPS} runs`, rows);
}
