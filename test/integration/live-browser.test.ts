import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { startServer } from '../../src/live/server.ts';
import type { LiveServer } from '../../src/live/server.ts';
import { feedHub, pushScalars, pushWaves } from '../helpers/live-feed.ts';
import { Field, Float64, Schema } from 'apache-arrow';
import { makeBatch } from '../../src/schema/batch.ts';
import { ROOT } from '../helpers/cli.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describe('the live page in a real browser (Debian chromium)', () => {
  let server: LiveServer;
  let browser: Browser;
  let timer: ReturnType<typeof setInterval>;
  const hub = feedHub();
  let step = 0;
  const t0 = Date.now();

  // A derived table stream (as an FFT processor makes): 10 rows per batch, power = 10·batch + bin.
  const specSchema = new Schema([new Field('freq_hz', new Float64(), false), new Field('power', new Float64(), false)]);
  hub.addStream({ name: 'spec', kind: 'table', schema: specSchema, lineage: { plugin: 'test', version: '1', optionsHash: '', inputs: ['p.tags'] } });
  let specBatches = 0;
  const pushSpec = () => {
    const k = ++specBatches;
    const freq = Float64Array.from({ length: 10 }, (_, i) => i * 50);
    const power = Float64Array.from({ length: 10 }, (_, i) => 10 * k + i);
    hub.push({ kind: 'table', stream: 'spec', batch: makeBatch(specSchema, [freq, power]) });
  };

  beforeAll(async () => {
    expect(fs.existsSync(CHROMIUM), `${CHROMIUM} missing: .ci/run installs Debian's chromium`).toBe(true);
    server = await startServer({ port: 0, hub, status: () => ({ run_id: 'browser-test', state: 'running', uptime_s: 1, streams: {}, subscribers: [], faults: {} }), metrics: () => '' });
    timer = setInterval(() => {
      pushScalars(hub, step++, t0);
      if (step % 5 === 0) pushWaves(hub, 1000 + step);
      if (step % 7 === 0) pushSpec();
    }, 10);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  });

  afterAll(async () => {
    clearInterval(timer);
    await browser?.close();
    await server?.close();
  });

  it('receives live data, shows the values acquired, and redraws the charts', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${server.url}/?tags=t1,t3`);
    await page.waitForFunction(() => {
      const d = (window as unknown as { __daq?: { frames: { trend: number; scope: number; table: number } } }).__daq;
      return d !== undefined && d.frames.trend > 2 && d.frames.scope > 1 && d.frames.table > 1;
    }, undefined, { timeout: 20_000 });
    // The derived table panel shows the newest batch of "spec", every row of it, in order.
    const tbl = await page.evaluate(() => (window as unknown as { __daq: { lastTable: { stream: string; columns: string[]; rows: number[][] } } }).__daq.lastTable);
    expect(tbl.stream).toBe('spec');
    expect(tbl.columns).toEqual(['freq_hz', 'power']);
    expect(tbl.rows.length).toBe(10);
    const k = (tbl.rows[0]![1]! - 0) / 10;
    expect(Number.isInteger(k) && k >= 1 && k <= specBatches).toBe(true);
    expect(tbl.rows).toEqual(Array.from({ length: 10 }, (_, i) => [i * 50, 10 * k + i]));
    expect(await page.locator('#table-last tbody tr').count()).toBe(10);
    const shot1 = await page.locator('#trend-chart canvas').screenshot();
    const state = await page.evaluate(() => (window as unknown as { __daq: { lastTrend: Record<string, { max: number; min: number }>; lastScope: Record<string, { peak: number }> } }).__daq);
    // t1's value at step k is 1000 + k: what the page shows lies in the range pushed so far.
    expect(Object.keys(state.lastTrend).sort()).toEqual(['t1', 't3']);
    expect(state.lastTrend['t1']!.max).toBeGreaterThanOrEqual(1000);
    expect(state.lastTrend['t1']!.max).toBeLessThanOrEqual(1000 + step);
    expect(state.lastTrend['t3']!.min).toBeGreaterThanOrEqual(3000);
    expect(state.lastTrend['t3']!.max - 2000).toBeCloseTo(state.lastTrend['t1']!.max, -2);
    // The scope shows channel 0's triangle peak (min/max decimation keeps it) and channel 1 flat.
    expect(state.lastScope['0']!.peak).toBeGreaterThan(1000);
    expect(state.lastScope['1']!.peak).toBe(100);
    // The chart changes as data arrives.
    await page.waitForTimeout(800);
    const shot2 = await page.locator('#trend-chart canvas').screenshot();
    expect(Buffer.compare(shot1, shot2)).not.toBe(0);
    fs.mkdirSync(path.join(ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: path.join(ROOT, 'test-results/live-page.png'), fullPage: true });
    expect(errors).toEqual([]);
  });
});
