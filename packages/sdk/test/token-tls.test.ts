/**
 * A token-protected cluster, and a TLS cluster whose CA is made in the test by openssl: the
 * coordinator and agent processes log in the same way (CLI flags), a client with the token or
 * the CA runs a real job, and one without is refused with an error that says what to pass.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startProcessCluster, type ProcessCluster } from '@sharc/test-support';
import { ConnectionError, connect } from '../src/index.js';
import { checkSumJob, makeTestCertificates, type TestCertificates } from './auth-fixtures.js';

describe('NATS token auth', () => {
  let processes: ProcessCluster;
  const token = randomBytes(16).toString('hex');
  before(async () => {
    processes = await startProcessCluster({
      agents: 1,
      threads: 1,
      memory: '256MiB',
      natsConfig: `authorization { token: "${token}" }`,
      coordinatorArgs: ['--token', token],
      agentArgs: ['--token', token],
    });
  });
  after(() => processes?.stop());

  it('runs a job for a client with the token', async () => {
    const cluster = await connect({ servers: processes.url, auth: { token } });
    try {
      await checkSumJob(cluster);
    } finally {
      await cluster.close();
    }
  });

  it('refuses a wrong token and a client without one', async () => {
    await assert.rejects(connect({ servers: processes.url, auth: { token: 'guess' } }), (error: Error) => {
      assert.ok(error instanceof ConnectionError, String(error));
      assert.match(error.message, /refused the credentials \(Authorization Violation\) of the token: .*--token \/ SHARC_TOKEN/);
      return true;
    });
    await assert.rejects(connect({ servers: processes.url }), /requires credentials \(Authorization Violation\)/);
  });
});

describe('NATS over TLS with a test CA', () => {
  let dir: string;
  let certificates: TestCertificates;
  let processes: ProcessCluster;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'sharc-tls-'));
    certificates = await makeTestCertificates(dir);
    const { caFile, certFile, keyFile } = certificates;
    processes = await startProcessCluster({
      agents: 1,
      threads: 1,
      memory: '256MiB',
      natsConfig: `tls { cert_file: "${certFile}", key_file: "${keyFile}", ca_file: "${caFile}" }`,
      coordinatorArgs: ['--tls-ca-file', caFile],
      agentArgs: ['--tls-ca-file', caFile],
    });
  });
  after(async () => {
    await processes?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('runs a job for a client that trusts the CA (tls.caFile)', async () => {
    const cluster = await connect({ servers: processes.url, auth: { tls: { caFile: certificates.caFile } } });
    try {
      await checkSumJob(cluster);
    } finally {
      await cluster.close();
    }
  });

  it('refuses a client without the CA, or with another CA, saying to pass tls.caFile', async () => {
    for (const auth of [undefined, { tls: { caFile: certificates.otherCaFile } }]) {
      await assert.rejects(connect({ servers: processes.url, ...(auth === undefined ? {} : { auth }) }), (error: Error) => {
        assert.ok(error instanceof ConnectionError, String(error));
        assert.equal(error.retryable, false);
        assert.match(error.message, /TLS with NATS at nats:\/\/127\.0\.0\.1:\d+ failed \(/);
        assert.match(error.message, /pass tls \{ caFile \} .*--tls-ca-file \/ SHARC_TLS_CA_FILE/);
        return true;
      });
    }
  });
});
