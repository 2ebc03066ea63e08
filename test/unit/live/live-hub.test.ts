import { firstValueFrom, take, timeout, toArray, zip } from 'rxjs';
import type { LiveFrame } from '../../../src/live/live-hub.ts';
import { describe, expect, it } from 'vitest';
import { feedHub, pushScalars } from '../../helpers/live-feed.ts';

describe('LiveHub frames', () => {
  it('viewers of the same view share one frame per data version; other views and new data get their own', async () => {
    const hub = feedHub();
    const t0 = Date.now();
    pushScalars(hub, 0, t0);
    const view = { tags: ['t1', 't2'], pixels: 100, intervalMs: 20 };
    const a$ = hub.stream$('p.tags', view);
    const b$ = hub.stream$('p.tags', view);
    const c$ = hub.stream$('p.tags', { ...view, pixels: 50 });
    let step = 1;
    const timer = setInterval(() => pushScalars(hub, step++, t0), 30);
    try {
      const frames = await firstValueFrom(zip(a$, b$, c$).pipe(take(3), toArray()));
      for (const [a, b, c] of frames) {
        expect(b).toBe(a); // the same object: decimated and encoded once
        expect(c).not.toBe(a);
        expect(c.batch.numRows).toBeLessThanOrEqual(a.batch.numRows);
      }
      expect(new Set(frames.map(([a]) => a)).size).toBe(3); // each tick showed new data
      // Ticks are counted per view (a and b share one), with the time spent serving them.
      expect(hub.stats()['view_ticks']).toBeGreaterThanOrEqual(6);
      expect(hub.stats()['serve_ms']).toBeGreaterThanOrEqual(0);
      // The newest value of t2 (id 2) in the last frame is the last one pushed before it.
      const last = frames[2]![0];
      const tag = last.batch.getChild('tag')!.toArray() as Uint32Array;
      const max = last.batch.getChild('max')!.toArray() as Float64Array;
      let newest = -Infinity;
      for (let i = 0; i < tag.length; i++) if (tag[i] === 2) newest = Math.max(newest, max[i]!);
      expect(newest).toBeGreaterThanOrEqual(2000 + 1);
      expect(newest).toBeLessThan(2000 + step);
    } finally {
      clearInterval(timer);
    }
  });

  it('viewers joining a view at different moments tick together under fast ingest, and a late joiner gets the latest frame at once', async () => {
    const hub = feedHub();
    const t0 = Date.now();
    let step = 0;
    pushScalars(hub, step++, t0);
    const timer = setInterval(() => pushScalars(hub, step++, t0), 2); // data changes between any two timers
    try {
      const view = { tags: ['t3'], pixels: 64, intervalMs: 40 };
      const a: unknown[] = [];
      const b: unknown[] = [];
      const sa = hub.stream$('p.tags', view).subscribe((f) => a.push(f));
      await new Promise((r) => setTimeout(r, 15)); // b's subscription is out of phase with a's
      const sb = hub.stream$('p.tags', view).subscribe((f) => b.push(f));
      await new Promise((r) => setTimeout(r, 300));
      sa.unsubscribe();
      sb.unsubscribe();
      expect(b.length).toBeGreaterThan(3);
      // Every frame b got is one a got too (the same object): one timer, one build per tick.
      for (const f of b) expect(a).toContain(f);
    } finally {
      clearInterval(timer);
    }
    // A quiet stream: a viewer joining a running view gets its latest frame at once, with no new data.
    const view = { tags: ['t1'], pixels: 32, intervalMs: 30 };
    const seen: LiveFrame[] = [];
    const keep = hub.stream$('p.tags', view).subscribe((f) => seen.push(f));
    pushScalars(hub, step++, t0);
    await new Promise((r) => setTimeout(r, 100));
    expect(seen.length).toBe(1); // one frame: data changed once
    const late = await firstValueFrom(hub.stream$('p.tags', view).pipe(timeout(20)));
    keep.unsubscribe();
    expect(late).toBe(seen[0]);
    expect(late.batch.numRows).toBeGreaterThan(0);
  });
});
