import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Default run id: UTC date-time plus a short random suffix, e.g. `20261123-130501-3fa2`. */
export function newRunId(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const d = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}`;
  const t = `${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
  return `${d}-${t}-${randomBytes(2).toString('hex')}`;
}

/**
 * The newest run folder under `out` (for `run.on_restart: continue`): among sub-folders holding a
 * `run.json`, the one whose latest session started last (`sessions[-1].started` or `started`, else
 * the folder's mtime);
 * `null` when there is none.
 */
export function newestRunId(out: string): string | null {
  let best: { id: string; at: number } | null = null;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(out, { withFileTypes: true });
  } catch {
    return null;
  }
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const file = path.join(out, e.name, 'run.json');
    let at: number;
    try {
      const meta = JSON.parse(fs.readFileSync(file, 'utf8')) as { started?: string; sessions?: Array<{ started?: string }> };
      const last = meta.sessions?.at(-1)?.started ?? meta.started;
      at = last ? Date.parse(last) : NaN;
      if (!Number.isFinite(at)) at = fs.statSync(path.join(out, e.name)).mtimeMs;
    } catch {
      continue; // not a run folder (or run.json unreadable)
    }
    if (!best || at > best.at || (at === best.at && e.name > best.id)) best = { id: e.name, at };
  }
  return best?.id ?? null;
}
