import { z } from 'zod';

const fn = z.custom<(...args: unknown[]) => unknown>((v) => typeof v === 'function', { message: 'must be a function' });

/** Shape an instrument plugin's default export must have (what `defineInstrument` returns). */
export const instrumentDefinitionShape = z.object({
  name: z.string().min(1),
  version: z.string().min(1),
  options: z.custom<{ safeParse: (v: unknown) => unknown }>(
    (v) => typeof v === 'object' && v !== null && typeof (v as { safeParse?: unknown }).safeParse === 'function',
    { message: 'must be a zod schema (with safeParse)' },
  ),
  streams: fn,
  run: fn,
});

/** Shape of one declared stream (the schema is checked for an Arrow-like `fields` array). */
export const streamShape = z.object({
  name: z.string().min(1),
  kind: z.enum(['scalar', 'waveform', 'table']),
  schema: z.custom<object>((v) => typeof v === 'object' && v !== null && Array.isArray((v as { fields?: unknown }).fields), {
    message: 'must be an Arrow Schema',
  }),
});

/** "path: message; path: message" from zod issues, paths prefixed with `prefix`. */
export function formatIssues(error: z.ZodError, prefix: string): string {
  return error.issues.map((i) => `${[prefix, ...i.path.map(String)].filter(Boolean).join('.') || '(root)'}: ${i.message}`).join('; ');
}
