import { createRequire } from 'node:module';
import type { Argv } from 'yargs';
import { EXIT_USAGE, type GlobalArgs } from './context.js';
import { arrayCommands } from './commands/arrays.js';
import { cancelCommand } from './commands/cancel.js';
import { computeCommands } from './commands/compute.js';
import { opsCommands } from './commands/ops.js';
import { demoCommand } from './commands/demo.js';
import { inspectCommands } from './commands/inspect.js';
import { jobCommands } from './commands/jobs.js';
import { serviceCommands } from './commands/services.js';
import { upCommand } from './commands/up.js';
import { clusterName, DEFAULT_SERVERS, LOG_LEVELS, logLevel, natsAuthOf, readConfigFile, servers } from './options.js';
import { declaredOptionNames, unknownConfigKeyMessage } from './config-keys.js';
import { dropEmptySharcVariables, misspeltSharcVariables, nearestName } from '@sharc/protocol';

/**
 * yargs' CommonJS build: its help wraps at word boundaries (cliui with wrap-ansi), while the ES
 * module build's cliui cuts lines at any character ("stor\ned" at 80 columns).
 */
const yargs = createRequire(import.meta.url)('yargs') as typeof import('yargs').default;

const SHARC_VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

/**
 * Runs the `sharc` command line and resolves with its exit code: 0 ok, 1 the job or the
 * user's input failed, 2 the command line is wrong. Service commands (coordinator, agent, up)
 * run until stopped and exit the process themselves.
 */
export async function runCli(argv: readonly string[]): Promise<number> {
  // `SHARC_CLUSTER=` means unset (for yargs' env layer too, and for the services `up` starts).
  dropEmptySharcVariables(process.env);
  warnMisspeltVariables();
  const ignored = new Set<string>();
  for (;;) {
    let exitCode = 0;
    let unknownElsewhere: string[] = [];
    const cli = buildCli([...argv], {
      exit: (code) => (exitCode = code),
      retryIgnoring: (keys) => (unknownElsewhere = keys),
      ignored,
    });
    try {
      await cli.parseAsync();
    } catch {
      // A usage error: fail() has printed it and set the exit code, unless retried below.
    }
    if (unknownElsewhere.length === 0) return exitCode;
    // SHARC_* variables and config-file keys that are no option of this command (an option of
    // another command, SHARC_E2E_CONTAINERS…) are not the user's command line: ignore them.
    for (const key of unknownElsewhere) {
      ignored.add(key);
      delete process.env[environmentName(key)];
    }
  }
}

interface CliHooks {
  exit: (code: number) => void;
  /** Parse again without these option keys from the environment and the config file. */
  retryIgnoring: (keys: string[]) => void;
  /** Option keys (camelCase) to drop from the config file. */
  ignored: ReadonlySet<string>;
  /** What the options are declared on: yargs, or a recorder of their names (config-keys.ts). */
  start?: Argv;
}

/**
 * SHARC_* variables that are no option of any command are ignored (other tools share the
 * prefix), but one a letter or two from an option (`SHARC_SERVER`) is most likely meant as it.
 */
function warnMisspeltVariables(): void {
  const known = [...everyOptionName().keys()].map(environmentName);
  for (const { name, meant } of misspeltSharcVariables(known)) {
    process.stderr.write(`sharc: warning: ${name} is no option of any command, ignored: did you mean ${meant}?\n`);
  }
}

let declaredNames: Map<string, string> | undefined;
/** Every option name of every command (camelCase → as declared). */
function everyOptionName(): Map<string, string> {
  declaredNames ??= declaredOptionNames((start) => buildCli([], { exit: () => undefined, retryIgnoring: () => undefined, ignored: new Set(), start }));
  return declaredNames;
}

const camelCase = (key: string) => key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** `stopWithParent` -> `SHARC_STOP_WITH_PARENT`: the variable yargs' .env('SHARC') reads it from. */
function environmentName(key: string): string {
  return `SHARC_${key.replace(/[A-Z]/g, (c) => `_${c}`).replace(/-/g, '_').toUpperCase()}`;
}

/**
 * The keys behind an "Unknown argument" failure when none was typed on the command line: each
 * came from a SHARC_* variable or the config file. (A typed one fails again on the retry, once
 * the others are ignored, and is reported then.)
 */
function unknownFromElsewhere(message: string | undefined, configKeys: ReadonlySet<string>, ignored: ReadonlySet<string>): string[] {
  const match = /^Unknown arguments?: (.*)$/.exec(message ?? '');
  if (match === null) return [];
  const keys = match[1]!.split(', ').map(camelCase);
  const elsewhere = keys.every((key) => !ignored.has(key) && (process.env[environmentName(key)] !== undefined || configKeys.has(key)));
  return elsewhere ? keys : [];
}

/**
 * yargs' "Unknown argument: detatch" with the nearest flag of the command named, as an
 * unknown option key is everywhere else: "unknown flag --detatch: did you mean '--detach'?".
 */
function withNearestFlags(message: string, declared: readonly string[]): string {
  const match = /^Unknown arguments?: (.*)$/.exec(message);
  if (match === null) return message;
  // yargs names a dashed flag twice (keep-result, keepResult): once each, as typed.
  const typed: string[] = [];
  for (const key of match[1]!.split(', ')) if (!typed.some((seen) => camelCase(seen) === camelCase(key))) typed.push(key);
  const flags = declared.filter((name) => !/[A-Z]/.test(name));
  return typed
    .map((key) => {
      const nearest = nearestName(key, flags);
      const flag = `${key.length === 1 ? '-' : '--'}${key}`;
      return nearest === undefined ? `unknown flag ${flag}` : `unknown flag ${flag}: did you mean '${nearest.length === 1 ? '-' : '--'}${nearest}'?`;
    })
    .join('; ');
}

/** The option keys yargs knows in the command that failed (it resets itself per command; getOptions is untyped in @types/yargs). */
function declaredKeys(parser: unknown): string[] {
  const options = (parser as { getOptions?: () => { key?: Record<string, unknown> } } | undefined)?.getOptions?.();
  return Object.keys(options?.key ?? {});
}

/** Help's width: the terminal's, else $COLUMNS (as shells set it), at most 120 characters. */
function helpWidth(): number {
  const columns = process.stdout.columns ?? Number(process.env.COLUMNS);
  return Number.isInteger(columns) && columns > 0 ? Math.min(MAX_HELP_WIDTH, columns) : MAX_HELP_WIDTH;
}
const MAX_HELP_WIDTH = 120;

/** Global flags that take no value: the word after one of them may be the command. */
const FLAGS_WITHOUT_VALUE = new Set(['--json', '--verbose', '--help', '-h', '--version', '--no-json', '--no-verbose']);

/**
 * yargs' message for a usage error, with the unknown command named: `recommendCommands` says
 * only "Did you mean reduce?", so the word typed (the first one that is no flag or flag value)
 * is put in front of it.
 */
function usageMessage(message: string, argv: readonly string[]): string {
  // `sharc put --agents-read --stream FILE`: the flag took FILE as its value (it takes `auto`).
  const streamValue = argv[argv.indexOf('--stream') + 1];
  if (/^Not enough non-option arguments/.test(message) && argv.includes('--stream') && streamValue !== undefined && !streamValue.startsWith('-') && streamValue !== 'auto') {
    return `${message}: --stream took ${JSON.stringify(streamValue)} as its value (it takes none, or auto): put FILE before it (sharc put FILE --agents-read --stream)`;
  }
  const recommended = /^Did you mean (\S+)\?$/.exec(message)?.[1];
  if (recommended === undefined) return message;
  const typed = argv.find((word, i) => !word.startsWith('-') && (i === 0 || !argv[i - 1]!.startsWith('-') || argv[i - 1]!.includes('=') || FLAGS_WITHOUT_VALUE.has(argv[i - 1]!)));
  return typed === undefined ? `unknown command: did you mean ${recommended}?` : `unknown command '${typed}': did you mean ${recommended}?`;
}

function buildCli(argv: string[], hooks: CliHooks): Argv<GlobalArgs> {
  const { exit } = hooks;
  const configKeys = new Set<string>();
  /** camelCase → as written in the file. */
  const writtenKeys = new Map<string, string>();
  let configFile = '';
  /** A usage error was printed: yargs calls fail() again for it from each enclosing command (sharc submit reduce). */
  let told = false;
  const readConfig = (file: string) => {
    configFile = file;
    const entries = Object.entries(readConfigFile(file)).filter(([key]) => !hooks.ignored.has(camelCase(key)));
    for (const [key] of entries) configKeys.add(camelCase(key));
    for (const [key] of entries) writtenKeys.set(camelCase(key), key);
    return Object.fromEntries(entries);
  };
  let cli = (hooks.start ?? yargs(argv))
    .scriptName('sharc')
    .usage('$0 <command> [options]\n\nSHared ARray Cluster: map, reduce and custom kernels over big typed arrays on every core of every host.')
    // Precedence (yargs): flags > SHARC_* environment > --config file > defaults.
    .env('SHARC')
    .config('config', 'JSON or YAML file of options (e.g. servers: nats://10.0.0.1:4222)', readConfig)
    .option('servers', { type: 'string', default: DEFAULT_SERVERS, coerce: servers, describe: 'NATS address(es) of the cluster, comma separated', global: true })
    .option('cluster', { type: 'string', default: 'default', coerce: clusterName, describe: 'Cluster name, when several share one NATS', global: true })
    .option('json', { type: 'boolean', default: false, describe: 'Print results as JSON (for scripts)', global: true })
    .option('verbose', { type: 'boolean', default: false, describe: 'Show stacks and causes of errors', global: true })
    .option('progress', { choices: ['auto', 'always', 'never'] as const, default: 'auto' as const, describe: 'Progress bars: auto = on a terminal, never with --json', global: true })
    .option('log-level', { choices: LOG_LEVELS, default: 'info' as const, coerce: logLevel, describe: 'Service log level (coordinator, agent, up)', global: true })
    .group(['user', 'password', 'token', 'nkey-seed-file', 'creds-file', 'tls-ca-file', 'tls-cert-file', 'tls-key-file'], 'NATS auth and TLS (infra/nats-auth.conf):')
    .option('user', { type: 'string', describe: 'NATS user (with --password; prefer SHARC_PASSWORD or --config for the password)', global: true })
    .option('password', { type: 'string', describe: 'Password of --user', global: true })
    .option('token', { type: 'string', describe: 'NATS token (authorization { token } on the server)', global: true })
    .option('nkey-seed-file', { type: 'string', describe: 'File with an nkey user seed (SU…)', global: true })
    .option('creds-file', { type: 'string', describe: 'NATS .creds file (user JWT and seed)', global: true })
    .option('tls-ca-file', { type: 'string', describe: "PEM CA of the server's certificate: connect with TLS", global: true })
    .option('tls-cert-file', { type: 'string', describe: 'PEM client certificate, for servers that verify clients (with --tls-key-file)', global: true })
    .option('tls-key-file', { type: 'string', describe: 'PEM key of --tls-cert-file', global: true })
    // Checked once here, so a bad combination is a usage error (exit 2) naming the flag.
    .check((args) => {
      natsAuthOf(args as Parameters<typeof natsAuthOf>[0]);
      return true;
    }, true)
    .strictCommands()
    .recommendCommands()
    .strictOptions()
    .demandCommand(1, 'name a command: sharc --help lists them')
    .help()
    .alias('h', 'help')
    .version(SHARC_VERSION)
    .wrap(helpWidth())
    .exitProcess(false)
    .fail((message, error) => {
      if (told) throw error ?? new Error(message);
      const elsewhere = unknownFromElsewhere(message, configKeys, hooks.ignored);
      // A config-file key of another command is ignored; one no command takes is a mistake.
      const unknownToAll = elsewhere.find((key) => configKeys.has(key) && !everyOptionName().has(key));
      if (unknownToAll !== undefined) {
        message = unknownConfigKeyMessage(writtenKeys.get(unknownToAll) ?? unknownToAll, configFile, everyOptionName());
      } else if (elsewhere.length > 0) {
        hooks.retryIgnoring(elsewhere);
        throw error ?? new Error(message);
      } else if (message !== undefined && message !== null) {
        message = withNearestFlags(message, declaredKeys(cli));
      }
      exit(EXIT_USAGE);
      told = true;
      process.stderr.write(`sharc: ${usageMessage(message ?? error?.message ?? 'bad command line', argv)}\nRun sharc --help (or sharc <command> --help) for usage.\n`);
      throw error ?? new Error(message);
    }) as unknown as Argv<GlobalArgs>;
  for (const add of [upCommand, serviceCommands, inspectCommands, arrayCommands, computeCommands, jobCommands, opsCommands, cancelCommand, demoCommand]) cli = add(cli, exit);
  return cli.epilog('Docs: README.md. Every option can also come from SHARC_<OPTION> (e.g. SHARC_SERVERS) or --config.');
}
