/**
 * Takes the README's dashboard screenshots again (docs/dashboard-running.png,
 * docs/dashboard-agent-died.png, and docs/dashboard-dark.png: the latter in a dark system
 * theme) from a real `sharc up` in headless chromium, 1280×800:
 *
 *   npm run build && node e2e/dist/scripts/dashboard-screenshots.js [OUT_DIR]
 *
 * Needs nats-server and chromium (bash scripts/ensure-deps.sh --nats --chromium).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@sharc/sdk';
import { launchChromium, openDashboard, startUp } from '../src/dashboard-cluster.js';

const KERNELS = fileURLToPath(new URL('../../src/kernels/dashboard-kernels.ts', import.meta.url));
const OUT_DIR = path.resolve(process.argv[2] ?? fileURLToPath(new URL('../../../docs/', import.meta.url)));
const WAIT_MS = 60_000;

const up = await startUp({ agents: 3, memory: '256MiB' });
const browser = await launchChromium().catch(async (error: unknown) => {
  await up.stop();
  throw error;
});
const client = await connect({ servers: up.natsUrl });
try {
  await mkdir(OUT_DIR, { recursive: true });
  await up.addAgent('agent-4');
  const errors: string[] = [];
  const page = await openDashboard(browser, up.dashboardUrl, errors);
  await page.waitForFunction(() => document.querySelectorAll('#agents tbody tr[data-state="alive"]').length === 4, { timeout: WAIT_MS });

  const temperatures = await client.put(Float64Array.from({ length: 96 * 512 * 8 }, (_, i) => Math.sin(i)), { shape: [96 * 512, 8], partitions: 96, copies: 2, name: 'temperatures' });
  const events = await client.put(Float64Array.from({ length: 600 * 256 }, (_, i) => i % 13), { shape: [600 * 256], partitions: 600, copies: 2, name: 'events-2026' });
  await client.reduce(events, 'sum');
  await client.reduce(temperatures, 'max');
  await client.map(events, { module: KERNELS, kernel: 'failingMap', params: {} }).catch(() => undefined);

  // A long map: the screenshot is taken with its bar part way.
  const mapped = client.map(temperatures, { module: KERNELS, kernel: 'slowDouble', params: { ms: 500 } }, { name: 'temperatures-x2' });
  await page.waitForFunction(() => Number(document.querySelector('#jobs .job[data-state="running"] .track')?.getAttribute('aria-valuenow') ?? 0) >= 35, { timeout: WAIT_MS });
  await page.screenshot({ path: path.join(OUT_DIR, 'dashboard-running.png') });
  console.log(`wrote ${path.join(OUT_DIR, 'dashboard-running.png')}`);
  await mapped;

  up.killAgent('agent-4');
  await page.waitForFunction(() => document.querySelector('#agents tr[data-agent="agent-4"] [data-field="state"]')?.textContent === 'dead', { timeout: WAIT_MS });
  await page.waitForFunction(() => document.querySelector('#events li[data-kind="partitions.moved"]') !== null && document.querySelectorAll('#arrays .placement .cell[data-agent="agent-4"]').length === 0, { timeout: WAIT_MS });
  // The burst of moves is summed for 2 s: let its count settle before the picture.
  await new Promise((resolve) => setTimeout(resolve, 2500));
  await page.screenshot({ path: path.join(OUT_DIR, 'dashboard-agent-died.png') });
  console.log(`wrote ${path.join(OUT_DIR, 'dashboard-agent-died.png')}`);
  // The same page when the system prefers a dark theme.
  await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'dark' }]);
  await page.screenshot({ path: path.join(OUT_DIR, 'dashboard-dark.png') });
  console.log(`wrote ${path.join(OUT_DIR, 'dashboard-dark.png')}`);
  if (errors.length > 0) throw new Error(`the page reported errors:\n${errors.join('\n')}`);
} finally {
  await client.close();
  await browser.close();
  await up.stop();
}
