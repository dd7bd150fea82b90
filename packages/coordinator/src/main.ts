#!/usr/bin/env node
/**
 * Runs the coordinator as a process: `node main.js --servers nats://host:4222 [--cluster C]
 * [--dead-after-ms 3000]`. Environment: SHARC_SERVERS, SHARC_CLUSTER. Prints one
 * `sharc coordinator ready` line, and stops cleanly on SIGTERM / SIGINT.
 */
import { parseArgs } from 'node:util';
import { connectNats, createLogger, runUntilSignalled } from '@sharc/protocol';
import { Coordinator } from './coordinator.js';

const { values } = parseArgs({
  options: {
    servers: { type: 'string' },
    cluster: { type: 'string' },
    'dead-after-ms': { type: 'string' },
  },
});

const servers = values.servers ?? process.env.SHARC_SERVERS ?? 'nats://127.0.0.1:4222';
const logger = createLogger('coordinator', process.env.SHARC_LOG_LEVEL ?? 'info');
const transport = await connectNats({ servers, name: 'sharc-coordinator', logger });
const cluster = values.cluster ?? process.env.SHARC_CLUSTER;
const coordinator = Coordinator.start(transport, {
  logger,
  ...(cluster === undefined ? {} : { cluster }),
  ...(values['dead-after-ms'] === undefined ? {} : { deadAfterMs: Number(values['dead-after-ms']) }),
});
process.stdout.write('sharc coordinator ready\n');

runUntilSignalled(() => coordinator.close(), logger);
