import { describe, expect, it } from 'vitest';
import { parseConfig, validateConfig } from '../../../src/config/load.ts';
import { isDaqError } from '../../../src/errors.ts';

function errorOf(fn: () => unknown): Error & { code?: string; details?: Record<string, unknown> } {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('config', () => {
  it('gives the embedded default: a few hundred tags and a 4-channel digitizer under ./data', () => {
    const c = validateConfig({}, 'x');
    expect(c.run.out).toBe('./data');
    expect(c.instruments.map((i) => i.type)).toEqual(['sim-scalar', 'sim-digitizer']);
    expect(c.instruments[0]!.options['tags']).toBe(300);
    expect(c.instruments[1]!.options['channels']).toBe(4);
    // Instrument defaults are filled in by the instrument's own schema.
    expect(c.instruments[1]!.options['trigger_rate_hz']).toBe(200);
    expect(c.http).toMatchObject({ host: '127.0.0.1', port: 7420 });
  });

  it('parses YAML and JSON by file name', () => {
    const y = parseConfig('run:\n  seed: 4\ninstruments: []\n', 'a.yaml');
    expect(y.run.seed).toBe(4);
    const j = parseConfig('{"run": {"seed": 5}}', 'a.json');
    expect(j.run.seed).toBe(5);
  });

  it('names the file and the field path of a bad value', () => {
    const e = errorOf(() => parseConfig('instruments:\n  - name: p\n    type: sim-scalar\n    options:\n      rate_hz: fast\n', '/etc/daq.yaml'));
    expect(isDaqError(e, 'DAQ_ERR_CONFIG_INVALID')).toBe(true);
    expect(e.message).toContain('/etc/daq.yaml: instruments[0].options.rate_hz');
    expect(e.details?.['field']).toBe('instruments[0].options.rate_hz');
  });

  it('names unknown keys, unknown types and out-of-range values', () => {
    expect(errorOf(() => validateConfig({ run: { outt: 'x' } }, 'f.yaml')).message).toMatch(/f\.yaml: run: unknown key "outt"/);
    expect(errorOf(() => validateConfig({ instruments: [{ name: 'a', type: 'laser' }] }, 'f.yaml')).message).toMatch(/instruments\[0\]\.type: unknown instrument type "laser"/);
    expect(errorOf(() => validateConfig({ instruments: [{ name: 'a', type: 'sim-scalar', options: { tags: 2_000_000 } }] }, 'f.yaml')).message).toMatch(/instruments\[0\]\.options\.tags/);
    expect(errorOf(() => validateConfig({ http: { port: 70000 } }, 'f.yaml')).message).toMatch(/http\.port/);
    expect(errorOf(() => validateConfig({ instruments: [{ name: 'a', type: 'sim-scalar' }, { name: 'a', type: 'sim-scalar' }] }, 'f.yaml')).message).toMatch(/instruments\[1\]\.name: duplicate/);
    expect(errorOf(() => validateConfig({ instruments: [{ name: 'a', type: 'plugin' }] }, 'f.yaml')).message).toMatch(/instruments\[0\]\.module/);
  });

  it('checks processors: known type, its options by its own schema, unique names; plugin modules must exist', () => {
    const c = validateConfig({ instruments: [], processors: [{ name: 'spec', type: 'fft', options: { stream: 'a.tags' } }] }, 'f.yaml');
    expect(c.processors[0]!.options['frame_size']).toBe(1024);
    expect(errorOf(() => validateConfig({ processors: [{ name: 'x', type: 'wavelet' }] }, 'f.yaml')).message).toMatch(/f\.yaml: processors\[0\]\.type: unknown processor type "wavelet"/);
    expect(errorOf(() => validateConfig({ processors: [{ name: 'x', type: 'fft', options: { stream: 's', frame_size: 1000 } }] }, 'f.yaml')).message).toMatch(/processors\[0\]\.options\.frame_size: must be a power of two/);
    expect(errorOf(() => validateConfig({ processors: [{ name: 'plant', type: 'fft', options: { stream: 's' } }] }, 'f.yaml')).message).toMatch(/processors\[0\]\.name: duplicate name "plant"/);
    expect(errorOf(() => validateConfig({ processors: [{ name: 'x', type: 'plugin' }] }, 'f.yaml')).message).toMatch(/processors\[0\]\.module/);
    expect(errorOf(() => validateConfig({ instruments: [{ name: 'x', type: 'plugin', module: './no/such.ts' }] }, 'f.yaml')).message).toMatch(/instruments\[0\]\.module: plugin module not found: .*no\/such\.ts/);
    expect(errorOf(() => validateConfig({ instruments: [{ name: 'x', type: 'sim-scalar', module: './a.ts' }] }, 'f.yaml')).message).toMatch(/instruments\[0\]\.module: "module" is only for type "plugin"/);
  });

  it('reports YAML syntax errors with the file', () => {
    const e = errorOf(() => parseConfig('run: [\n', 'bad.yaml'));
    expect(isDaqError(e, 'DAQ_ERR_CONFIG_READ')).toBe(true);
    expect(e.message).toContain('bad.yaml');
  });
});
