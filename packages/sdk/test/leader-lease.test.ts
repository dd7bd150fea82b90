/**
 * The coordinator's lease on a real nats-server, its connection running through a TCP proxy
 * the test can cut: a lease left unrenewed while NATS was away is taken back when no other
 * coordinator held it meanwhile, and lost (onLost) only when another one did.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LeaderLease } from '@sharc/coordinator';
import { connectNats, createLogger, natsConnectionOf, type Transport } from '@sharc/protocol';
import { startNatsServer, type NatsServer } from '@sharc/test-support';
import { cuttableProxy, within, type CuttableProxy } from './cuttable-proxy.js';

const LEASE_MS = 1000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('coordinator lease through a NATS outage (real nats-server)', () => {
  let nats: NatsServer;
  const transports: Transport[] = [];
  const leases: LeaderLease[] = [];
  let cluster = 0;
  before(async () => {
    nats = await startNatsServer();
  });
  after(async () => {
    for (const lease of leases) await lease.release().catch(() => undefined);
    for (const transport of transports) await transport.close().catch(() => undefined);
    await nats?.stop();
  });

  async function leaseAt(url: string, name: string, clusterName: string): Promise<LeaderLease> {
    const transport = await connectNats({ servers: url, name });
    transports.push(transport);
    const lease = await LeaderLease.open(natsConnectionOf(transport)!, clusterName, name, createLogger(name, 'silent'), { leaseMs: LEASE_MS });
    leases.push(lease);
    return lease;
  }

  /** A lease held through a cuttable proxy, and what its onLost said. */
  async function heldThroughProxy(): Promise<{ lease: LeaderLease; proxy: CuttableProxy; lost: string[]; clusterName: string }> {
    const proxy = await cuttableProxy(nats.port);
    const clusterName = `lease${++cluster}`;
    const lease = await leaseAt(`nats://127.0.0.1:${proxy.port}`, 'cut-off', clusterName);
    await lease.acquire(() => assert.fail('nobody else holds it'));
    const lost: string[] = [];
    lease.keep((reason) => lost.push(reason));
    assert.equal(lease.held, true);
    return { lease, proxy, lost, clusterName };
  }

  it('a lease unrenewed while cut off, with no other coordinator, is taken back: not lost', async () => {
    const { lease, proxy, lost } = await heldThroughProxy();
    proxy.cut();
    assert.ok(await within(3 * LEASE_MS, () => !lease.held), 'unrenewed, the lease is not held: the coordinator stays silent');
    await sleep(2 * LEASE_MS); // the key expires on the server meanwhile
    proxy.restore();
    assert.ok(await within(10_000, () => lease.held), 'held again once NATS is back');
    assert.deepEqual(lost, []);
    await sleep(2 * LEASE_MS);
    assert.equal(lease.held, true, 'and renewed since');
    assert.deepEqual(lost, []);
    await proxy.close();
  });

  it('a lease another coordinator holds after the outage is lost', async () => {
    const { lease, proxy, lost, clusterName } = await heldThroughProxy();
    proxy.cut();
    const other = await leaseAt(nats.url, 'standby', clusterName);
    await other.acquire(() => undefined); // resolves once the cut-off one's key expired
    other.keep(() => assert.fail('the standby keeps it'));
    proxy.restore();
    assert.ok(await within(10_000, () => lost.length > 0), 'onLost is called');
    assert.match(lost[0]!, /another coordinator holds it/);
    assert.equal(lease.held, false);
    assert.equal(other.held, true);
    await other.release();
    await proxy.close();
  });

  it('a lease another coordinator held and released while this one was cut off is lost', async () => {
    const { lease, proxy, lost, clusterName } = await heldThroughProxy();
    proxy.cut();
    const other = await leaseAt(nats.url, 'brief', clusterName);
    await other.acquire(() => undefined);
    await other.release();
    proxy.restore();
    assert.ok(await within(10_000, () => lost.length > 0), 'onLost is called: that other one may have changed the state meanwhile');
    assert.match(lost[0]!, /another coordinator held it/);
    assert.equal(lease.held, false);
    await proxy.close();
  });
});
