#!/usr/bin/env node
import { runCli } from './cli.js';

// Nobody reads any more (`sharc status --watch | head -1` closed the pipe): the command ends
// quietly, as `yes | head` does, instead of crashing on an unhandled EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(0);
  });
}

process.exitCode = await runCli(process.argv.slice(2));
