/**
 * The subject scheme: one subject per route, and no user-chosen token can widen a
 * subscription or inject another subject level.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError, isSubjectToken, subjectFor, type Route } from '../src/index.js';

describe('subjectFor', () => {
  it('builds the coordinator subjects', () => {
    assert.equal(subjectFor('default', { to: 'coordinator', verb: 'client' }), 'sharc.default.coord.client');
    assert.equal(subjectFor('default', { to: 'coordinator', verb: 'agent' }), 'sharc.default.coord.agent');
  });

  it('builds the subjects of one agent', () => {
    assert.equal(subjectFor('lab', { to: 'agent', agentId: 'agent-0', verb: 'control' }), 'sharc.lab.agent.agent-0.control');
    assert.equal(subjectFor('lab', { to: 'agent', agentId: 'host_7', verb: 'task' }), 'sharc.lab.agent.host_7.task');
  });

  it('builds the broadcast subject to every agent', () => {
    assert.equal(subjectFor('prod-2', { to: 'agents', verb: 'cancel' }), 'sharc.prod-2.agents.cancel');
  });

  it('builds the subject of one job, under its client', () => {
    assert.equal(subjectFor('default', { to: 'job', clientId: 'client-1', jobId: 'J1a2b3' }), 'sharc.default.job.client-1.J1a2b3');
    assert.equal(subjectFor('default', { to: 'jobs of client', clientId: 'client-1' }), 'sharc.default.job.client-1.*');
  });

  it('keeps clusters apart', () => {
    const route: Route = { to: 'coordinator', verb: 'client' };
    assert.notEqual(subjectFor('a', route), subjectFor('b', route));
  });

  const badTokens = ['a.b', '*', '>', 'a*', 'job>', 'has space', ' lead', 'trail ', '', 'tab\there', 'new\nline'];

  for (const bad of badTokens) {
    it(`refuses the token ${JSON.stringify(bad)} everywhere a name goes`, () => {
      const routes: Array<[string, Route]> = [
        [bad, { to: 'coordinator', verb: 'client' }],
        ['default', { to: 'agent', agentId: bad, verb: 'control' }],
        ['default', { to: 'job', clientId: 'c', jobId: bad }],
        ['default', { to: 'job', clientId: bad, jobId: 'j' }],
        ['default', { to: 'jobs of client', clientId: bad }],
      ];
      for (const [cluster, route] of routes) {
        assert.throws(() => subjectFor(cluster, route), InvalidArgumentError, `${cluster} ${JSON.stringify(route)}`);
      }
      assert.equal(isSubjectToken(bad), false);
    });
  }

  it('names the offending field in the error', () => {
    assert.throws(() => subjectFor('default', { to: 'agent', agentId: 'a.b', verb: 'task' }), /agent id "a\.b"/);
    assert.throws(() => subjectFor('x y', { to: 'agents', verb: 'cancel' }), /cluster name "x y"/);
    assert.throws(() => subjectFor('default', { to: 'job', clientId: 'c', jobId: '>' }), /job id ">"/);
  });

  it('accepts letters, digits, dashes and underscores', () => {
    assert.equal(isSubjectToken('Agent_01-b'), true);
  });
});
