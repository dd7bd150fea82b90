import { InvalidArgumentError } from './errors.js';

/**
 * The whole NATS subject scheme of sharc. Every subject is built here and nowhere else.
 *
 *   sharc.<cluster>.coord.<verb>            requests to the coordinator (clients and agents)
 *   sharc.<cluster>.agent.<agentId>.<verb>  requests from the coordinator to one agent; `direct`:
 *                                           reduces a client sends straight to the agent (tasks.run)
 *   sharc.<cluster>.agents.<verb>           broadcasts from the coordinator to every agent
 *   sharc.<cluster>.announce                 the coordinator announces itself when it starts
 *   sharc.<cluster>.job.<clientId>.<jobId>  events of one job (progress, partials) to the client that
 *                                           submitted it; a client listens on `…job.<clientId>.*` once
 *
 * `<cluster>` lets several sharc clusters share one NATS deployment. Tokens may not contain
 * NATS separators or wildcards, so a name cannot widen a subscription.
 */
export type Route =
  | { to: 'coordinator'; verb: CoordinatorVerb }
  | { to: 'agent'; agentId: string; verb: AgentVerb }
  | { to: 'agents'; verb: BroadcastVerb }
  | { to: 'job'; clientId: string; jobId: string }
  | { to: 'jobs of client'; clientId: string }
  | { to: 'announcements' };

export type CoordinatorVerb = 'client' | 'agent';
export type AgentVerb = 'control' | 'task' | 'direct';
export type BroadcastVerb = 'cancel';

const SUBJECT_ROOT = 'sharc';
const TOKEN = /^[A-Za-z0-9_-]+$/;

function token(value: string, what: string): string {
  if (!TOKEN.test(value)) {
    throw new InvalidArgumentError(
      `${what} ${JSON.stringify(value)} may only hold letters, digits, '-' and '_'`,
    );
  }
  return value;
}

export function subjectFor(cluster: string, route: Route): string {
  const base = `${SUBJECT_ROOT}.${token(cluster, 'cluster name')}`;
  switch (route.to) {
    case 'coordinator':
      return `${base}.coord.${route.verb}`;
    case 'agent':
      return `${base}.agent.${token(route.agentId, 'agent id')}.${route.verb}`;
    case 'agents':
      return `${base}.agents.${route.verb}`;
    case 'job':
      return `${base}.job.${token(route.clientId, 'client id')}.${token(route.jobId, 'job id')}`;
    case 'announcements':
      return `${base}.announce`;
    case 'jobs of client':
      return `${base}.job.${token(route.clientId, 'client id')}.*`;
  }
}

/** Checks a name a user picks for ids that end up in subjects (cluster, agent name). */
export function isSubjectToken(value: string): boolean {
  return TOKEN.test(value);
}
