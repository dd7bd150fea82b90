/** What the auth and TLS tests share: a recording logger, a test CA made with openssl, a real job. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@sharc/protocol';
import type { Cluster } from '../src/index.js';

/** The per-role permissions that ship in infra/ (the tests run the real file). */
export const ROLES_CONF = fileURLToPath(new URL('../../../../infra/nats-roles.conf', import.meta.url));

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  fields: Record<string, unknown>;
}

/** A Logger that keeps every entry and lets a test wait for one. */
export class RecordingLogger implements Logger {
  readonly entries: LogEntry[] = [];
  private readonly waiters: Array<{ match: (entry: LogEntry) => boolean; resolve: (entry: LogEntry) => void }> = [];

  debug = (message: string, fields: Record<string, unknown> = {}) => this.add({ level: 'debug', message, fields });
  info = (message: string, fields: Record<string, unknown> = {}) => this.add({ level: 'info', message, fields });
  warn = (message: string, fields: Record<string, unknown> = {}) => this.add({ level: 'warn', message, fields });
  error = (message: string, fields: Record<string, unknown> = {}) => this.add({ level: 'error', message, fields });

  /** Resolves with the first entry (logged before or after the call) that matches. */
  waitFor(match: (entry: LogEntry) => boolean): Promise<LogEntry> {
    const seen = this.entries.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  private add(entry: LogEntry): void {
    this.entries.push(entry);
    for (const waiter of [...this.waiters]) {
      if (!waiter.match(entry)) continue;
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve(entry);
    }
  }
}

export const permissionViolation = (operation: 'publish' | 'subscription', subject: string) => (entry: LogEntry) =>
  entry.level === 'error' && entry.message === 'nats permission violation' && entry.fields.operation === operation && entry.fields.subject === subject;

export interface TestCertificates {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** A second CA that signed nothing the server uses. */
  otherCaFile: string;
}

/** A CA and a server certificate for 127.0.0.1 and localhost (subjectAltName), made by openssl in `dir`. */
export async function makeTestCertificates(dir: string): Promise<TestCertificates> {
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ecKey, '-keyout', file('ca-key.pem'), '-out', file('ca.pem'), '-days', '2', '-subj', '/CN=sharc test CA');
  openssl('req', '-x509', ...ecKey, '-keyout', file('other-ca-key.pem'), '-out', file('other-ca.pem'), '-days', '2', '-subj', '/CN=some other CA');
  openssl('req', ...ecKey, '-keyout', file('server-key.pem'), '-out', file('server.csr'), '-subj', '/CN=localhost');
  await writeFile(file('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl('x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca-key.pem'), '-CAcreateserial',
    '-out', file('server.pem'), '-days', '2', '-extfile', file('server.ext'));
  return { caFile: file('ca.pem'), certFile: file('server.pem'), keyFile: file('server-key.pem'), otherCaFile: file('other-ca.pem') };
}

/** Puts 1..n on the cluster, reduces it with sum on the agents, and checks n(n+1)/2; deletes the array. */
export async function checkSumJob(cluster: Cluster, n = 10_000): Promise<void> {
  const array = await cluster.put(Float64Array.from({ length: n }, (_, i) => i + 1), { partitions: 2 });
  try {
    assert.equal(await cluster.reduce(array, 'sum'), (n * (n + 1)) / 2);
  } finally {
    await array.delete();
  }
}
