import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, validateConfig } from '../../../src/config/load.ts';

const file = path.resolve(import.meta.dirname, '../../../examples/daemon-config/daq.yaml');

describe('examples/daemon-config/daq.yaml', () => {
  it('is valid and equals the embedded default it documents', () => {
    const { config } = loadConfig(file);
    const dflt = validateConfig({}, 'default');
    expect(config).toEqual(dflt);
  });

  it('documents every option of the built-in instruments', () => {
    const text = fs.readFileSync(file, 'utf8');
    const { config } = loadConfig(file);
    for (const inst of config.instruments) for (const key of Object.keys(inst.options)) expect(text).toMatch(new RegExp(`\\b${key}:`));
  });
});
