import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DaqError, ERROR_CODES, isDaqError } from '../../src/errors.ts';

const root = path.resolve(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

describe('error registry', () => {
  it('documents every code in README.md', () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    for (const code of Object.keys(ERROR_CODES)) expect(readme, `${code} missing from README`).toContain(`\`${code}\``);
  });

  it('lists every code the sources use', () => {
    const known = new Set(Object.keys(ERROR_CODES));
    for (const file of [...sources(path.join(root, 'src')), ...sources(path.join(root, 'actors'))]) {
      for (const m of fs.readFileSync(file, 'utf8').matchAll(/'(DAQ_ERR_[A-Z0-9_]+)'/g)) {
        expect(known.has(m[1]!), `${m[1]} used in ${path.relative(root, file)} is not in ERROR_CODES`).toBe(true);
      }
    }
  });

  it('keeps code, details and cause', () => {
    const cause = new Error('disk');
    const e = new DaqError('DAQ_ERR_STORAGE_IO', 'write failed', { cause, details: { file: 'a' } });
    expect(isDaqError(e, 'DAQ_ERR_STORAGE_IO')).toBe(true);
    expect(e.cause).toBe(cause);
    expect(e.details).toEqual({ file: 'a' });
    expect(e.name).toBe('DaqError');
  });
});
