import type { Argv } from 'yargs';
import { nearestName } from '@sharc/protocol';

/**
 * A `--config` file is shared by every command, so a key that is an option of another command
 * is ignored (see cli.ts). A key that no command declares is a mistake (`server:` for
 * `servers:` would silently leave the default NATS address): it fails with the nearest name.
 */

const camelCase = (key: string) => key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Keys yargs itself takes besides the declared options. */
const BUILT_IN_KEYS = ['config', 'help', 'version'];

/**
 * Every option and positional name the command line declares, camelCase → as declared, read by
 * running `declare` (which builds the whole CLI) on a recorder: the names come from the same
 * `.option(…)` calls the commands make, so this list cannot drift from them.
 */
export function declaredOptionNames(declare: (start: Argv) => unknown): Map<string, string> {
  const names = new Map(BUILT_IN_KEYS.map((key) => [key, key]));
  const recorder: object = new Proxy(
    {},
    {
      get: (_target, method) => {
        if (typeof method !== 'string' || method === 'then') return undefined;
        return (...args: unknown[]) => {
          const [first, , builder] = args;
          if ((method === 'option' || method === 'options' || method === 'positional') && typeof first === 'string') names.set(camelCase(first), first);
          if (method === 'options' && typeof first === 'object' && first !== null) for (const key of Object.keys(first)) names.set(camelCase(key), key);
          // A command's options are declared in its builder: run it on the recorder too.
          if (method === 'command' && typeof builder === 'function') (builder as (y: object) => unknown)(recorder);
          if (method === 'command' && typeof builder === 'object' && builder !== null) for (const key of Object.keys(builder)) names.set(camelCase(key), key);
          return recorder;
        };
      },
    },
  );
  declare(recorder as Argv);
  return names;
}

/** The error for a config-file key no command takes, with the nearest option name when one is close. */
export function unknownConfigKeyMessage(key: string, file: string, declared: ReadonlyMap<string, string>): string {
  const camelNames = [...declared.keys()];
  const nearest = nearestName(camelCase(key), camelNames);
  const hint = nearest === undefined ? 'sharc <command> --help lists the options' : `did you mean '${declared.get(nearest)!}'?`;
  return `--config ${file}: unknown option '${key}' (no sharc command takes it): ${hint}`;
}
