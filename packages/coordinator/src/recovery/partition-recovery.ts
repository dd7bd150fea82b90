import {
  CONTROL_TIMEOUT_MS,
  ArrayNotFoundError,
  ConnectionError,
  DataLostError,
  InsufficientMemoryError,
  PartitionLostError,
  bytesPerElement,
  colsOf,
  fileLoadTimeoutMs,
  holdersOf,
  toErrorData,
  type ArrayMeta,
  type Logger,
  type PartitionMeta,
} from '@sharc/protocol';
import { balancePrimaries, choosePrimary } from '../placement/balance-primaries.js';
import { heldBytes, type PartitionAllocator } from '../placement/partition-allocator.js';
import type { AgentRegistry } from '../registry/agent-registry.js';
import type { ArrayCatalog, ArrayOrigin, ArrayRecord } from '../registry/array-catalog.js';
import { LogTally } from '../log-tally.js';
import type { ClusterEvents } from '../observe/cluster-events.js';
import { awaitingHoldersError, partitionLostError } from './lost-partitions.js';

/** A map partition's rebuild moves on this many times when the agent doing it dies. */
const MAX_REBUILD_ATTEMPTS = 3;
/**
 * How long after an ask the array's primaries are spread again (restoreAllCopies): asks of a
 * burst are served by one balance. Copies made again in a burst (thousands after a death) are
 * balanced once, when the last of the array's copies in flight lands, instead of once each
 * (each balance walks every partition of the array).
 */
const BALANCE_DELAY_MS = 100;
/** Moves named in the log line of a balance (the rest are counted). */
const MOVES_LOGGED = 10;

export interface RecoveryHooks {
  catalog: ArrayCatalog;
  agents: AgentRegistry;
  placement: PartitionAllocator;
  logger: Logger;
  /** Told of partitions moved, rebuilt, copied and lost. @default none */
  events?: ClusterEvents;
  /**
   * Computes partition `index` of a map output from its input, on the agent that serves both;
   * rejects with a ConnectionError naming the agent (details.agentId) if it dies meanwhile.
   */
  runMapTask(input: ArrayMeta, output: ArrayMeta, origin: Extract<ArrayOrigin, { kind: 'map' }>, index: number, other?: ArrayMeta): Promise<void>;
}

/**
 * Where a dead agent's partitions are served again. For each partition it held:
 * - a copy on a live agent takes over at once (uploads are stored with copies);
 * - a file load is read again from its file, on the live agent with the most room;
 * - a map output is computed again from its input partition (recovered first, recursively),
 *   on the agent that serves that input: the lineage Spark and Dask keep, for one partition.
 * A partition with none of these is lost until its agent comes back (it keeps its memory over
 * a network cut); jobs that need it fail with a retryable DataLostError that says so. Once every
 * agent that held a copy came back without it (it restarted), it is lost for good: the catalog
 * records it, and jobs and reads fail with a PartitionLostError that is not retryable.
 * After a copy is made again, primaries are spread evenly over the copies again.
 *
 * Placement belongs to the catalog: recovery reads where a partition is from it (after every
 * wait, as it may have moved meanwhile) and tells it where a partition moved (placePartition);
 * an array deleted meanwhile is gone from the catalog by id.
 */
export class PartitionRecovery {
  /** Rebuilds in progress, by array and partition: jobs wait on them. */
  private readonly rebuilding = new Map<string, { done: Promise<void>; gone: string | undefined; lacks: boolean }>();
  /** Partitions short of copies for want of a live agent with room (warned once each). */
  private readonly shortOfCopies = new Set<string>();
  /** Copies being made again, by array and partition. */
  private readonly copying = new Map<string, Promise<void>>();
  /** Copies being made again, by array: the array is balanced once none is left. */
  private readonly copyingByArray = new Map<string, number>();
  /** Arrays to balance once their copies in flight have landed (see BALANCE_DELAY_MS). */
  private readonly toBalance = new Set<string>();
  private balanceTimer: NodeJS.Timeout | undefined;
  private restoreScheduled = false;

  /** Lines said once per partition (a death moves thousands at once), summed up. */
  private readonly repeated: LogTally;

  constructor(private readonly hooks: RecoveryHooks) {
    this.repeated = new LogTally(hooks.logger);
  }

  /** The agent was declared dead: re-serves everything it held. */
  agentDead(agentId: string): void {
    for (const record of this.hooks.catalog.all()) {
      // Uploads in progress fail at commit (their agent cannot seal); a running map's output
      // is moved by its job.
      if (record.state === 'pending') continue;
      const lost = new Set(record.meta.lostPartitions ?? []);
      for (const partition of record.meta.partitions) {
        // `agentId` is excluded by name: a restarted process may register under it again at once.
        const held = partition.agentId === agentId || (partition.replicas?.includes(agentId) ?? false);
        if (held && !lost.has(partition.index)) void this.start(record.meta.id, partition.index, agentId).catch(() => undefined);
      }
    }
  }

  /**
   * Resolves once partition `index` of the array is served by a live agent (at once when it
   * is); rejects with DataLostError when it cannot be rebuilt (PartitionLostError: for good),
   * and with ArrayNotFoundError when the array is gone.
   */
  whenServed(arrayId: string, index: number): Promise<void> {
    const { catalog } = this.hooks;
    if (catalog.header(arrayId) === undefined) return Promise.reject(missing(arrayId));
    if (catalog.isLost(arrayId, index)) return Promise.reject(partitionLostError(catalog.find(arrayId)!.meta));
    const running = this.rebuilding.get(`${arrayId}#${index}`);
    if (running !== undefined) return running.done;
    const partition = catalog.partition(arrayId, index);
    if (partition !== undefined && this.hooks.agents.isAlive(partition.agentId)) return Promise.resolve();
    return this.start(arrayId, index);
  }

  /**
   * The agent `agentId` is alive but lacks its copy of the partition (it restarted): serve it as
   * if that copy had died, once `after` resolves (readers wait for it from now on). That copy
   * will not come back: when it was the last one and there is no source, the partition is lost
   * for good.
   */
  copyLost(arrayId: string, index: number, agentId: string, after: Promise<void>): void {
    const record = this.hooks.catalog.header(arrayId);
    if (record === undefined || this.hooks.catalog.isLost(arrayId, index)) return;
    this.repeated.warn('an agent lacks a partition placed on it', { array: record.meta.name, partition: index, agent: agentId });
    void this.start(arrayId, index, agentId, after, true).catch(() => undefined);
  }

  /**
   * Starts (or joins) the rebuild of a partition one of whose holders is dead (or is `gone`;
   * with `lacks`, `gone` is alive again without its copy, which will not come back).
   */
  private start(arrayId: string, index: number, gone?: string, after: Promise<void> = Promise.resolve(), lacks = false): Promise<void> {
    const key = `${arrayId}#${index}`;
    const record = this.hooks.catalog.header(arrayId);
    if (record === undefined) return Promise.reject(missing(arrayId));
    const running = this.rebuilding.get(key);
    // A rebuild that already leaves `gone` out serves this request too; one that does not must
    // finish first, then this one runs (it would count `gone`'s empty copy as good otherwise, or
    // wait for a copy that `gone` no longer has).
    if (running !== undefined && (gone === undefined || (running.gone === gone && (running.lacks || !lacks)))) return running.done;
    const partition = this.hooks.catalog.partition(arrayId, index);
    if (partition === undefined) return Promise.reject(new DataLostError(`array ${record.meta.name} has no partition ${index}`));
    if (running === undefined && gone === undefined && holdersOf(partition).every((id) => this.hooks.agents.isAlive(id))) return Promise.resolve();
    const before = running === undefined ? after : Promise.all([after, running.done.catch(() => undefined)]);
    const done = before.then(() => this.rebuild(arrayId, index, gone, lacks));
    const entry = { done, gone, lacks };
    this.rebuilding.set(key, entry);
    done.then(
      () => {
        if (this.rebuilding.get(key) === entry) this.rebuilding.delete(key);
      },
      (error: unknown) => {
        if (this.rebuilding.get(key) === entry) this.rebuilding.delete(key);
        // Summed up: with one copy and agents that do not come back, every partition of an array fails at once.
        this.repeated.error('a partition could not be recovered', { array: record.meta.name, partition: index, error: toErrorData(error) });
      },
    );
    return done;
  }

  private async rebuild(arrayId: string, index: number, gone: string | undefined, lacks: boolean): Promise<void> {
    const { placement, catalog } = this.hooks;
    // Where the partition is now (it may have moved while this rebuild waited for another):
    // read one partition, not a snapshot of the array, so a burst of moves costs each move once.
    const header = catalog.header(arrayId);
    if (header === undefined) throw missing(arrayId);
    // Lost for good by a rebuild this one waited for.
    if (catalog.isLost(arrayId, index)) throw partitionLostError(catalog.find(arrayId)!.meta);
    const agents = { isAlive: (id: string) => id !== gone && this.hooks.agents.isAlive(id) };
    const partition = catalog.partition(arrayId, index)!;
    // Liveness as it is now, before any await: a restarted agent may register again meanwhile,
    // and what its old process held is gone all the same.
    const held = heldBytes(header.meta, partition);
    const deadReplicas = (partition.replicas ?? []).filter((id) => !agents.isAlive(id));
    const liveReplicas = (partition.replicas ?? []).filter((id) => agents.isAlive(id));
    const servingAlive = agents.isAlive(partition.agentId);
    for (const id of deadReplicas) await placement.releaseCopy(id, arrayId, partition, held);
    if (servingAlive) {
      catalog.placePartition(arrayId, { ...partition, replicas: liveReplicas });
      this.restoreCopies(arrayId, index);
      return;
    }
    const promoted = this.choosePrimary(arrayId, liveReplicas);
    if (promoted !== undefined) {
      // Placed before the await: the next partition of the dead agent chooses knowing this one.
      catalog.placePartition(arrayId, { ...partition, agentId: promoted, replicas: liveReplicas.filter((id) => id !== promoted) });
      await placement.releaseCopy(partition.agentId, arrayId, partition, held);
      this.repeated.warn('a copy took over a partition of a dead agent', { array: header.meta.name, partition: index, from: partition.agentId, to: promoted });
      this.hooks.events?.note({ kind: 'partitions.moved', array: arrayId, name: header.meta.name, partitions: 1, agent: partition.agentId });
      this.restoreCopies(arrayId, index);
      return;
    }
    if (header.origin.kind === 'upload') throw this.noLiveCopy(catalog.find(arrayId)!, partition, lacks ? gone : undefined);
    const moved = await this.rebuildFromSource(catalog.find(arrayId)!, partition, lacks);
    // (The same agent, restarted and chosen to rebuild it, holds the new copy: keep that.)
    if (moved.agentId !== partition.agentId) await placement.releaseCopy(partition.agentId, arrayId, partition, held);
    if (!catalog.placePartition(arrayId, moved)) {
      // Deleted while it was rebuilt: the new copy has no owner.
      await placement.releaseCopy(moved.agentId, arrayId, moved, held);
      return;
    }
    this.repeated.warn('rebuilt a partition of a dead agent', { array: header.meta.name, partition: index, from: partition.agentId, to: moved.agentId, origin: header.origin.kind });
    this.hooks.events?.note({ kind: 'partitions.rebuilt', array: arrayId, name: header.meta.name, partitions: 1, agent: partition.agentId });
  }

  /**
   * Every upload partition with fewer copies than it was put with gets them back where there
   * is room (after a restart, when an agent joins, and now and then: room may have been short),
   * and every array's primaries are spread evenly over its live copies.
   */
  restoreAllCopies(): void {
    // Once for any number of asks within BALANCE_DELAY_MS: 1,000 agents registering again
    // after a stall each ask, and each pass walks every partition.
    if (this.restoreScheduled) return;
    this.restoreScheduled = true;
    setTimeout(() => {
      this.restoreScheduled = false;
      this.restoreAllCopiesNow();
    }, BALANCE_DELAY_MS);
  }

  private restoreAllCopiesNow(): void {
    for (const record of this.hooks.catalog.all()) {
      if (record.state === 'pending' || record.origin.kind !== 'upload') continue;
      const lost = new Set(record.meta.lostPartitions ?? []);
      for (const partition of record.meta.partitions) {
        const key = `${record.meta.id}#${partition.index}`;
        if (!lost.has(partition.index) && holdersOf(partition).length < record.origin.copies && !this.rebuilding.has(key)) this.restoreCopies(record.meta.id, partition.index);
      }
      this.balanceSoon(record.meta.id);
    }
  }

  /**
   * Balances the array soon: once no copy of it is being made (the last one to land asks
   * again), and then once for however many asked meanwhile.
   */
  private balanceSoon(arrayId: string): void {
    this.toBalance.add(arrayId);
    this.balanceTimer ??= setTimeout(() => {
      this.balanceTimer = undefined;
      for (const id of [...this.toBalance]) {
        if ((this.copyingByArray.get(id) ?? 0) > 0) continue;
        this.toBalance.delete(id);
        this.balance(id);
      }
    }, BALANCE_DELAY_MS);
  }

  /**
   * Spreads the array's primaries (the copy each partition is served from) evenly over the live
   * agents holding copies: after a death moved them all to the survivors, and a copy was made
   * again on an agent that came back, half of them go back to it. Partitions being rebuilt
   * stay as they are; the catalog stores the new placement.
   */
  private balance(arrayId: string): void {
    const { catalog, agents, logger } = this.hooks;
    const record = catalog.find(arrayId);
    if (record === undefined || record.state === 'pending') return;
    const lost = new Set(record.meta.lostPartitions ?? []);
    const current = record.meta.partitions;
    const balanced = balancePrimaries(current, {
      canServe: (agentId) => agents.isAlive(agentId),
      servedElsewhere: catalog.servingCounts(arrayId),
      pinned: (index) => lost.has(index) || this.rebuilding.has(`${arrayId}#${index}`),
    });
    const moved = balanced.filter((partition, position) => partition !== current[position]);
    if (moved.length === 0) return;
    catalog.placePartitions(arrayId, moved);
    logger.info('spread the serving copies of an array evenly', {
      array: record.meta.name,
      moved: moved.length,
      first: moved.slice(0, MOVES_LOGGED).map((p) => `${p.index}->${p.agentId}`),
    });
  }

  /** Of a partition's live copies, the one to serve it: the agent serving the fewest of the array (then of all arrays). */
  private choosePrimary(arrayId: string, candidates: readonly string[]): string | undefined {
    const { catalog } = this.hooks;
    // Counts the catalog keeps as partitions move: O(candidates) per partition, not O(partitions).
    // They count this partition at its dead agent and partitions served by dead agents, which
    // no candidate (a live holder) is: the order among candidates is as if left out.
    return choosePrimary(candidates, catalog.servingCountsOf(arrayId), catalog.servingTotals());
  }

  /**
   * An upload partition none of whose copies is on a live agent. Agents that are dead may come
   * back with theirs (retryable); `lacking` came back without its copy and is dropped from the
   * holders; once none is left, the partition is lost for good.
   */
  private noLiveCopy(record: ArrayRecord, partition: PartitionMeta, lacking: string | undefined): DataLostError {
    const holders = holdersOf(partition).filter((id) => id !== lacking);
    if (lacking !== undefined) {
      if (holders.length === 0) {
        this.hooks.catalog.markLost(record.meta.id, partition.index);
        this.hooks.events?.note({ kind: 'partitions.lost', array: record.meta.id, name: record.meta.name, partitions: 1 });
        this.hooks.logger.error('a partition is lost for good: every agent holding a copy came back without it', {
          array: record.meta.name,
          partition: partition.index,
          agent: lacking,
        });
        // As the catalog has it now: with this partition among the lost.
        return partitionLostError(this.hooks.catalog.find(record.meta.id)?.meta ?? record.meta);
      }
      const [agentId, ...replicas] = holders as [string, ...string[]];
      this.hooks.catalog.placePartition(record.meta.id, { ...partition, agentId, replicas });
    }
    return awaitingHoldersError(record.meta, partition, holders);
  }

  /**
   * An upload that lost a copy gets it back on another live agent, copied from the agent that
   * serves it (agent to agent over the data ports), so the next death loses nothing either.
   * In the background: the partition is served meanwhile.
   */
  private restoreCopies(arrayId: string, index: number): void {
    const { catalog } = this.hooks;
    const record = catalog.header(arrayId);
    if (record === undefined || record.origin.kind !== 'upload') return;
    const wanted = record.origin.copies;
    const key = `${arrayId}#${index}`;
    if (this.copying.has(key) || catalog.isLost(arrayId, index)) return;
    const copy = async () => {
      for (;;) {
        // Where the partition is now: each pass reads it again from the catalog.
        const partition = catalog.partition(arrayId, index);
        if (partition === undefined) return;
        const holders = holdersOf(partition);
        if (holders.length >= wanted) return;
        const target = this.hooks.placement.roomiestAgent(partition.byteLength, new Set(holders));
        const source = this.hooks.agents.get(partition.agentId);
        if (target === undefined || source === undefined) {
          // Said once: the sweep tries again every few seconds.
          if (!this.shortOfCopies.has(key)) this.hooks.logger.warn('no agent can take another copy of a partition now', { array: record.meta.name, partition: index, copies: holders.length });
          this.shortOfCopies.add(key);
          return;
        }
        this.shortOfCopies.delete(key);
        await this.hooks.placement.allocateCopy(
          target,
          record.meta.id,
          partition,
          { type: 'partition.fetch', arrayId: record.meta.id, dtype: record.meta.dtype, shape: record.meta.shape, partition, holder: source },
          fileLoadTimeoutMs(partition.byteLength),
        );
        const now = catalog.partition(arrayId, index);
        if (now === undefined) {
          // Deleted while the copy was made: the new copy has no owner.
          await this.hooks.placement.releaseCopy(target, record.meta.id, partition);
          return;
        }
        catalog.placePartition(arrayId, { ...now, replicas: [...(now.replicas ?? []), target] });
        this.repeated.info('made a new copy of a partition', { array: record.meta.name, partition: index, on: target });
        this.hooks.events?.note({ kind: 'copies.remade', array: arrayId, name: record.meta.name, partitions: 1 });
        // The new copy may serve: an agent back from the dead gets its share of the primaries.
        this.balanceSoon(arrayId);
      }
    };
    this.copyingByArray.set(arrayId, (this.copyingByArray.get(arrayId) ?? 0) + 1);
    const running = copy()
      .catch((error: unknown) => this.hooks.logger.warn('could not make a new copy of a partition', { array: record.meta.name, partition: index, error: toErrorData(error) }))
      .finally(() => {
        this.copying.delete(key);
        const left = (this.copyingByArray.get(arrayId) ?? 1) - 1;
        if (left > 0) this.copyingByArray.set(arrayId, left);
        else {
          this.copyingByArray.delete(arrayId);
          // The last copy of a burst: the balance that waited for it runs now, in the same
          // turn as that copy was placed, so nobody sees the copies back but the primaries not spread.
          if (this.toBalance.delete(arrayId)) this.balance(arrayId);
        }
      });
    this.copying.set(key, running);
  }

  /** Reads the partition again from its file, or computes it again from its map input. */
  private async rebuildFromSource(record: ArrayRecord, partition: PartitionMeta, lacks: boolean): Promise<PartitionMeta> {
    const { placement, catalog, logger } = this.hooks;
    const { meta, origin } = record;
    switch (origin.kind) {
      case 'upload':
        // (Has no source: told apart by noLiveCopy before this is called.)
        throw awaitingHoldersError(meta, partition, holdersOf(partition));
      case 'file': {
        // A file-backed partition takes no memory: any alive agent serves it again at once.
        const target = placement.roomiestAgent(heldBytes(meta, partition));
        if (target === undefined) throw this.noRoom(meta, partition);
        const moved = { ...partition, agentId: target, replicas: [] };
        const rowBytes = colsOf(meta.shape) * bytesPerElement(meta.dtype);
        await placement.allocateCopy(
          target,
          meta.id,
          moved,
          {
            type: 'partition.load',
            arrayId: meta.id,
            dtype: meta.dtype,
            shape: meta.shape,
            partition: moved,
            source: origin.source,
            dataOffset: origin.dataOffset + partition.rowStart * rowBytes,
            ...(meta.file === undefined ? {} : { file: meta.file }),
          },
          meta.file === undefined ? fileLoadTimeoutMs(partition.byteLength) : CONTROL_TIMEOUT_MS,
        );
        return moved;
      }
      case 'map': {
        const inputGone = () => new DataLostError(`partition ${partition.index} of '${meta.name}' died with agent ${partition.agentId} and its input array is gone`);
        if (catalog.find(origin.inputId) === undefined) throw inputGone();
        // Where the input partition is served; again elsewhere if that agent dies meanwhile.
        for (let attempt = 1; ; attempt++) {
          await this.whenServed(origin.inputId, partition.index).catch((error: unknown) => {
            throw this.inputLost(record, partition, error, lacks);
          });
          // Read after the wait: the input partition may have moved meanwhile.
          const input = catalog.find(origin.inputId);
          if (input === undefined) throw inputGone();
          // A binary op's second input: its rows must be served too (they are read where they are).
          const other = origin.withId === undefined ? undefined : catalog.find(origin.withId);
          if (origin.withId !== undefined && other === undefined) {
            throw new DataLostError(`partition ${partition.index} of '${meta.name}' died with agent ${partition.agentId} and its second input array is gone`);
          }
          if (other !== undefined) {
            const rows = input.meta.partitions[partition.index]!;
            const overlapping = other.meta.partitions.filter((p) => p.rowCount > 0 && p.rowStart < rows.rowStart + rows.rowCount && p.rowStart + p.rowCount > rows.rowStart);
            await Promise.all(overlapping.map((p) => this.whenServed(other.meta.id, p.index))).catch((error: unknown) => {
              throw this.inputLost(record, partition, error, lacks);
            });
          }
          const target = catalog.servingAgent(origin.inputId, partition.index) ?? input.meta.partitions[partition.index]!.agentId;
          const moved = { ...partition, agentId: target, replicas: [] };
          try {
            await placement.allocateCopy(target, meta.id, moved, {
              type: 'partition.allocate',
              arrayId: meta.id,
              dtype: meta.dtype,
              shape: meta.shape,
              partition: moved,
            });
            try {
              const inputNow = catalog.find(origin.inputId)?.meta ?? input.meta;
              const otherNow = other === undefined ? undefined : (catalog.find(other.meta.id)?.meta ?? other.meta);
              await this.hooks.runMapTask(inputNow, { ...meta, partitions: meta.partitions.map((p) => (p.index === moved.index ? moved : p)) }, origin, partition.index, otherNow);
            } catch (error) {
              await placement.releaseCopy(target, meta.id, moved);
              throw error;
            }
            return moved;
          } catch (error) {
            const targetDied = error instanceof ConnectionError && error.details?.agentId === target;
            if (!targetDied || attempt >= MAX_REBUILD_ATTEMPTS) throw error;
            logger.warn('the agent rebuilding a map partition died; again on the next one', { array: meta.name, partition: partition.index, agent: target });
          }
        }
      }
    }
  }

  /**
   * The map output partition cannot be computed again: its input partition is lost for good. It
   * is lost for good too once its own agent came back without it (`lacks`); until then, that
   * agent may still come back with it.
   */
  private inputLost(record: ArrayRecord, partition: PartitionMeta, error: unknown, lacks: boolean): unknown {
    if (!(error instanceof PartitionLostError)) return error;
    const input = record.origin.kind === 'map' ? this.hooks.catalog.find(record.origin.inputId) : undefined;
    const inputName = input?.meta.name ?? 'its input';
    if (!lacks) {
      return new DataLostError(
        `partition ${partition.index} of '${record.meta.name}' was on agent ${partition.agentId}, which died, and cannot be computed again: ` +
          `its input '${inputName}' lost that partition for good. It is served again if that agent comes back with its memory; otherwise compute it again from data put again`,
        { retryable: true, cause: error, details: { array: record.meta.name, arrayId: record.meta.id, partition: partition.index } },
      );
    }
    this.hooks.catalog.markLost(record.meta.id, partition.index);
    this.hooks.events?.note({ kind: 'partitions.lost', array: record.meta.id, name: record.meta.name, partitions: 1 });
    return partitionLostError(this.hooks.catalog.find(record.meta.id)?.meta ?? record.meta, `its agent restarted without it, and its input '${inputName}' lost that partition for good too, so it cannot be computed again`);
  }

  private noRoom(meta: ArrayMeta, partition: PartitionMeta): Error {
    return new InsufficientMemoryError(
      `no live agent has room to rebuild partition ${partition.index} of '${meta.name}': add an agent or delete arrays`,
      { retryable: true },
    );
  }
}

/** The array was deleted (or replaced, and not kept as lineage): nothing of it is served any more. */
function missing(arrayId: string): ArrayNotFoundError {
  return new ArrayNotFoundError(`no array with id ${arrayId} (it may have been deleted or replaced)`, { details: { arrayId } });
}
