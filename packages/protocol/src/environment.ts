import { nearestName } from './options-check.js';

/**
 * The one rule for reading `SHARC_*` variables: an empty one counts as unset. `SHARC_CLUSTER=`
 * in a shell or an env file means "no value", never "the cluster named ''".
 */
export function environmentValue(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

/**
 * Deletes every empty `SHARC_*` variable from `env`, for readers that take a whole environment
 * (yargs' `.env('SHARC')`, child processes) rather than calling environmentValue.
 */
export function dropEmptySharcVariables(env: NodeJS.ProcessEnv = process.env): void {
  for (const name of Object.keys(env)) {
    if (name.startsWith('SHARC_') && environmentValue(name, env) === undefined) delete env[name];
  }
}

/**
 * `SHARC_*` variables set in `env` that are no name in `known` but close to one (`SHARC_SERVER`
 * for `SHARC_SERVERS`): likely typos, worth a warning. Variables of other tools that share the
 * prefix (`SHARC_E2E_IMAGE`) are far from every name and not returned.
 */
export function misspeltSharcVariables(known: readonly string[], env: NodeJS.ProcessEnv = process.env): Array<{ name: string; meant: string }> {
  const misspelt: Array<{ name: string; meant: string }> = [];
  for (const name of Object.keys(env)) {
    if (!name.startsWith('SHARC_') || known.includes(name) || environmentValue(name, env) === undefined) continue;
    const meant = nearestName(name, known);
    if (meant !== undefined) misspelt.push({ name, meant });
  }
  return misspelt;
}
