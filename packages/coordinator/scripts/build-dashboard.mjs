/**
 * Builds the dashboard's page: bundles its TypeScript (src/dashboard/page/main.ts, for the
 * browser) into one file with esbuild and copies the HTML and CSS beside it, into
 * dist/src/dashboard/page/, where the coordinator serves them from. Everything the page needs
 * is in those three files: no CDN, nothing fetched from the internet. Type-checking is
 * `npm run typecheck` (the page's own tsconfig, with DOM types); esbuild only strips types.
 * Run by `npm run build` (root and this package).
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { URL, fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const pageDir = new URL('../src/dashboard/page/', import.meta.url);
const outDir = new URL('../dist/src/dashboard/page/', import.meta.url);

await mkdir(outDir, { recursive: true });
await build({
  entryPoints: [fileURLToPath(new URL('main.ts', pageDir))],
  outfile: fileURLToPath(new URL('dashboard.js', outDir)),
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
});
for (const file of ['index.html', 'dashboard.css']) await copyFile(new URL(file, pageDir), new URL(file, outDir));
