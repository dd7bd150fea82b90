import { readFileSync } from 'node:fs';
import { credsAuthenticator, nkeyAuthenticator, nkeys, type ConnectionOptions } from '@nats-io/transport-node';
import { environmentValue } from '../environment.js';
import { InvalidArgumentError } from '../errors.js';
import { checkKeys, keysOf } from '../options-check.js';

/**
 * How a sharc process proves who it is to nats-server, and how it checks the server: one of
 * user + password, a token, an nkey seed file or a creds file (JWT + seed), and optionally TLS.
 * The same type is taken by the SDK (`connect({ servers, auth })`), the `sharc` command (flags,
 * `SHARC_*` variables, `--config`), the coordinator and the agents.
 */
export interface NatsAuthOptions {
  /** User name; needs `password`. (sharc: --user, SHARC_USER) */
  user?: string;
  /** The user's password. (sharc: --password, SHARC_PASSWORD) */
  password?: string;
  /** A token the server's `authorization { token }` accepts. (sharc: --token, SHARC_TOKEN) */
  token?: string;
  /** A file holding an nkey user seed (`SU…`). (sharc: --nkey-seed-file, SHARC_NKEY_SEED_FILE) */
  nkeySeedFile?: string;
  /** A `.creds` file (user JWT and seed, from `nsc`). (sharc: --creds-file, SHARC_CREDS_FILE) */
  credsFile?: string;
  /** TLS: without it the connection is plain unless the server requires TLS. */
  tls?: NatsTlsOptions;
}

export interface NatsTlsOptions {
  /** PEM file of the CA that signed the server's certificate. (sharc: --tls-ca-file, SHARC_TLS_CA_FILE) */
  caFile?: string;
  /** PEM client certificate, for servers that verify clients; needs `keyFile`. (sharc: --tls-cert-file) */
  certFile?: string;
  /** PEM key of `certFile`. (sharc: --tls-key-file) */
  keyFile?: string;
}

const NATS_AUTH_KEYS = keysOf<NatsAuthOptions>()(['user', 'password', 'token', 'nkeySeedFile', 'credsFile', 'tls']);
const NATS_TLS_KEYS = keysOf<NatsTlsOptions>()(['caFile', 'certFile', 'keyFile']);

/** Which way of authenticating was configured, for error messages and logs. */
export type NatsAuthMethod = 'none' | 'user' | 'token' | 'nkey' | 'creds';

export interface ResolvedNatsAuth {
  method: NatsAuthMethod;
  /** `user 'client'`, `an nkey seed from /path`, …: what the server refused. */
  description: string;
  /** What nats.js `connect()` takes for it. */
  connectOptions: Pick<ConnectionOptions, 'user' | 'pass' | 'token' | 'authenticator' | 'tls'>;
}

/** Where each field is set on the `sharc` command line and in its environment. */
export const NATS_AUTH_SOURCES = {
  user: '--user / SHARC_USER',
  password: '--password / SHARC_PASSWORD',
  token: '--token / SHARC_TOKEN',
  nkeySeedFile: '--nkey-seed-file / SHARC_NKEY_SEED_FILE',
  credsFile: '--creds-file / SHARC_CREDS_FILE',
  'tls.caFile': '--tls-ca-file / SHARC_TLS_CA_FILE',
  'tls.certFile': '--tls-cert-file / SHARC_TLS_CERT_FILE',
  'tls.keyFile': '--tls-key-file / SHARC_TLS_KEY_FILE',
} as const;
type AuthField = keyof typeof NATS_AUTH_SOURCES;

const FIELD_OF_METHOD: Record<Exclude<NatsAuthMethod, 'none'>, string> = {
  user: 'user/password',
  token: 'token',
  nkey: 'nkeySeedFile',
  creds: 'credsFile',
};
const named = (field: AuthField) => `${field} (sharc: ${NATS_AUTH_SOURCES[field]})`;

function refuse(message: string, field: AuthField): never {
  throw new InvalidArgumentError(`NATS auth: ${message}`, { details: { option: field } });
}

/** Reads a file named by `field`, failing with the option's name and what to do. */
function readOption(file: string, field: AuthField): Uint8Array {
  try {
    return readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    return refuse(`${named(field)} ${JSON.stringify(file)} cannot be read (${code}): give a readable file`, field);
  }
}

/**
 * Checks the options once and turns them into nats.js connect options. Throws
 * InvalidArgumentError naming the option (and its sharc flag) and what to do: a user without a
 * password, two ways of authenticating at once, an unreadable or malformed seed, creds or PEM file.
 */
export function resolveNatsAuth(options: NatsAuthOptions = {}): ResolvedNatsAuth {
  checkKeys(options, { of: 'auth', keys: NATS_AUTH_KEYS });
  if (options.tls !== undefined) checkKeys(options.tls, { of: 'auth.tls', keys: NATS_TLS_KEYS });
  const given = (value: string | undefined) => value !== undefined && value !== '';
  const methods: Array<Exclude<NatsAuthMethod, 'none'>> = [];
  if (given(options.user) || given(options.password)) methods.push('user');
  if (given(options.token)) methods.push('token');
  if (given(options.nkeySeedFile)) methods.push('nkey');
  if (given(options.credsFile)) methods.push('creds');
  if (methods.length > 1) {
    refuse(`give one way to authenticate, not ${methods.map((m) => FIELD_OF_METHOD[m]).join(' and ')}: a NATS user has one`, 'user');
  }
  const tls = resolveTls(options.tls);
  const method = methods[0] ?? 'none';
  switch (method) {
    case 'none':
      return { method, description: 'no credentials', connectOptions: { ...tls } };
    case 'user':
      if (!given(options.user)) refuse(`${named('password')} is set without a user: set ${named('user')} too`, 'user');
      if (!given(options.password)) refuse(`user ${JSON.stringify(options.user)} has no password: set ${named('password')}`, 'password');
      return { method, description: `user '${options.user!}'`, connectOptions: { user: options.user!, pass: options.password!, ...tls } };
    case 'token':
      return { method, description: 'the token', connectOptions: { token: options.token!, ...tls } };
    case 'nkey': {
      const file = options.nkeySeedFile!;
      const seed = new TextEncoder().encode(new TextDecoder().decode(readOption(file, 'nkeySeedFile')).trim());
      if (/BEGIN NATS USER JWT/.test(new TextDecoder().decode(seed))) {
        refuse(`${named('nkeySeedFile')} ${JSON.stringify(file)} is a creds file: pass it as ${named('credsFile')}`, 'nkeySeedFile');
      }
      try {
        const pair = nkeys.fromSeed(seed);
        if (!pair.getPublicKey().startsWith('U')) throw new Error('not a user seed');
      } catch (error) {
        refuse(`${named('nkeySeedFile')} ${JSON.stringify(file)} holds no nkey user seed (SU…, e.g. from nk -gen user): ${(error as Error).message}`, 'nkeySeedFile');
      }
      return { method, description: `the nkey seed in ${file}`, connectOptions: { authenticator: nkeyAuthenticator(seed), ...tls } };
    }
    case 'creds': {
      const file = options.credsFile!;
      const creds = readOption(file, 'credsFile');
      const text = new TextDecoder().decode(creds);
      if (!/BEGIN NATS USER JWT/.test(text) || !/BEGIN USER NKEY SEED/.test(text)) {
        refuse(`${named('credsFile')} ${JSON.stringify(file)} is not a NATS creds file (a user JWT and seed, e.g. from nsc generate creds)`, 'credsFile');
      }
      return { method, description: `the creds in ${file}`, connectOptions: { authenticator: credsAuthenticator(creds), ...tls } };
    }
  }
}

function resolveTls(tls: NatsTlsOptions | undefined): Pick<ConnectionOptions, 'tls'> {
  if (tls === undefined) return {};
  const { caFile, certFile, keyFile } = tls;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    refuse(certFile === undefined ? `${named('tls.keyFile')} is set without ${named('tls.certFile')}` : `${named('tls.certFile')} needs ${named('tls.keyFile')} too`, certFile === undefined ? 'tls.certFile' : 'tls.keyFile');
  }
  const checked: Record<string, string> = {};
  for (const [field, file] of [['tls.caFile', caFile], ['tls.certFile', certFile], ['tls.keyFile', keyFile]] as const) {
    if (file === undefined) continue;
    const text = new TextDecoder().decode(readOption(file, field));
    if (!text.includes('-----BEGIN ')) refuse(`${named(field)} ${JSON.stringify(file)} is not a PEM file (-----BEGIN …)`, field);
    checked[field.slice('tls.'.length)] = file;
  }
  return { tls: checked };
}

const AUTH_VARIABLES = { user: 'SHARC_USER', password: 'SHARC_PASSWORD', token: 'SHARC_TOKEN', nkeySeedFile: 'SHARC_NKEY_SEED_FILE', credsFile: 'SHARC_CREDS_FILE' } as const;
const TLS_VARIABLES = { caFile: 'SHARC_TLS_CA_FILE', certFile: 'SHARC_TLS_CERT_FILE', keyFile: 'SHARC_TLS_KEY_FILE' } as const;
/** The variables natsAuthFromEnv reads. */
export const NATS_AUTH_VARIABLES: readonly string[] = [...Object.values(AUTH_VARIABLES), ...Object.values(TLS_VARIABLES)];

/** Auth options from `SHARC_*` variables, for the SDK when `connect()` gets no `auth`. */
export function natsAuthFromEnv(env: NodeJS.ProcessEnv = process.env): NatsAuthOptions | undefined {
  const get = (name: string) => environmentValue(name, env);
  const auth: NatsAuthOptions = {};
  const fields = AUTH_VARIABLES;
  for (const [field, name] of Object.entries(fields) as Array<[keyof typeof fields, string]>) {
    const value = get(name);
    if (value !== undefined) auth[field] = value;
  }
  const tls: NatsTlsOptions = {};
  const tlsFields = TLS_VARIABLES;
  for (const [field, name] of Object.entries(tlsFields) as Array<[keyof typeof tlsFields, string]>) {
    const value = get(name);
    if (value !== undefined) tls[field] = value;
  }
  if (Object.keys(tls).length > 0) auth.tls = tls;
  return Object.keys(auth).length === 0 ? undefined : auth;
}
