import { firstValueFrom, take, toArray, zip } from 'rxjs';
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
});
