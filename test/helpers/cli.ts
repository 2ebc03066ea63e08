import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const DAQ = path.join(ROOT, 'bin/daq.js');

export interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when stderr or stdout contains `text`. */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
}

/** Starts `node bin/daq.js ...args` as a real child process. */
export function daq(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Proc {
  const child = spawn(process.execPath, [DAQ, ...args], { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const listeners: Array<() => void> = [];
  child.stdout!.on('data', (d) => {
    out += d;
    listeners.forEach((l) => l());
  });
  child.stderr!.on('data', (d) => {
    err += d;
    listeners.forEach((l) => l());
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exit,
    waitFor(text, timeoutMs = 20_000) {
      const has = () => (typeof text === 'string' ? (out + err).includes(text) : (out + err).search(text) >= 0);
      return new Promise((resolve, reject) => {
        if (has()) return resolve();
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${String(text)}; stderr:\n${err}`)), timeoutMs);
        listeners.push(() => {
          if (has()) {
            clearTimeout(timer);
            resolve();
          }
        });
        void exit.then(() => {
          if (!has()) {
            clearTimeout(timer);
            reject(new Error(`process exited before ${String(text)}; stderr:\n${err}`));
          }
        });
      });
    },
  };
}
