import fs from 'node:fs';

/**
 * Rows a sink has acknowledged, per stream: for the storage sink, rows made durable. With an ack
 * log, each acknowledgment also appends `<stream>\t<acked rows so far>\n` to the file with one
 * write(2), so a harness that SIGKILLs the daemon reads, afterwards, what had been acknowledged
 * (the kernel keeps what a killed process wrote).
 */
export class AckCounter {
  readonly rows = new Map<string, number>();
  private readonly fd: number | null;

  constructor(ackLogPath?: string) {
    this.fd = ackLogPath ? fs.openSync(ackLogPath, 'a') : null;
  }

  add(stream: string, n: number): void {
    const total = (this.rows.get(stream) ?? 0) + n;
    this.rows.set(stream, total);
    if (this.fd !== null) fs.writeSync(this.fd, `${stream}\t${total}\n`);
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries(this.rows);
  }

  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
  }
}

/** Reads an ack log: the last acknowledged row count per stream. */
export function readAckLog(file: string): Map<string, number> {
  const out = new Map<string, number>();
  if (!fs.existsSync(file)) return out;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const [stream, n] = line.split('\t');
    if (stream && n !== undefined && /^\d+$/.test(n)) out.set(stream, Math.max(out.get(stream) ?? 0, Number(n)));
  }
  return out;
}
