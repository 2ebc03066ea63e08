import { execFileSync } from 'node:child_process';

/** Runs a Python snippet under Debian's python3 (with h5py and numpy) and parses its JSON stdout. */
export function py<T = unknown>(code: string, args: string[] = []): T {
  const out = execFileSync('/usr/bin/python3', ['-c', code, ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return JSON.parse(out) as T;
}

/** Every dataset (as a list) and attribute of an HDF5 file, read by h5py. */
export function h5dump(file: string): { datasets: Record<string, unknown[]>; attrs: Record<string, Record<string, unknown>> } {
  return py(
    `
import h5py, json, sys, numpy as np
f = h5py.File(sys.argv[1], 'r')
out = {'datasets': {}, 'attrs': {}}
def conv(v):
    if isinstance(v, bytes): return v.decode()
    if isinstance(v, np.ndarray): return [conv(x) for x in v.tolist()]
    if isinstance(v, (np.integer,)): return int(v)
    if isinstance(v, (np.floating,)): return float(v)
    if isinstance(v, list): return [conv(x) for x in v]
    return v
def visit(name, obj):
    out['attrs'][name] = {k: conv(obj.attrs[k]) for k in obj.attrs}
    if isinstance(obj, h5py.Dataset):
        out['datasets'][name] = [conv(x) for x in obj[()].tolist()]
out['attrs']['/'] = {k: conv(f.attrs[k]) for k in f.attrs}
f.visititems(visit)
print(json.dumps(out))
`,
    [file],
  );
}
