import { createRequire } from 'node:module';
import path from 'node:path';
import { startLocalCluster, type LocalCluster, type LocalClusterOptions } from '@sharc/launcher';

const require = createRequire(import.meta.url);

/** The built `sharc` command of this repository. */
export const SHARC_BIN = path.join(path.dirname(require.resolve('@sharc/cli/package.json')), 'dist', 'src', 'bin.js');

export type ProcessClusterOptions = Omit<LocalClusterOptions, 'sharcBin'>;
export type ProcessCluster = LocalCluster;

/**
 * A real cluster on this machine started through the `sharc` command: nats-server, a
 * coordinator process and N agent processes, each a separate process talking over NATS, as on
 * separate hosts. Service logs are shown with SHARC_TEST_VERBOSE=1.
 */
export function startProcessCluster(options: ProcessClusterOptions = {}): Promise<ProcessCluster> {
  return startLocalCluster({
    ...options,
    sharcBin: SHARC_BIN,
    ...(process.env.SHARC_TEST_VERBOSE ? { env: { ...options.env, SHARC_LOG_LEVEL: 'debug' }, echo: true } : {}),
  });
}
