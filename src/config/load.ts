import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { z } from 'zod';
import { ConfigError, DaqError } from '../errors.ts';
import { configSchema } from './schema.ts';
import type { DaqConfig } from './schema.ts';
import { BUILTIN_INSTRUMENTS } from '../instruments/index.ts';
import { BUILTIN_PROCESSORS } from '../processors/index.ts';

function issue(p: readonly PropertyKey[], message: string, input: unknown): z.core.$ZodIssue {
  return { code: 'custom', path: [...p], message, input } as z.core.$ZodIssue;
}

/** A plugin module path must name an existing file (relative paths: to the working directory). */
function checkModule(where: string, module: string, at: readonly PropertyKey[]): void {
  const abs = module.startsWith('file:') ? module : path.resolve(module);
  if (!abs.startsWith('file:') && !fs.existsSync(abs)) throwIssues(where, [issue(['module'], `plugin module not found: ${abs}`, module)], at);
}

/** "instruments[1].options.rate_hz" from a zod issue path. */
export function fieldPath(p: readonly PropertyKey[]): string {
  let out = '';
  for (const k of p) out += typeof k === 'number' ? `[${k}]` : out ? `.${String(k)}` : String(k);
  return out || '(root)';
}

function issueText(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  return issue.message;
}

/** Throws a ConfigError listing every issue as `<file>: <field.path>: <problem>`. */
export function throwIssues(where: string, issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): never {
  const lines = issues.map((i) => {
    const p = [...prefix, ...i.path];
    const at = i.code === 'unrecognized_keys' ? fieldPath(p) : fieldPath(p);
    return `${where}: ${at}: ${issueText(i)}`;
  });
  const first = issues[0]!;
  throw new ConfigError(`invalid config\n  ${lines.join('\n  ')}`, {
    details: { file: where, field: fieldPath([...prefix, ...first.path]) },
  });
}

/** Parses and validates config text; `where` names the file in errors. */
export function parseConfig(text: string, where: string): DaqConfig {
  let raw: unknown;
  try {
    raw = where.endsWith('.json') ? JSON.parse(text) : YAML.parse(text);
  } catch (err) {
    throw new DaqError('DAQ_ERR_CONFIG_READ', `${where}: cannot parse: ${(err as Error).message}`, { cause: err, details: { file: where } });
  }
  return validateConfig(raw ?? {}, where);
}

/** Validates a config object, including every built-in instrument's options. */
export function validateConfig(raw: unknown, where: string): DaqConfig {
  const res = configSchema.safeParse(raw);
  if (!res.success) throwIssues(where, res.error.issues);
  const cfg = res.data;
  const names = new Set<string>();
  cfg.instruments.forEach((inst, i) => {
    if (names.has(inst.name)) throwIssues(where, [{ code: 'custom', path: ['name'], message: `duplicate instrument name "${inst.name}"`, input: inst.name } as z.core.$ZodIssue], ['instruments', i]);
    names.add(inst.name);
    if (inst.type === 'plugin') {
      if (!inst.module) throwIssues(where, [issue(['module'], 'type "plugin" needs "module": the path of the plugin module', undefined)], ['instruments', i]);
      checkModule(where, inst.module, ['instruments', i]);
      return;
    }
    if (inst.module !== undefined) throwIssues(where, [issue(['module'], `"module" is only for type "plugin" (type is "${inst.type}")`, inst.module)], ['instruments', i]);
    const def = BUILTIN_INSTRUMENTS[inst.type];
    if (!def) {
      const known = [...Object.keys(BUILTIN_INSTRUMENTS), 'plugin'].join(', ');
      throwIssues(where, [{ code: 'custom', path: ['type'], message: `unknown instrument type "${inst.type}" (known: ${known})`, input: inst.type } as z.core.$ZodIssue], ['instruments', i]);
    }
    const opts = def.options.safeParse(inst.options);
    if (!opts.success) throwIssues(where, opts.error.issues, ['instruments', i, 'options']);
    inst.options = opts.data as Record<string, unknown>;
  });
  cfg.processors.forEach((proc, i) => {
    if (names.has(proc.name)) throwIssues(where, [issue(['name'], `duplicate name "${proc.name}" (instrument and processor names share one namespace)`, proc.name)], ['processors', i]);
    names.add(proc.name);
    if (proc.type === 'plugin') {
      if (!proc.module) throwIssues(where, [issue(['module'], 'type "plugin" needs "module": the path of the processor module', undefined)], ['processors', i]);
      checkModule(where, proc.module, ['processors', i]);
      return; // its options are validated by its own schema once the daemon imports it
    }
    const def = BUILTIN_PROCESSORS[proc.type];
    if (!def) {
      const known = [...Object.keys(BUILTIN_PROCESSORS), 'plugin'].join(', ');
      throwIssues(where, [issue(['type'], `unknown processor type "${proc.type}" (known: ${known})`, proc.type)], ['processors', i]);
    }
    if (proc.module !== undefined) throwIssues(where, [issue(['module'], `"module" is only for type "plugin" (type is "${proc.type}")`, proc.module)], ['processors', i]);
    const opts = def.options.safeParse(proc.options);
    if (!opts.success) throwIssues(where, opts.error.issues, ['processors', i, 'options']);
    proc.options = opts.data as Record<string, unknown>;
  });
  return cfg;
}

/** Reads a YAML (.yaml/.yml) or JSON (.json) config file; `undefined` gives the embedded default. */
export function loadConfig(file?: string): { config: DaqConfig; source: string } {
  if (!file) return { config: validateConfig({}, '(embedded default)'), source: '(embedded default)' };
  const where = path.resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(where, 'utf8');
  } catch (err) {
    throw new DaqError('DAQ_ERR_CONFIG_READ', `${where}: cannot read config: ${(err as Error).message}`, { cause: err, details: { file: where } });
  }
  return { config: parseConfig(text, where), source: where };
}
