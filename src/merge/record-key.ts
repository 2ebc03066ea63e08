/**
 * The merge order: (timestamp, pid, channel), compared on the typed columns of a records batch.
 * Returns <0, 0, >0 like a comparator.
 */
export function compareKey(ta: bigint, pa: number, ca: number, tb: bigint, pb: number, cb: number): number {
  if (ta !== tb) return ta < tb ? -1 : 1;
  if (pa !== pb) return pa - pb;
  return ca - cb;
}

/** A key held by value (for watermarks and the last emitted position). */
export interface RecordKey {
  t: bigint;
  pid: number;
  ch: number;
}

export const MIN_KEY: RecordKey = { t: -(2n ** 63n), pid: -(2 ** 31), ch: -(2 ** 15) };

export function cmpKeys(a: RecordKey, b: RecordKey): number {
  return compareKey(a.t, a.pid, a.ch, b.t, b.pid, b.ch);
}
