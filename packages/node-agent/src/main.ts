#!/usr/bin/env node
/**
 * Runs one node agent as a process: `node main.js --servers nats://host:4222 [--name N]
 * [--threads T] [--memory 4GiB] [--cluster C] [--advertise-host IP] [--data-port P]`.
 * Environment: SHARC_SERVERS, SHARC_CLUSTER. Prints one `sharc agent ready <id>` line, and
 * stops cleanly on SIGTERM / SIGINT.
 */
import { parseArgs } from 'node:util';
import { connectNats, createLogger, runUntilSignalled, parseByteSize } from '@sharc/protocol';
import { Agent } from './agent.js';

const { values } = parseArgs({
  options: {
    servers: { type: 'string' },
    cluster: { type: 'string' },
    name: { type: 'string' },
    threads: { type: 'string' },
    memory: { type: 'string' },
    'advertise-host': { type: 'string' },
    'data-host': { type: 'string' },
    'data-port': { type: 'string' },
  },
});

const servers = values.servers ?? process.env.SHARC_SERVERS ?? 'nats://127.0.0.1:4222';
const logger = createLogger(`agent ${values.name ?? process.pid}`, process.env.SHARC_LOG_LEVEL ?? 'info');
const transport = await connectNats({ servers, name: `agent-${values.name ?? process.pid}`, logger });
const agent = await Agent.start(transport, {
  logger,
  ...(values.cluster ?? process.env.SHARC_CLUSTER ? { cluster: values.cluster ?? process.env.SHARC_CLUSTER } : {}),
  ...(values.name === undefined ? {} : { name: values.name }),
  ...(values.threads === undefined ? {} : { threads: Number(values.threads) }),
  ...(values.memory === undefined ? {} : { memoryBytes: parseByteSize(values.memory, '--memory') }),
  ...(values['advertise-host'] === undefined ? {} : { advertiseHost: values['advertise-host'] }),
  ...(values['data-host'] === undefined ? {} : { dataHost: values['data-host'] }),
  ...(values['data-port'] === undefined ? {} : { dataPort: Number(values['data-port']) }),
});
process.stdout.write(`sharc agent ready ${agent.id}\n`);

runUntilSignalled(() => agent.close(), logger);
