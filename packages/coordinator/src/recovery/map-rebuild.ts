import { randomBytes } from 'node:crypto';
import type { ArrayMeta } from '@sharc/protocol';
import type { AgentClient } from '../agents/agent-client.js';
import { secondInputOf } from '../jobs/second-input.js';
import type { AgentRegistry } from '../registry/agent-registry.js';
import type { ArrayOrigin } from '../registry/array-catalog.js';

/** The sender id of tasks the coordinator runs itself (rebuilding a lost map partition). */
const COORDINATOR_CLIENT_ID = 'coordinator';
/** How long rebuilding one map output partition may take (its agent's death ends the wait sooner). */
const REBUILD_TIMEOUT_MS = 10 * 60 * 1000;

/**
 * Computes partition `index` of a map output again from its input, on the agent the output
 * partition is allocated on (one that holds the input partition). Rejects with an
 * AgentUnreachableError naming the agent (details.agentId) as soon as that agent is declared dead.
 */
export async function rebuildMapPartition(
  deps: { client: AgentClient; agents: AgentRegistry },
  input: ArrayMeta,
  output: ArrayMeta,
  origin: Extract<ArrayOrigin, { kind: 'map' }>,
  index: number,
  /** The second input of a binary op (origin.withId). */
  other?: ArrayMeta,
): Promise<void> {
  // Where the output partition was allocated: an agent with a copy of the input partition (the
  // input's primary may have moved to another copy since).
  const agentId = output.partitions[index]!.agentId;
  await deps.client.runTask(
    agentId,
    {
      jobId: `rebuild-${randomBytes(8).toString('hex')}`,
      clientId: COORDINATOR_CLIENT_ID,
      arrayId: input.id,
      arrayName: input.name,
      partitionIndex: index,
      attempt: 0,
      kernel: origin.kernel,
      params: origin.params,
      output: { arrayId: output.id, dtype: origin.dtype, cols: origin.cols },
      ...(other === undefined ? {} : { with: secondInputOf(other, input.partitions[index]!, agentId, deps.agents) }),
    },
    REBUILD_TIMEOUT_MS,
  );
}
