/**
 * Client liveness (the lease on what the coordinator holds for a client): a client heard from
 * keeps it, a silent one is gone once the window passes, one restored from the store gets a
 * full window first, and a coordinator that did not run for a while judges nobody for it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Logger } from '@sharc/protocol';
import { ClientSessions } from '../src/registry/client-sessions.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('ClientSessions', () => {
  it('ends the session of a client silent past the window, not of one that keeps heartbeating', async () => {
    const gone: string[] = [];
    const sessions = new ClientSessions(400, quiet, (clientId) => gone.push(clientId));
    sessions.heard('silent');
    sessions.heard('alive');
    for (let i = 0; i < 10; i++) {
      await sleep(100);
      sessions.heard('alive');
    }
    sessions.close();
    assert.deepEqual(gone, ['silent']);
  });

  it('gives a client restored from the store a full window from now, and leaves a known one as it is', async () => {
    const gone: string[] = [];
    const sessions = new ClientSessions(1000, quiet, (clientId) => gone.push(clientId));
    sessions.heard('known');
    await sleep(600);
    sessions.expect('known');
    sessions.expect('restored');
    await sleep(700);
    assert.deepEqual(gone, ['known']);
    await sleep(1000);
    assert.deepEqual(gone, ['known', 'restored']);
    sessions.close();
  });

  it('judges nobody while the coordinator is not the active one', async () => {
    const gone: string[] = [];
    const sessions = new ClientSessions(200, quiet, (clientId) => gone.push(clientId), () => false);
    sessions.heard('c');
    await sleep(600);
    sessions.close();
    assert.deepEqual(gone, []);
  });

  it('judges nobody while the coordinator itself is cut off from NATS, and gives each a full window once it is back', async () => {
    const gone: string[] = [];
    const sessions = new ClientSessions(400, quiet, (clientId) => gone.push(clientId));
    sessions.heard('c');
    sessions.connected(false);
    await sleep(800);
    assert.deepEqual(gone, [], 'a client was judged while the coordinator could not hear it');
    sessions.connected(true);
    await sleep(200);
    assert.deepEqual(gone, [], 'the window counted the time the coordinator was away');
    await sleep(600);
    sessions.close();
    assert.deepEqual(gone, ['c'], 'a client silent for a whole window after the coordinator is back is gone');
  });

  it('does not count a stall of its own process against the clients', async () => {
    const gone: string[] = [];
    const sessions = new ClientSessions(400, quiet, (clientId) => gone.push(clientId));
    sessions.heard('c');
    // The event loop is blocked past the window: heartbeats that came meanwhile are still queued.
    const until = Date.now() + 700;
    while (Date.now() < until) {
      // busy
    }
    await sleep(150);
    sessions.heard('c');
    await sleep(150);
    sessions.close();
    assert.deepEqual(gone, []);
  });

  it('never ends a session when liveness is off (Infinity: the embedded cluster)', async () => {
    const gone: string[] = [];
    const sessions = new ClientSessions(Infinity, quiet, (clientId) => gone.push(clientId));
    sessions.heard('c');
    await sleep(300);
    sessions.close();
    assert.deepEqual(gone, []);
  });
});
