import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * The `one_tag(g, tag_id, t_min, t_max)` h5py function of docs/file-layout.md, taken from the
 * document itself, so the tests run the snippet readers copy.
 */
export const ONE_TAG_PY = (() => {
  const doc = fs.readFileSync(path.join(import.meta.dirname, '../../docs/file-layout.md'), 'utf8');
  const m = /```python\n(import numpy as np\n\ndef one_tag\([\s\S]*?)```/.exec(doc);
  if (!m) throw new Error('docs/file-layout.md: no one_tag snippet');
  return m[1]!;
})();

/** Runs a Python snippet under Debian's python3 (with h5py and numpy) and parses its JSON stdout. */
export function py<T = unknown>(code: string, args: string[] = []): T {
  const out = execFileSync('/usr/bin/python3', ['-c', code, ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return JSON.parse(out) as T;
}

/** Every dataset (as a list) and attribute of an HDF5 file, read by h5py (external links followed). */
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
# visititems does not follow external links (a segment's /wave_pool is one): walk by path, as a
# reader does with f['wave_pool'].
def walk(g, prefix):
    for k in g:
        obj = g[k]
        visit(prefix + k, obj)
        if isinstance(obj, h5py.Group) and not isinstance(g.get(k, getlink=True), h5py.ExternalLink):
            walk(obj, prefix + k + '/')
walk(f, '')
print(json.dumps(out))
`,
    [file],
  );
}

/**
 * A scalar group's tag index from an {@link h5dump}, as one row per tag present (tag, start,
 * count), whichever its layout (docs/file-layout.md). A dense index is checked on the way: its
 * `layout` and `block_tags` attributes, and each `block_start` equal to the counts summed before it.
 */
export function tagIndexRows(d: ReturnType<typeof h5dump>, group: string): { layout: string; tag: number[]; start: number[]; count: number[] } {
  const ds = (c: string) => d.datasets[`${group}/tag_index/${c}`] as number[] | undefined;
  const layout = (d.attrs[`${group}/tag_index`]?.['layout'] as string | undefined) ?? 'sparse';
  if (layout === 'sparse') return { layout, tag: ds('tag')!, start: ds('start')!, count: ds('count')! };
  if (layout !== 'dense') throw new Error(`unknown tag index layout ${layout}`);
  const count = ds('count')!;
  const blockStart = ds('block_start')!;
  const block = d.attrs[`${group}/tag_index`]!['block_tags'] as number;
  if (!(block > 0) || ds('tag') !== undefined || ds('start') !== undefined) throw new Error('dense tag index: block_tags missing or sparse datasets present');
  if (blockStart.length !== Math.ceil(count.length / block)) throw new Error(`dense tag index: ${blockStart.length} block starts for ${count.length} ids`);
  const out = { layout, tag: [] as number[], start: [] as number[], count: [] as number[] };
  let row = 0;
  count.forEach((c, id) => {
    if (id % block === 0 && blockStart[id / block] !== row) throw new Error(`dense tag index: block_start[${id / block}] = ${blockStart[id / block]}, expected ${row}`);
    if (c > 0) {
      out.tag.push(id);
      out.start.push(row);
      out.count.push(c);
    }
    row += c;
  });
  return out;
}
