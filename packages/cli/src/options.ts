import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  BUILTIN_OPS,
  DTYPES,
  isSubjectToken,
  parseByteSize,
  resolveNatsAuth,
  type BuiltinOp,
  type DType,
  type NatsAuthOptions,
} from '@sharc/protocol';

/**
 * How options reach a command (yargs applies the order): flags > `SHARC_*` environment >
 * `--config FILE` (JSON or YAML) > defaults. Every value then passes one of the checks below,
 * whose errors name the option and say what to write instead; yargs reports them as usage
 * errors (exit code 2).
 */

/** A value the user gave that cannot be used; the CLI exits with code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Default NATS address: where `sharc up` listens unless told otherwise. */
export const DEFAULT_SERVERS = 'nats://127.0.0.1:4222';
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Reads a `--config` file: YAML (JSON is valid YAML), a mapping of option names to values. */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`--config ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new UsageError(`--config ${file} is not valid JSON or YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UsageError(`--config ${file} must hold a mapping of option names to values (e.g. servers: nats://host:4222)`);
  }
  return parsed as Record<string, unknown>;
}

export function positiveInteger(option: string): (value: unknown) => number | undefined {
  return (value) => {
    if (value === undefined) return undefined;
    const number = typeof value === 'number' ? value : Number(value);
    if (!Number.isSafeInteger(number) || number < 1) throw new UsageError(`--${option} must be a positive whole number, got ${JSON.stringify(value)}`);
    return number;
  };
}

/** A positive number of seconds (fractions allowed), as `--interval 0.5`. */
export function positiveSeconds(option: string, least = 0.2): (value: unknown) => number | undefined {
  return (value) => {
    if (value === undefined) return undefined;
    const number = typeof value === 'number' ? value : Number(value);
    // (Below `least`, a refresh would ask the coordinator again with no pause between answers.)
    if (typeof value === 'boolean' || !Number.isFinite(number) || number < least || number > 86_400) {
      throw new UsageError(`--${option} must be a number of seconds from ${least} to 86400, e.g. --${option} 2 or --${option} 0.5; got ${JSON.stringify(value)}`);
    }
    return number;
  };
}

export function nonNegativeInteger(option: string): (value: unknown) => number | undefined {
  return (value) => {
    if (value === undefined) return undefined;
    const number = typeof value === 'number' ? value : Number(value);
    if (!Number.isSafeInteger(number) || number < 0) throw new UsageError(`--${option} must be a whole number of 0 or more, got ${JSON.stringify(value)}`);
    return number;
  };
}

/** Milliseconds in each unit a duration flag takes. */
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A duration flag: a whole number of milliseconds (`90000`), or a whole number with a unit
 * (`500ms`, `30s`, `15m`, `24h`, `7d`), in milliseconds. Anything else is a usage error.
 */
export function duration(option: string): (value: unknown) => number | undefined {
  return (value) => {
    if (value === undefined) return undefined;
    const match = /^\s*(\d+)\s*(ms|s|m|min|h|d)?\s*$/.exec(String(value));
    const ms = match === null ? NaN : Number(match[1]) * DURATION_UNITS[match[2] ?? 'ms']!;
    if (!Number.isSafeInteger(ms) || ms < 1) {
      throw new UsageError(`--${option} must be a duration: milliseconds, or a whole number with ms, s, m, h or d (e.g. 30m, 24h, 7d), got ${JSON.stringify(value)}`);
    }
    return ms;
  };
}

export function port(option: string): (value: unknown) => number | undefined {
  return (value) => {
    if (value === undefined) return undefined;
    const number = typeof value === 'number' ? value : Number(value);
    if (!Number.isInteger(number) || number < 0 || number > 65535) throw new UsageError(`--${option} must be a port from 0 to 65535, got ${JSON.stringify(value)}`);
    return number;
  };
}

/** `4GiB`, `512MiB`, or a byte count; returned as the text, checked. */
export function byteSize(option: string): (value: unknown) => string | undefined {
  return (value) => {
    if (value === undefined) return undefined;
    try {
      parseByteSize(typeof value === 'number' ? value : String(value), `--${option}`);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    return String(value);
  };
}

/** One or more `nats://host:port` (comma separated). */
export function servers(value: unknown): string {
  const list = String(value)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (list.length === 0) throw new UsageError('--servers is empty: give nats://host:port (or set SHARC_SERVERS)');
  for (const entry of list) {
    if (!/^(nats|tls):\/\/[^/\s]+$/.test(entry) && !/^[^/\s:]+:\d+$/.test(entry)) {
      throw new UsageError(`--servers ${JSON.stringify(entry)} is not a NATS address: write nats://host:4222`);
    }
  }
  return list.join(',');
}

/** The NATS credential and TLS options every command takes (see cli.ts). */
export interface NatsAuthArgs {
  user?: string | undefined;
  password?: string | undefined;
  token?: string | undefined;
  nkeySeedFile?: string | undefined;
  credsFile?: string | undefined;
  tlsCaFile?: string | undefined;
  tlsCertFile?: string | undefined;
  tlsKeyFile?: string | undefined;
}

/**
 * The auth options of a command, checked (a user without a password, an unreadable seed
 * file…: a UsageError naming the flag); undefined when none is set.
 */
export function natsAuthOf(args: NatsAuthArgs): NatsAuthOptions | undefined {
  const auth: NatsAuthOptions = {};
  const tls: NonNullable<NatsAuthOptions['tls']> = {};
  if (args.user !== undefined) auth.user = args.user;
  if (args.password !== undefined) auth.password = args.password;
  if (args.token !== undefined) auth.token = args.token;
  if (args.nkeySeedFile !== undefined) auth.nkeySeedFile = args.nkeySeedFile;
  if (args.credsFile !== undefined) auth.credsFile = args.credsFile;
  if (args.tlsCaFile !== undefined) tls.caFile = args.tlsCaFile;
  if (args.tlsCertFile !== undefined) tls.certFile = args.tlsCertFile;
  if (args.tlsKeyFile !== undefined) tls.keyFile = args.tlsKeyFile;
  if (Object.keys(tls).length > 0) auth.tls = tls;
  if (Object.keys(auth).length === 0) return undefined;
  try {
    resolveNatsAuth(auth);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return auth;
}

export function clusterName(value: unknown): string {
  const name = String(value);
  if (!isSubjectToken(name)) throw new UsageError(`--cluster ${JSON.stringify(name)} may only hold letters, digits, '-' and '_'`);
  return name;
}

export function agentName(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const name = String(value);
  if (!isSubjectToken(name)) throw new UsageError(`--name ${JSON.stringify(name)} may only hold letters, digits, '-' and '_' (it is part of NATS subjects)`);
  return name;
}

export function logLevel(value: unknown): LogLevel {
  const level = String(value).toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(value)}`);
  return level as LogLevel;
}

export function dtype(option: string): (value: unknown) => DType | undefined {
  return (value) => {
    if (value === undefined) return undefined;
    if (!(DTYPES as readonly unknown[]).includes(value)) throw new UsageError(`--${option} must be one of ${DTYPES.join(', ')}, got ${JSON.stringify(value)}`);
    return value as DType;
  };
}

/** `--shape 1000,64` or `1000x64`. */
export function shape(value: unknown): number[] | undefined {
  if (value === undefined) return undefined;
  const dims = String(value).split(/[,x]/).map((d) => Number(d.trim()));
  if (dims.length < 1 || dims.length > 2 || dims.some((d) => !Number.isSafeInteger(d) || d < 1)) {
    throw new UsageError(`--shape must be ROWS or ROWS,COLS of positive whole numbers, got ${JSON.stringify(value)}`);
  }
  return dims;
}

/**
 * `sharc put FILE --agents-read --stream [auto]`: no value (yargs gives '') is a file-backed
 * array (fromFile's resident: false), `auto` one only when the cluster's memory cannot hold the
 * array. Anything else is refused, a path above all: `--stream FILE` took the file as its value.
 */
export function streamOption(value: unknown): false | 'auto' | undefined {
  // --no-stream: resident, as without the flag.
  if (value === undefined || value === false) return undefined;
  if (value === '' || value === true) return false;
  if (value === 'auto') return 'auto';
  throw new UsageError(
    `--stream takes no value (file-backed: jobs stream the rows from the file) or auto (file-backed only when the cluster's memory cannot hold the array), got ${JSON.stringify(value)}` +
      (/[./]/.test(String(value)) ? ': put FILE before the flag (sharc put FILE --agents-read --stream)' : ''),
  );
}

/** `--out-file /data/out.npy`: where a map writes its output, a .npy file on the agents' disk (absolute: the agents resolve nothing). */
export function npyOutputFile(option: string): (value: unknown) => string | undefined {
  return (value) => {
    if (value === undefined) return undefined;
    const text = String(value);
    if (typeof value !== 'string' || text.length === 0 || path.extname(text) !== '.npy' || path.basename(text) === '.npy') {
      throw new UsageError(`--${option} must be the path of a .npy file to write the output to (numpy.load reads it), e.g. --${option} /data/out.npy; got ${JSON.stringify(value)}`);
    }
    return path.resolve(text);
  };
}

/** `--params '{"threshold": 3}'`: JSON handed to the kernel as ctx.params. */
export function jsonParams(value: unknown): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(String(value));
  } catch (error) {
    throw new UsageError(`--params must be JSON (e.g. '{"threshold": 3}'): ${(error as Error).message}`);
  }
}

export interface KernelSpec {
  module: string;
  exportName: string | undefined;
}

/** `FILE.ts#export` (the export is optional where a default exists). */
export function kernelSpec(option: string, requireExport: boolean): (value: unknown) => KernelSpec | undefined {
  return (value) => {
    if (value === undefined) return undefined;
    const text = String(value);
    const hash = text.lastIndexOf('#');
    const module = hash === -1 ? text : text.slice(0, hash);
    const exportName = hash === -1 ? undefined : text.slice(hash + 1);
    if (module.length === 0 || exportName === '' || (requireExport && exportName === undefined)) {
      throw new UsageError(`--${option} must be FILE.ts#exportName (a module on this machine and the function it exports), got ${JSON.stringify(text)}`);
    }
    return { module, exportName };
  };
}

/** A reduce operation: a built-in name, or a kernel module `FILE.ts[#partial]`. */
export function reduceOperation(value: unknown): BuiltinOp | KernelSpec {
  const text = String(value);
  if ((BUILTIN_OPS as readonly string[]).includes(text)) return text as BuiltinOp;
  if (/\.(m?[jt]s|cjs|cts)(#.*)?$/.test(text)) return kernelSpec('op', false)(text)!;
  throw new UsageError(`reduce OP must be one of ${BUILTIN_OPS.join(', ')} or a kernel module FILE.ts[#partial], got ${JSON.stringify(text)}`);
}

/** `--axis 0`: one value per column of a 2-D array (1: per row, where supported). */
export function axisOption(value: unknown): 0 | 1 | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  if (text === '0' || text === '1') return Number(text) as 0 | 1;
  throw new UsageError(`--axis must be 0 (one value per column) or 1 (one value per row), got ${JSON.stringify(value)}; leave it out to reduce every element`);
}

/** `--ddof 1`: var and std divide by n - ddof. */
export function ddofOption(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const number = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(number) || number < 0 || String(value).trim() === '') throw new UsageError(`--ddof must be a non-negative whole number, got ${JSON.stringify(value)}`);
  return number;
}

/** `--range lo,hi` (write `--range=-1,1` when lo is negative): histogram's outer edges. */
export function rangeOption(value: unknown): [number, number] | undefined {
  if (value === undefined) return undefined;
  const parts = String(value).split(',').map((part) => (part.trim() === '' ? NaN : Number(part)));
  if (parts.length !== 2 || !parts.every(Number.isFinite) || !(parts[0]! < parts[1]!)) {
    throw new UsageError(`--range must be LO,HI with LO < HI, two finite numbers (e.g. --range=-1,1), got ${JSON.stringify(value)}`);
  }
  return [parts[0]!, parts[1]!];
}
