import net from 'node:net';

/**
 * A minimal SCPI-over-TCP (raw socket, "port 5025") client: newline-terminated commands, one
 * newline-terminated answer per query, answered in order.
 */
export class ScpiClient {
  private buf = '';
  private pending: { cmd: string; resolve: (s: string) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  private closedError: Error | null = null;

  private constructor(
    private readonly socket: net.Socket,
    readonly where: string,
    private readonly timeoutMs: number,
  ) {
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (err) => this.close(new Error(`connection to ${where} failed: ${err.message}`)));
    socket.on('close', () => this.close(new Error(`connection to ${where} closed by the device`)));
  }

  /** Connects within `timeoutMs`; rejects with a message naming host:port and the cause. */
  static connect(host: string, port: number, timeoutMs: number): Promise<ScpiClient> {
    const where = `${host}:${port}`;
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`cannot connect to ${where}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new ScpiClient(socket, where, timeoutMs));
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new Error(`cannot connect to ${where}: ${err.code ?? err.message}`));
      });
    });
  }

  /** Sends a query and resolves with its answer line (trimmed). */
  query(cmd: string): Promise<string> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.close(new Error(`no answer to "${cmd}" from ${this.where} within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.pending.push({ cmd, resolve, reject, timer });
      this.socket.write(`${cmd}\n`);
    });
  }

  /** Closes the connection; pending queries reject with `err`. */
  close(err: Error = new Error(`connection to ${this.where} closed`)): void {
    if (!this.closedError) this.closedError = err;
    for (const p of this.pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(this.closedError);
    }
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).replace(/\r$/, '');
      this.buf = this.buf.slice(nl + 1);
      const p = this.pending.shift();
      if (!p) continue; // unsolicited line: ignored
      clearTimeout(p.timer);
      p.resolve(line.trim());
    }
  }
}
