/** Small helpers shared by the benchmarks: medians over repeated runs and a printed table. */

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs `fn` `reps` times (after `warmup` discarded runs) and returns each result. */
export async function repeat<T>(reps: number, fn: (i: number) => Promise<T> | T, warmup = 1): Promise<T[]> {
  for (let i = 0; i < warmup; i++) await fn(-1 - i);
  const out: T[] = [];
  for (let i = 0; i < reps; i++) out.push(await fn(i));
  return out;
}

export interface Row {
  measure: string;
  value: string;
  reference: string;
  ratio?: string;
  goal?: string;
}

/** Prints a Markdown table (pasteable into README). */
export function printTable(title: string, rows: Row[]): void {
  const date = new Date().toISOString().slice(0, 10);
  console.log(`\n### ${title} (${date}, medians)\n`);
  console.log('| measure | value | reference (same run) | ratio | goal |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.measure} | ${r.value} | ${r.reference} | ${r.ratio ?? ''} | ${r.goal ?? ''} |`);
}

export const envInt = (name: string, dflt: number): number => (process.env[name] ? Number(process.env[name]) : dflt);
