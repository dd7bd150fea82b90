#!/usr/bin/env node
// The `sharc` executable: a committed shim, so npm can link it at install time, before the
// TypeScript is built. The command itself is packages/cli/src/bin.ts.
try {
  await import('../dist/src/bin.js');
} catch (error) {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/src/bin.js')) {
    process.stderr.write('sharc: the CLI is not built yet: run `npm run build` at the repository root\n');
    process.exit(1);
  }
  throw error;
}
