import type { BuiltinMap } from '@sharc/protocol/core';
import { openBlocks, type BlockSource } from '../file-blocks.js';
import type { Block, BuiltinOpRequest } from '../worker-protocol.js';
import { dotPartialOfBlock, runBuiltinMapBlock } from './run-op.js';

/**
 * Runs a built-in op request on this thread (or inline on the agent's, for small resident
 * partitions): a map writes its output and returns no partials; `dot` returns one partial per
 * block. `onBlockDone` hears of each block as it is done.
 */
export function runBuiltinOpRequest(request: BuiltinOpRequest, onBlockDone: (block: Block) => void = () => undefined): unknown[] {
  const { kernel, params } = request;
  const opened: BlockSource[] = [];
  const open = (view: BuiltinOpRequest['input'], operand: 'input' | 'other' | 'output') => {
    const source = openBlocks(view, operand);
    opened.push(source);
    return source;
  };
  try {
    const input = open(request.input, 'input');
    const other = request.other === undefined ? undefined : open(request.other, 'other');
    if (kernel.op === 'dot') {
      if (other === undefined) throw new Error('dot needs its second array');
      return request.blocks.map((block) => {
        const partial = dotPartialOfBlock(input, other, block);
        onBlockDone(block);
        return partial;
      });
    }
    if (request.output === undefined) throw new Error(`${kernel.op} needs an output`);
    const output = open(request.output, 'output');
    for (const block of request.blocks) {
      runBuiltinMapBlock(kernel.op as BuiltinMap, params, input, other, output, block);
      onBlockDone(block);
    }
    return [];
  } finally {
    for (const source of opened) source.close();
  }
}
