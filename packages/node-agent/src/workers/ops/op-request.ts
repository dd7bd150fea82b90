import type { BuiltinMap } from '@sharc/protocol/core';
import type { BuiltinOpRequest } from '../worker-protocol.js';
import { dotPartialOfBlock, runBuiltinMapBlock } from './run-op.js';

/**
 * Runs a built-in op request on this thread (or inline on the agent's, for small partitions):
 * a map writes its output and returns no partials; `dot` returns one partial per block.
 */
export function runBuiltinOpRequest(request: BuiltinOpRequest): unknown[] {
  const { kernel, input, other, output, params } = request;
  if (kernel.op === 'dot') {
    if (other === undefined) throw new Error('dot needs its second array');
    return request.blocks.map((block) => dotPartialOfBlock(input, other, block));
  }
  if (output === undefined) throw new Error(`${kernel.op} needs an output`);
  for (const block of request.blocks) runBuiltinMapBlock(kernel.op as BuiltinMap, params, input, other, output, block);
  return [];
}
