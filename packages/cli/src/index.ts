/**
 * @sharc/cli: the `sharc` command. Run it as `npx sharc --help`; from code:
 *
 * ```ts
 * import { runCli } from '@sharc/cli';
 * process.exitCode = await runCli(['status', '--json']);
 * ```
 */
export { runCli } from './cli.js';
