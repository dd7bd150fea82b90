/**
 * The web dashboard in a real browser (Debian's chromium, headless, driven by puppeteer-core)
 * against a real `sharc up`: the page loads and draws the cluster; an array put shows with its
 * placement map; a long custom map's progress bar moves; a SIGKILLed agent shows dead, an event
 * says its partitions moved, and the placement map no longer uses it. And a coordinator behind
 * a token: the page opened once with ?token= keeps working through its cookie, live stream too.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'puppeteer-core';
import { connect, type Cluster } from '@sharc/sdk';
import { launchChromium, openDashboard, startCoordinator, startUp, type UpCluster } from '../src/dashboard-cluster.js';

const KERNELS = fileURLToPath(new URL('../../src/kernels/dashboard-kernels.ts', import.meta.url));
/** Markup characters and quotes: the page must show them as text (no innerHTML). */
const ARRAY_NAME = 'dash <b>"temps"</b> & \'ünï\'';
const PARTITIONS = 48;
const COLS = 4;
const ROWS = PARTITIONS * 64;
/** Per block (one block per partition here): 48 partitions on 4 single-thread agents take ~5 s. */
const BLOCK_MS = 400;
const VICTIM = 'agent-4';
const WAIT_MS = 30_000;

/** The page's cells of the array's placement map: the agent each says serves its partition. */
function placementOf(page: Page, name: string): Promise<string[]> {
  return page.$$eval('#arrays article.array', (cards, wanted) => {
    const card = cards.find((element) => (element as HTMLElement).dataset.array === wanted);
    return card === undefined ? [] : Array.from(card.querySelectorAll<HTMLElement>('.placement .cell')).map((cell) => cell.dataset.agent ?? '');
  }, name);
}

describe('dashboard: the coordinator\'s web page, live, in headless chromium', { timeout: 120_000 }, () => {
  let up: UpCluster;
  let browser: Browser;
  let client: Cluster;
  const errors: string[] = [];

  before(async () => {
    up = await startUp({ agents: 3, memory: '96MiB' });
    await up.addAgent(VICTIM);
    browser = await launchChromium();
    client = await connect({ servers: up.natsUrl });
  });
  after(async () => {
    await client?.close();
    await browser?.close();
    await up?.stop();
  });

  it('shows agents, an array and its placement, a map\'s progress moving, and an agent that died with its partitions moved', async () => {
    const page = await openDashboard(browser, up.dashboardUrl, errors);
    await page.waitForFunction(() => document.querySelectorAll('#agents tbody tr[data-state="alive"]').length === 4, { timeout: WAIT_MS });
    assert.equal(await page.$eval('#connection', (element) => element.textContent), 'live');

    const data = Float64Array.from({ length: ROWS * COLS }, (_, i) => i % 97);
    const input = await client.put(data, { shape: [ROWS, COLS], partitions: PARTITIONS, copies: 2, name: ARRAY_NAME });
    const victimServes = input.placement.filter((partition) => partition.agentId === VICTIM).length;
    assert.ok(victimServes > 0, `${VICTIM} serves none of the array: ${JSON.stringify(input.placement.map((p) => p.agentId))}`);

    // The array, its name as text (no markup made of it), and one map cell per partition, as placed.
    await page.waitForFunction((count) => document.querySelectorAll('#arrays .placement .cell').length === count, { timeout: WAIT_MS }, PARTITIONS);
    const card = await page.$eval('#arrays article.array', (element) => ({
      name: element.querySelector('.array-name')!.textContent,
      facts: element.querySelector('.array-facts')!.textContent,
      markup: element.querySelectorAll('.array-name *').length,
    }));
    assert.equal(card.name, ARRAY_NAME);
    assert.equal(card.markup, 0, 'the array name made no element');
    assert.match(card.facts ?? '', new RegExp(`float64 · ${ROWS.toLocaleString('en-US')} × ${COLS} · 96 KiB · ${PARTITIONS} partitions · 2 copies`));
    assert.deepEqual(await placementOf(page, ARRAY_NAME), input.placement.map((partition) => partition.agentId));

    // A long custom map: its bar is read from the page until it has shown two values strictly
    // between 0 and 100 (whether progress moves per partition or per block).
    let done = false;
    const mapped = client.map(input, { module: KERNELS, kernel: 'slowDouble', params: { ms: BLOCK_MS } }, { name: 'dash-doubled' }).finally(() => (done = true));
    const seen = new Set<string>();
    while (!done && seen.size < 2) {
      const values = await page.$$eval('#jobs .job[data-state="running"] .track', (tracks) => tracks.map((track) => track.getAttribute('aria-valuenow') ?? ''));
      for (const value of values) if (Number(value) > 0 && Number(value) < 100) seen.add(value);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(seen.size >= 2, `the progress bar showed ${[...seen].join(', ') || 'no value'} between 0 and 100 before the job ended`);
    const output = await mapped;
    assert.deepEqual(await output.toArray(), Float64Array.from(data, (value) => 2 * value));
    // Finished: listed with its outcome, and gone from the running ones.
    await page.waitForFunction(() => document.querySelector('#finished tbody tr [data-field="outcome"]')?.textContent === 'ok' && document.querySelectorAll('#jobs .job').length === 0, { timeout: WAIT_MS });
    assert.match(await page.$eval('#finished tbody tr', (row) => row.textContent ?? ''), /map custom/);

    // SIGKILL an agent that serves some of the array: dead on the page, its partitions moved, the map without it.
    up.killAgent(VICTIM);
    await page.waitForFunction((victim) => document.querySelector(`#agents tr[data-agent="${victim}"] [data-field="state"]`)?.textContent === 'dead', { timeout: WAIT_MS }, VICTIM);
    const moved = await page.waitForFunction(
      (victim) => Array.from(document.querySelectorAll('#events li[data-kind="partitions.moved"]')).find((item) => item.textContent?.includes(`moved off ${victim}`))?.textContent,
      { timeout: WAIT_MS },
      VICTIM,
    );
    assert.match(String(await moved.jsonValue()), new RegExp(`\\d+ partitions? of (${ARRAY_NAME.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}|dash-doubled) moved off ${VICTIM}`));
    assert.ok(await page.$eval('#events', (list) => list.textContent?.includes(`${'agent-4'} died`)), 'the death is listed');
    await page.waitForFunction(
      (name, victim, count) => {
        const card = Array.from(document.querySelectorAll<HTMLElement>('#arrays article.array')).find((element) => element.dataset.array === name);
        const cells = card === undefined ? [] : Array.from(card.querySelectorAll<HTMLElement>('.placement .cell'));
        return cells.length === count && cells.every((cell) => cell.dataset.agent !== victim && cell.dataset.agent !== '');
      },
      { timeout: WAIT_MS },
      ARRAY_NAME,
      VICTIM,
      PARTITIONS,
    );
    // The page's map is the coordinator's placement.
    const reopened = await client.open(ARRAY_NAME);
    assert.deepEqual(await placementOf(page, ARRAY_NAME), reopened.placement.map((partition) => partition.agentId));
    assert.deepEqual(errors, []);
    await page.close();
  });

  it('behind a token: opened once with ?token=, the page and its live stream work through the cookie', async () => {
    const token = 'dashboard-test-token';
    const coordinator = await startCoordinator(up.natsUrl, 'dash-token', token);
    try {
      const refused = await fetch(`${coordinator.url}/`);
      assert.equal(refused.status, 401);
      const page = await openDashboard(browser, `${coordinator.url}/?token=${token}`, errors);
      // Drawn from the stream, a request of its own (only the cookie carries the token there).
      assert.equal(await page.$eval('#cluster-name', (element) => element.textContent), 'cluster dash-token');
      assert.equal(await page.$eval('#connection', (element) => element.getAttribute('data-state')), 'live');
      assert.equal(new URL(page.url()).search, '', 'the token is taken out of the address bar');
      // Live: an agent that joins this cluster shows up without a reload.
      await up.addAgent('token-agent', 'dash-token');
      await page.waitForFunction(() => document.querySelector('#agents tr[data-agent="token-agent"] [data-field="state"]')?.textContent === 'alive', { timeout: WAIT_MS });
      assert.deepEqual(errors, []);
      await page.close();
    } finally {
      await coordinator.stop();
    }
  });
});
