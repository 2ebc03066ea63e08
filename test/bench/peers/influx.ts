/**
 * Starts a private InfluxDB 1.6 (Debian package `influxdb`) on loopback with every folder under a
 * temp dir and `wal-fsync-delay = "0s"` (an fsync for every write), for peer benchmarks.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';

export interface Influx {
  port: number;
  proc: ChildProcess;
  query(q: string): Promise<unknown>;
  write(db: string, body: Buffer): Promise<void>;
  stop(): Promise<void>;
}

function request(port: number, method: string, p: string, body?: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p, agent: keepAlive, headers: body ? { 'content-length': body.length } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 8 });

export async function startInflux(dir: string, port: number): Promise<Influx> {
  const conf = `
reporting-disabled = true
bind-address = "127.0.0.1:${port + 1}"
[meta]
  dir = "${path.join(dir, 'meta')}"
[data]
  dir = "${path.join(dir, 'data')}"
  wal-dir = "${path.join(dir, 'wal')}"
  wal-fsync-delay = "0s"
  index-version = "inmem"
  max-series-per-database = 0
  max-values-per-tag = 0
  query-log-enabled = false
  trace-logging-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:${port}"
  log-enabled = false
  max-body-size = 0
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
`;
  fs.mkdirSync(dir, { recursive: true });
  const confPath = path.join(dir, 'influxdb.conf');
  fs.writeFileSync(confPath, conf);
  const proc = spawn('/usr/bin/influxd', ['-config', confPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const r = await request(port, 'GET', '/ping');
      if (r.status === 204) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`influxd did not start on 127.0.0.1:${port}:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    proc,
    async query(q) {
      const r = await request(port, 'POST', `/query?q=${encodeURIComponent(q)}`);
      if (r.status >= 300) throw new Error(`influx query ${q}: ${r.status} ${r.text}`);
      return JSON.parse(r.text);
    },
    async write(db, body) {
      const r = await request(port, 'POST', `/write?db=${db}&precision=ns`, body);
      if (r.status !== 204) throw new Error(`influx write: ${r.status} ${r.text.slice(0, 300)}`);
    },
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    },
  };
}
