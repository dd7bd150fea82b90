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
