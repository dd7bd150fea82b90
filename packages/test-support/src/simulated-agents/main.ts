/**
 * A process of simulated agents (see simulated-agent.ts), started by startSimulatedAgents:
 *   node main.js --servers URL --prefix NAME --count N [--cluster C] [--heartbeat-ms MS]
 * It prints `simulated agents ready: N` once all registered. SIGKILL kills all of its agents at
 * once, as a crash of their hosts would; SIGTERM, or the parent's death, closes them.
 */
import { parseArgs } from 'node:util';
import { startSimulatedAgentGroup } from './agent-group.js';

const { values } = parseArgs({
  options: {
    servers: { type: 'string' },
    cluster: { type: 'string', default: 'default' },
    prefix: { type: 'string' },
    count: { type: 'string' },
    'heartbeat-ms': { type: 'string', default: '1000' },
  },
});
if (values.servers === undefined || values.prefix === undefined || values.count === undefined) {
  process.stderr.write('usage: main.js --servers URL --prefix NAME --count N [--cluster C] [--heartbeat-ms MS]\n');
  process.exit(2);
}
const group = await startSimulatedAgentGroup({
  servers: values.servers,
  cluster: values.cluster,
  prefix: values.prefix,
  count: Number(values.count),
  heartbeatMs: Number(values['heartbeat-ms']),
});
const stop = () => void group.close().finally(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
// The IPC channel to the parent closes when it dies in any way: the agents go with it.
process.once('disconnect', stop);
process.stdout.write(`simulated agents ready: ${group.agents.length}\n`);
