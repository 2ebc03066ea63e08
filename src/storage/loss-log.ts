import fs from 'node:fs';
import path from 'node:path';

/** One gap in stored data: what is missing, from which stream, and why. */
export interface LossEntry {
  stream: string;
  reason: 'wal-corrupted' | 'wal-unregistered-stream' | 'late' | 'rejected-batch' | 'processor-failed';
  rows?: number;
  t_min?: string;
  t_max?: string;
  file?: string;
  offset?: number;
  detail?: string;
  at: string;
}

/**
 * `<run>/losses.jsonl`: one JSON line per place where data was dropped or cut, so an analyst can
 * tell "no signal" from "signal not recorded" (strax-style deadtime records). Each line is
 * fsynced as it is appended; losses are rare.
 */
export class LossLog {
  readonly file: string;
  count = 0;

  constructor(runDir: string) {
    this.file = path.join(runDir, 'losses.jsonl');
  }

  append(entry: Omit<LossEntry, 'at'>): void {
    const fd = fs.openSync(this.file, 'a');
    try {
      fs.writeSync(fd, `${JSON.stringify({ ...entry, at: new Date().toISOString() })}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    this.count++;
  }

  static read(runDir: string): LossEntry[] {
    const file = path.join(runDir, 'losses.jsonl');
    if (!fs.existsSync(file)) return [];
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as LossEntry);
  }
}
