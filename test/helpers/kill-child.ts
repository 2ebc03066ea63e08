import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { expect } from 'vitest';

/** Children still running: killed if the test process exits first (no orphaned writers). */
const live = new Set<ChildProcess>();
process.once('exit', () => live.forEach((c) => c.kill('SIGKILL')));

/**
 * Runs a crash-test writer (`node bin/run-ts.js FIXTURE ...args`) until its acknowledgment log
 * grows, lets it run `delayMs` more, then SIGKILLs it. The writer must print nothing on stderr.
 */
export async function runUntilAckThenKill(fixture: string, args: string[], ackLog: string, delayMs: number): Promise<void> {
  const child = spawn(process.execPath, ['bin/run-ts.js', fixture, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => (live.delete(child), resolve())));
  const size = () => (fs.existsSync(ackLog) ? fs.statSync(ackLog).size : 0);
  const start = size();
  const deadline = Date.now() + 20_000;
  try {
    while (size() === start) {
      if (child.exitCode !== null) throw new Error(`writer exited early (${child.exitCode}): ${stderr}`);
      if (Date.now() > deadline) throw new Error(`writer acknowledged nothing in 20 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, delayMs));
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  expect(stderr).toBe('');
}
