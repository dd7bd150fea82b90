/**
 * The README's quick start, runnable: `npm run build && node examples/dist/quick-start.js`
 * (embedded cluster), or with SHARC_SERVERS=nats://127.0.0.1:4222 against `sharc up`.
 */
import { fileURLToPath } from 'node:url';
import { connect } from '@sharc/sdk';

const kernels = fileURLToPath(new URL('../kernels/scale.ts', import.meta.url));

const cluster = await connect();
try {
  const rows = 100_000;
  const cols = 100;
  const data = new Float64Array(rows * cols).map((_, i) => (i % 7) - 3);
  const a = await cluster.put(data, { shape: [rows, cols], name: 'quick-start', replace: true });
  console.log('sum', await cluster.reduce(a, 'sum'), 'max', await cluster.reduce(a, 'max'));
  console.log('values above 1:', await cluster.reduce(a, { module: kernels, params: { threshold: 1 } }));
  const tripled = await cluster.map(a, { module: kernels, kernel: 'scale', params: { factor: 3 } }, { name: 'tripled', replace: true });
  console.log('sum of tripled', await cluster.reduce(tripled, 'sum'));
} finally {
  await cluster.close();
}
