import { describe, expect, it } from 'vitest';
import { exportCommand, parseRunTime, progressPrinter } from '../../../src/cli/export-command.ts';
import { isDaqError } from '../../../src/errors.ts';

const usage = async (p: Promise<unknown>): Promise<string> => {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(isDaqError(err, 'DAQ_ERR_USAGE'), String(err)).toBe(true);
  return (err as Error).message;
};

describe('daq export arguments', () => {
  it('parseRunTime: exact ps from decimal seconds and units', () => {
    expect(parseRunTime('--from', '1.5')).toBe(1_500_000_000_000n);
    expect(parseRunTime('--from', '0.000000000001')).toBe(1n);
    expect(parseRunTime('--from', '250ms')).toBe(250_000_000_000n);
    expect(parseRunTime('--from', '20us')).toBe(20_000_000n);
    expect(parseRunTime('--from', '1000ns')).toBe(1_000_000n);
    expect(parseRunTime('--from', '5ps')).toBe(5n);
    expect(parseRunTime('--from', '-10us')).toBe(-10_000_000n);
    expect(parseRunTime('--to', '9007199254740993ps')).toBe(9_007_199_254_740_993n); // above 2^53: no float on the way
    expect(() => parseRunTime('--to', '0.5ps')).toThrow(/finer than 1 ps/);
    expect(() => parseRunTime('--to', '1e3')).toThrow(/expected a time from the run start/);
    expect(() => parseRunTime('--to', '10000000000s')).toThrow(/out of range/);
  });

  it('rejects bad flags before opening the run', async () => {
    const dir = '/nonexistent-run';
    expect(await usage(exportCommand(dir, {}))).toBe('--format is required: one of arrow, csv, npy');
    expect(await usage(exportCommand(dir, { format: 'parquet' }))).toBe('--format: expected one of arrow, csv, npy, got "parquet"');
    expect(await usage(exportCommand(dir, { format: 'csv', from: '2', to: '1.5' }))).toBe('--from (2) is after --to (1.5)');
    expect(await usage(exportCommand(dir, { format: 'csv', to: '0.1234567890123456' }))).toBe('--to: "0.1234567890123456" is finer than 1 ps');
    expect(await usage(exportCommand(dir, { format: 'csv', tags: [' , '] }))).toBe('--tags: expected at least one tag name');
    expect(await usage(exportCommand(dir, { format: 'csv', records: false, scalars: false }))).toMatch(/nothing to export/);
  });

  it('progress: at most one line per interval, plus each part\'s final line', () => {
    const lines: string[] = [];
    const p = progressPrinter((l) => lines.push(l), 60_000);
    for (let i = 0; i <= 1000; i++) p({ part: 'records', rows: i, total: 1000 });
    p({ part: 'scalars.s', rows: 0, total: 0 });
    expect(lines).toEqual(['export records: 0.0% (0/1000 rows)\n', 'export records: 100.0% (1000/1000 rows)\n', 'export scalars.s: 100.0% (0/0 rows)\n']);
  });
});
