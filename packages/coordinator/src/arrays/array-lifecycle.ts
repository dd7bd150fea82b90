import { randomBytes } from 'node:crypto';
import {
  CancelledError,
  ConnectionError,
  DataLostError,
  InternalError,
  InvalidArgumentError,
  SharcError,
  holdersOf,
  parseShape,
  type ArrayMeta,
  type Logger,
  type MessageOf,
  type Outgoing,
} from '@sharc/protocol';
import type { PartitionAllocator } from '../placement/partition-allocator.js';
import type { PartitionRecovery } from '../recovery/partition-recovery.js';
import type { ArrayCatalog, ArrayOrigin, ArrayRecord } from '../registry/array-catalog.js';
import { DroppedUploads } from '../registry/dropped-uploads.js';

/** Commits remembered for a client that sends one again (its reply was lost). */
const MAX_COMMITS_KEPT = 1000;
/** A client's upload younger than this is kept even when its heartbeat does not list it yet (its array.placed reply may be on its way). */
const UPLOAD_LISTING_GRACE_MS = 3000;

export interface ArrayLifecycleDeps {
  arrays: ArrayCatalog;
  placement: PartitionAllocator;
  recovery: PartitionRecovery;
  logger: Logger;
  /** Copies of each uploaded partition unless the client asks for another number. */
  copies: number;
}

/**
 * The life of an array, from the coordinator's side: created (placed, its partitions
 * allocated, pending), written, committed (visible by name), aborted, deleted or dropped
 * (its client went away, or no longer writes it), retired while a map output needs it as
 * lineage, and freed on its agents. The catalog keeps the records; this decides what happens
 * to them and tells the agents.
 */
export class ArrayLifecycle {
  /** Why uploads were dropped lately: a commit or abort that comes after hears it. */
  readonly droppedUploads = new DroppedUploads();
  /**
   * Uploads committed lately (id → transfer token): an array.commit resent because its reply
   * was lost in a NATS outage gets the same answer.
   */
  private readonly committedUploads = new Map<string, string>();

  constructor(private readonly deps: ArrayLifecycleDeps) {}

  /** A client commits its upload (again, when the reply to the first commit was lost: same answer). */
  async commitUpload(message: MessageOf<'array.commit'>): Promise<Outgoing<'array.info'>> {
    const record = this.deps.arrays.find(message.arrayId);
    if (record?.state === 'ready' && this.committedUploads.get(message.arrayId) === message.transferToken) return this.arrayInfo(record.meta);
    this.checkUpload(message.arrayId, message.transferToken);
    return this.commitArray(message.arrayId, message.transferToken);
  }

  /** Only an upload still in progress can be aborted: a committed array stays. */
  async abortUpload(message: MessageOf<'array.abort'>): Promise<void> {
    this.checkUpload(message.arrayId, message.transferToken);
    await this.dropArray(this.deps.arrays.getRecord(message.arrayId));
  }

  /** A file loaded on the agents (see loadFileOnAgents): recorded pending, then committed. */
  async addLoaded(record: ArrayRecord): Promise<Outgoing<'array.info'>> {
    this.deps.arrays.addPending(record);
    return this.commitArray(record.meta.id);
  }

  /** Places a new upload, allocates its partitions and records it as pending: the client then writes it. */
  async createArray(message: MessageOf<'array.create'>): Promise<Outgoing<'array.placed'>> {
    const shape = parseShape(message.shape);
    const name = message.name ?? generatedName();
    this.deps.arrays.checkName(name, message.replace ?? false);
    const transferToken = randomBytes(16).toString('hex');
    const meta = this.deps.placement.place(name, message.dtype, shape, message.partitions, message.copies ?? this.deps.copies);
    // A loop, not Math.max(...spread): 100,000 arguments overflow the stack.
    const copies = meta.partitions.reduce((most, p) => Math.max(most, holdersOf(p).length), 1);
    await this.reserve(meta, { kind: 'upload', copies }, message.replace ?? false, { transferToken, owner: message.from });
    return { type: 'array.placed', array: meta, transferToken, agents: this.deps.placement.agentsOf(meta) };
  }

  /**
   * Allocates a new array's partitions on its agents and records it as pending: an upload
   * (with its transfer token, written by a client) or a map output (written by workers).
   */
  async reserve(
    meta: ArrayMeta,
    origin: ArrayOrigin,
    replace: boolean,
    upload: { transferToken: string; owner: string } | undefined,
  ): Promise<void> {
    await this.deps.placement.allocateAll(meta, upload?.transferToken);
    this.deps.arrays.addPending({ meta, origin, state: 'pending', replace, createdAt: Date.now(), ...upload });
  }

  /** Uploads committed lately (id → transfer token), so that a commit sent again gets the same answer. */
  private rememberCommit(arrayId: string, transferToken: string): void {
    this.committedUploads.set(arrayId, transferToken);
    for (const id of this.committedUploads.keys()) {
      if (this.committedUploads.size <= MAX_COMMITS_KEPT) break;
      this.committedUploads.delete(id);
    }
  }

  /** An upload's commit or abort must come with the upload's transfer token, while it is pending. */
  checkUpload(arrayId: string, transferToken: string): void {
    // An upload dropped meanwhile (deleted, or its client was silent too long): say why.
    const dropped = this.deps.arrays.find(arrayId) === undefined ? this.droppedUploads.reasonFor(arrayId) : undefined;
    if (dropped !== undefined) throw dropped;
    const record = this.deps.arrays.getRecord(arrayId);
    if (record.state !== 'pending' || record.transferToken === undefined || record.transferToken !== transferToken) {
      throw new InvalidArgumentError(`array ${arrayId} is not an upload in progress with this transfer token`);
    }
  }

  /**
   * Seals a pending array on its agents and makes it visible by name (replacing an array of
   * that name, freed behind the answer unless it is lineage); dropped if sealing fails.
   */
  async commitArray(arrayId: string, transferToken?: string): Promise<Outgoing<'array.info'>> {
    const record = this.deps.arrays.getRecord(arrayId);
    let committed: ReturnType<ArrayCatalog['commit']>;
    try {
      // Agents refuse to seal an upload with missing bytes; the array then never becomes visible.
      await this.deps.placement.tellAgentsOf(record.meta, { type: 'partition.seal', arrayId });
      committed = this.deps.arrays.commit(arrayId);
      if (transferToken !== undefined) this.rememberCommit(arrayId, transferToken);
    } catch (error) {
      await this.dropArray(record);
      // A commit or abort sent again (its reply was lost while NATS was away) hears why it failed.
      const failure = error instanceof SharcError ? error : new InternalError(`committing ${record.meta.name} failed: ${(error as Error).message}`, { cause: error });
      this.droppedUploads.remember(arrayId, failure);
      throw error;
    }
    // The new array is stored and named: answer now, free the replaced one behind the answer
    // (unless a map output's lineage still needs it: then it stays, retired).
    const { replaced } = committed;
    if (replaced !== undefined && replaced.state !== 'retired') void this.releaseDropped(replaced);
    return this.arrayInfo(committed.record.meta);
  }

  /**
   * The lease of each upload: a client lists the uploads it writes in every heartbeat. One of
   * its pending uploads that it no longer lists, older than UPLOAD_LISTING_GRACE_MS (its
   * array.placed reply has had time to arrive), was given up without an abort reaching this
   * coordinator (the put failed while NATS was away, or its reply was lost): it is dropped, as
   * the uploads of a client that went away are, though this client lives on.
   */
  dropUnlistedUploads(clientId: string, listed: readonly string[]): void {
    const now = Date.now();
    const writing = new Set(listed);
    for (const record of this.deps.arrays.uploadsOf(clientId)) {
      if (writing.has(record.meta.id) || now - record.createdAt < UPLOAD_LISTING_GRACE_MS) continue;
      const { id, name } = record.meta;
      this.deps.logger.warn('an upload its client no longer writes is dropped', { arrayId: id, name, client: clientId });
      this.droppedUploads.remember(
        id,
        new ConnectionError(`the upload of '${name}' was dropped: client ${clientId} no longer writes it (its put failed or was given up, and its abort did not arrive). Put it again`, {
          retryable: true,
          details: { arrayId: id, name, clientId },
        }),
      );
      void this.dropArray(record).catch((error: unknown) => this.deps.logger.warn('could not free a dropped upload', { arrayId: id, error: (error as Error).message }));
    }
  }

  /**
   * Deletes an array. One that a live map output was computed from is only retired (unnamed,
   * its memory kept) until that output goes: it is the output's lineage.
   */
  async dropArray(record: ArrayRecord): Promise<void> {
    // As the catalog has it now (its partitions may have moved since `record` was read).
    const current = this.deps.arrays.getRecord(record.meta.id);
    if (current.state === 'ready' && this.deps.arrays.hasDependents(current.meta.id)) {
      this.deps.arrays.retire(current.meta.id);
      return;
    }
    await this.releaseDropped(this.deps.arrays.remove(current.meta.id));
  }

  /** Frees a removed array, then its lineage input if that was retired and nothing else needs it. */
  private async releaseDropped(record: ArrayRecord): Promise<void> {
    await this.deps.placement.release(record.meta);
    if (record.origin.kind !== 'map') return;
    // Both inputs of a binary op are its lineage.
    for (const inputId of record.origin.withId === undefined ? [record.origin.inputId] : [record.origin.inputId, record.origin.withId]) {
      const input = this.deps.arrays.find(inputId);
      if (input?.state === 'retired' && !this.deps.arrays.hasDependents(input.meta.id)) {
        await this.releaseDropped(this.deps.arrays.remove(input.meta.id));
      }
    }
  }

  /**
   * Where to read an array, once partitions being recovered are served again (a DataLostError if
   * one cannot be). `opening`: an array with a partition no live agent holds opens all the same
   * (its placement and `lostPartitions` say so), so that it can be deleted; reading it fails.
   */
  async servedInfo(arrayId: string, { opening = false } = {}): Promise<Outgoing<'array.info'>> {
    const record = this.deps.arrays.getRecord(arrayId);
    const unreadable = (error: unknown) => {
      if (!opening || !(error instanceof DataLostError)) throw error;
    };
    await Promise.all(record.meta.partitions.map((p) => this.deps.recovery.whenServed(arrayId, p.index).catch(unreadable)));
    // Where they are served now (recovery may have moved some meanwhile).
    return this.arrayInfo(this.deps.arrays.getRecord(arrayId).meta);
  }

  arrayInfo(meta: ArrayMeta): Outgoing<'array.info'> {
    return { type: 'array.info', array: meta, agents: this.deps.placement.agentsOf(meta) };
  }

  /**
   * Deletes an array by id or by name: a ready one (kept, retired, while a map output needs
   * it), or an upload in progress, whose client then fails with CancelledError. The output of
   * a running map goes with its job: cancel that instead.
   */
  async deleteArray(message: MessageOf<'array.delete'>): Promise<void> {
    if ((message.arrayId === undefined) === (message.name === undefined)) throw new InvalidArgumentError('array.delete takes an arrayId or a name, one of the two');
    // By name: the stored array (what `ls` shows), else one being written under that name.
    const byName = (name: string) => {
      const pending = this.deps.arrays.pendingByName(name);
      try {
        return this.deps.arrays.getRecord(this.deps.arrays.byNameOrThrow(name).id);
      } catch (error) {
        if (pending === undefined) throw error;
        return pending;
      }
    };
    const record = message.arrayId !== undefined ? this.deps.arrays.getRecord(message.arrayId) : byName(message.name!);
    if (record.state === 'pending' && record.transferToken === undefined) {
      throw new InvalidArgumentError(
        `array '${record.meta.name}' is the output of a running job: cancel the job instead (sharc status lists it, sharc cancel JOB / cluster.cancel(jobId))`,
      );
    }
    if (record.state === 'pending') {
      this.deps.logger.info('dropping an upload in progress: deleted by a client', { arrayId: record.meta.id, name: record.meta.name, owner: record.owner, by: message.from });
      this.droppedUploads.remember(
        record.meta.id,
        new CancelledError(`the upload of '${record.meta.name}' was deleted before it finished (sharc rm / delete, by ${message.from})`, {
          details: { arrayId: record.meta.id, name: record.meta.name },
        }),
      );
    }
    await this.dropArray(record);
  }

  listArrays(all: boolean): Outgoing<'array.listed'> {
    const arrays = this.deps.arrays.list();
    if (!all) return { type: 'array.listed', arrays };
    const pending = this.deps.arrays.pending().map((r) => ({
      array: r.meta,
      writer: r.transferToken === undefined ? ('map' as const) : ('upload' as const),
      ...(r.owner === undefined ? {} : { clientId: r.owner }),
    }));
    return { type: 'array.listed', arrays, pending };
  }
}

/** A name for an array its creator did not name. */
export function generatedName(): string {
  return `array-${randomBytes(4).toString('hex')}`;
}
