#!/usr/bin/env node
// The `sharc` command of the sharc package: the CLI of @sharc/cli, which the published package
// carries in lib/cli (scripts/pack-sharc.mjs rewrites this specifier to that path).
// `sharc up` starts each service as `node <@sharc/cli's own bin.js> coordinator|agent`.
let cli;
try {
  cli = await import('@sharc/cli');
} catch (error) {
  // In a checkout (npm workspaces), before the TypeScript is built.
  if (error?.code === 'ERR_MODULE_NOT_FOUND') {
    process.stderr.write(`sharc: ${error.message}\nsharc: in a checkout of the repository, run \`npm run build\` at its root first\n`);
    process.exit(1);
  }
  throw error;
}
process.exitCode = await cli.runCli(process.argv.slice(2));
