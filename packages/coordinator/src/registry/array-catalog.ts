import { ArrayNotFoundError, NameTakenError, type ArrayMeta, type BackingFile, type PartitionMeta } from '@sharc/protocol';
import type { ArrayRecord } from '../state/records.js';

// Saved by the state store: the types come from its schemas, so what is read back is what is written.
export type { ArrayOrigin, ArrayRecord } from '../state/records.js';

/**
 * Every array the cluster knows, by id and by name, and where each partition is: the one owner
 * of placement. An array is `pending` while its bytes are being written and becomes visible by
 * name only when committed; replacing a name swaps the old array out only at that moment, so a
 * failed put never loses what was stored.
 *
 * What it hands out cannot be changed by its holder: records and their ArrayMeta are frozen, and
 * every change (a partition moved, a state changed) makes new ones. A job or a recovery holding
 * an ArrayMeta holds a snapshot; it asks the catalog who serves a partition now
 * (`servingAgent`, `find`). Each change raises a revision number, of the array and of the whole
 * catalog (`revision`); an array deleted is gone by id (ids are never reused: a name deleted
 * and created again is another array, with another id).
 */
export class ArrayCatalog {
  private readonly byId = new Map<string, CatalogEntry>();
  private readonly byName = new Map<string, string>();
  /** The revision of each array: the catalog's revision when it last changed. */
  private readonly revisions = new Map<string, number>();
  private currentRevision = 0;
  /** Partition copies placed on each agent (none lost for good), kept as records change (see placedCopies). */
  private readonly copiesByAgent = new Map<string, number>();
  /** Partitions each agent serves (primary copies, none lost for good) of every array, kept as records change. */
  private readonly servingByAgent = new Map<string, number>();
  /**
   * The partitions (any copy, none lost for good) on each agent, by array, kept as records
   * change: an agent that registers (again) is told what it keeps without a walk of every
   * partition of every array (1,000 agents greeted again after a stall each cost one).
   */
  private readonly heldByAgent = new Map<string, Map<string, Set<number>>>();

  /**
   * `onChange` hears of every array that changed (`current` undefined: deleted), to keep the
   * state store current; `current()` gives the record as it is when called (the store calls it
   * when it writes, so many changes before a write cost one snapshot).
   */
  constructor(private readonly onChange: (arrayId: string, current: (() => ArrayRecord) | undefined) => void = () => undefined) {}

  /** Puts back records a previous coordinator stored (names of ready arrays included). */
  restore(records: readonly ArrayRecord[]): void {
    for (const record of records) {
      const entry = newEntry(freezeRecord(record));
      this.byId.set(record.meta.id, entry);
      this.tally(entry, 1);
      this.revisions.set(record.meta.id, ++this.currentRevision);
      if (record.state === 'ready') this.byName.set(record.meta.name, record.meta.id);
    }
  }

  /** Raises with every change to any array (its placement, its state; added or removed). */
  get revision(): number {
    return this.currentRevision;
  }

  /** The array's revision (raised by every change to it), or undefined once it is gone. */
  revisionOf(arrayId: string): number | undefined {
    return this.revisions.get(arrayId);
  }

  /**
   * Sets where partition `partition.index` of the array is (its serving agent and replicas):
   * recovery moved it, a map's output followed its input. Returns false, changing nothing,
   * when the array is gone (deleted meanwhile).
   */
  placePartition(arrayId: string, partition: PartitionMeta): boolean {
    return this.placePartitions(arrayId, [partition]);
  }

  /**
   * Sets several partitions of the array at once (one revision); false when the array is gone.
   * Costs the partitions moved, not the array's: the next snapshot of the array is made when
   * someone asks for it (find, list, the state store's write), once for any number of moves.
   */
  placePartitions(arrayId: string, moved: readonly PartitionMeta[]): boolean {
    const entry = this.byId.get(arrayId);
    if (entry === undefined) return false;
    for (const partition of moved) {
      if (entry.partitions[partition.index] === undefined) throw new RangeError(`array ${entry.snapshot.meta.name} has no partition ${partition.index}`);
    }
    const indices = moved.map((p) => p.index);
    this.tally(entry, -1, indices);
    for (const partition of moved) entry.partitions[partition.index] = freezePartition({ ...partition });
    this.tally(entry, 1, indices);
    entry.stale = true;
    this.changed(arrayId, entry);
    return true;
  }

  /** The agent serving partition `index` of the array now, or undefined when the array (or partition) is gone. */
  servingAgent(arrayId: string, index: number): string | undefined {
    return this.byId.get(arrayId)?.partitions[index]?.agentId;
  }

  /** Where partition `index` of the array is now (frozen), or undefined when the array (or partition) is gone. O(1). */
  partition(arrayId: string, index: number): PartitionMeta | undefined {
    return this.byId.get(arrayId)?.partitions[index];
  }

  /** Whether partition `index` of the array is lost for good. O(1). */
  isLost(arrayId: string, index: number): boolean {
    return this.byId.get(arrayId)?.lost.has(index) ?? false;
  }

  /**
   * The array's record without its placement (name, dtype, shape, origin, state), or undefined
   * when it is gone: O(1), for who reads one partition at a time (`partition`) and must not
   * pay a snapshot of every partition per read.
   */
  header(arrayId: string): ArrayHeader | undefined {
    return this.byId.get(arrayId)?.snapshot;
  }

  /**
   * Records that a partition is lost for good (every agent that held a copy came back without
   * it, and it has no source): jobs and reads of the array fail, listings say so, and only
   * deleting it is left.
   */
  markLost(arrayId: string, index: number): void {
    const entry = this.byId.get(arrayId);
    if (entry === undefined || entry.lost.has(index)) return;
    const record = this.snapshotOf(entry);
    this.update({ ...record, meta: { ...record.meta, lostPartitions: [...entry.lost, index].sort((a, b) => a - b) } });
  }

  /**
   * Partition copies (serving or replica) placed on each agent, none lost for good: what each
   * agent holds once the calls that placed them have returned. Counted again only after a change.
   */
  placedCopies(): ReadonlyMap<string, number> {
    return this.copiesByAgent;
  }

  /**
   * Adds (`sign` 1) or takes away (-1) the copies and serving counts an array places on each
   * agent: of every partition, or of the partitions `indices` names (a move changes only
   * those, so recovery moving one partition of a huge array costs one partition here).
   */
  private tally(entry: CatalogEntry, sign: 1 | -1, indices?: readonly number[]): void {
    const add = (counts: Map<string, number>, agentId: string) => {
      const now = (counts.get(agentId) ?? 0) + sign;
      if (now === 0) counts.delete(agentId);
      else counts.set(agentId, now);
    };
    const arrayId = entry.snapshot.meta.id;
    const hold = (agentId: string, index: number) => {
      add(this.copiesByAgent, agentId);
      let arrays = this.heldByAgent.get(agentId);
      if (arrays === undefined) this.heldByAgent.set(agentId, (arrays = new Map()));
      let indices = arrays.get(arrayId);
      if (indices === undefined) arrays.set(arrayId, (indices = new Set()));
      if (sign === 1) indices.add(index);
      else {
        indices.delete(index);
        if (indices.size === 0) arrays.delete(arrayId);
        if (arrays.size === 0) this.heldByAgent.delete(agentId);
      }
    };
    const count = (p: PartitionMeta | undefined) => {
      if (p === undefined || entry.lost.has(p.index)) return;
      hold(p.agentId, p.index);
      for (const agentId of p.replicas ?? []) hold(agentId, p.index);
      add(this.servingByAgent, p.agentId);
      add(entry.serving, p.agentId);
    };
    if (indices === undefined) for (const p of entry.partitions) count(p);
    else for (const index of indices) count(entry.partitions[index]);
  }

  /** Raises the array's revision and the catalog's, and tells the state store. */
  private changed(arrayId: string, entry: CatalogEntry): void {
    this.revisions.set(arrayId, ++this.currentRevision);
    this.onChange(arrayId, () => this.snapshotOf(entry));
  }

  /** The entry's record as it is now (frozen), made again only after a change. */
  private snapshotOf(entry: CatalogEntry): ArrayRecord {
    if (entry.stale) {
      const partitions = entry.partitions.slice();
      Object.freeze(partitions);
      const meta: ArrayMeta = Object.freeze({ ...entry.snapshot.meta, partitions });
      entry.snapshot = Object.freeze({ ...entry.snapshot, meta });
      entry.stale = false;
    }
    return entry.snapshot;
  }

  /** Stores a changed record (frozen) in place of the array's, raising its revision and the catalog's, and tells the state store. */
  private update(record: ArrayRecord): ArrayRecord {
    const frozen = freezeRecord(record);
    const before = this.byId.get(record.meta.id);
    if (before !== undefined) this.tally(before, -1);
    const entry = newEntry(frozen);
    this.tally(entry, 1);
    this.byId.set(record.meta.id, entry);
    this.changed(record.meta.id, entry);
    return frozen;
  }

  /** Partitions each agent serves (as the primary copy) of every array but `exceptArrayId`. O(agents). */
  servingCounts(exceptArrayId?: string): Map<string, number> {
    const counts = new Map(this.servingByAgent);
    const except = exceptArrayId === undefined ? undefined : this.byId.get(exceptArrayId);
    if (except !== undefined) {
      for (const [agentId, n] of except.serving) {
        const left = (counts.get(agentId) ?? 0) - n;
        if (left === 0) counts.delete(agentId);
        else counts.set(agentId, left);
      }
    }
    return counts;
  }

  /** Partitions each agent serves (as the primary copy) of every array, none lost: kept as it changes, O(1). */
  servingTotals(): ReadonlyMap<string, number> {
    return this.servingByAgent;
  }

  /** Partitions each agent serves (as the primary copy) of the array, none lost: kept as it changes, O(1). */
  servingCountsOf(arrayId: string): ReadonlyMap<string, number> {
    return this.byId.get(arrayId)?.serving ?? new Map();
  }

  /**
   * The serving agents of the newest ready array whose partitions have exactly these row
   * ranges (none lost), or undefined: a new array is placed alike (PartitionAllocator).
   */
  layoutLike(ranges: ReadonlyArray<{ rowStart: number; rowCount: number }>): string[] | undefined {
    let newest: CatalogEntry | undefined;
    for (const entry of this.byId.values()) {
      const { partitions } = entry;
      if (entry.snapshot.state !== 'ready' || entry.lost.size > 0 || partitions.length !== ranges.length) continue;
      if (!partitions.every((p, i) => p.rowStart === ranges[i]!.rowStart && p.rowCount === ranges[i]!.rowCount)) continue;
      if (newest === undefined || entry.snapshot.meta.createdAt >= newest.snapshot.meta.createdAt) newest = entry;
    }
    return newest?.partitions.map((p) => p.agentId);
  }

  /** Throws NameTakenError unless `name` is free, or taken but replaceable. */
  checkName(name: string, replace: boolean): void {
    const holder = this.byName.get(name);
    if (holder !== undefined && !replace) {
      throw new NameTakenError(`an array named '${name}' already exists`, {
        fix: { option: 'replace', value: true, alternative: 'pick another name' },
        details: { name },
      });
    }
    for (const { snapshot: record } of this.byId.values()) {
      if (record.state === 'pending' && record.meta.name === name) {
        const writer = record.transferToken === undefined ? 'a running map' : `an upload of client ${record.owner ?? 'unknown'}`;
        throw new NameTakenError(
          `an array named '${name}' is being written right now (by ${writer}): wait for it, pick another name, or drop it ` +
            `(sharc rm / cluster.delete(name); sharc ls --all lists arrays being written). A client that went away loses it within the liveness window`,
          { details: { name } },
        );
      }
    }
  }

  /** Adds a new array being written. It is frozen from now on: its holder changes it only through the catalog. */
  addPending(record: ArrayRecord): void {
    if (this.byId.has(record.meta.id)) throw new RangeError(`array id ${record.meta.id} is taken`);
    this.update(record);
  }

  /**
   * A map output written to a `.npy` file, once every row is in: its file's size and
   * modification time as they are now, and the file as its origin, so that a partition lost
   * with its agent is served again from the file rather than computed again from the input.
   */
  fileWritten(arrayId: string, file: BackingFile): void {
    const entry = this.byId.get(arrayId);
    if (entry === undefined) return;
    const record = this.snapshotOf(entry);
    this.update({ ...record, meta: { ...record.meta, file }, origin: { kind: 'file', source: { path: file.path, format: 'npy' }, dataOffset: file.dataOffset } });
  }

  /** Makes a pending array visible; returns the array it replaced, if any. */
  commit(arrayId: string): { record: ArrayRecord; replaced: ArrayRecord | undefined } {
    const record = this.getRecord(arrayId);
    if (record.state === 'ready') return { record, replaced: undefined };
    const holderId = this.byName.get(record.meta.name);
    const replacedEntry = holderId === undefined ? undefined : this.byId.get(holderId);
    const replaced = replacedEntry === undefined ? undefined : this.snapshotOf(replacedEntry);
    if (replaced !== undefined && !record.replace) {
      throw new NameTakenError(`an array named '${record.meta.name}' appeared while this one was written`, {
        fix: { option: 'replace', value: true },
        details: { name: record.meta.name },
      });
    }
    let replacedNow = replaced;
    if (replacedEntry !== undefined && replaced !== undefined) {
      this.byId.delete(replaced.meta.id);
      this.tally(replacedEntry, -1);
      if (this.hasDependents(replaced.meta.id)) {
        // Still the lineage of a live map output: out of sight, but kept (see retire()).
        replacedNow = this.update({ ...replaced, state: 'retired' });
      } else {
        this.revisions.delete(replaced.meta.id);
        this.currentRevision++;
        this.onChange(replaced.meta.id, undefined);
      }
    }
    // Written: no transfer token lets anyone write it any more.
    const committed: ArrayRecord = { ...record, state: 'ready' };
    delete committed.transferToken;
    const ready = this.update(committed);
    this.byName.set(record.meta.name, arrayId);
    return { record: ready, replaced: replacedNow };
  }

  /**
   * Whether a map output was computed from the array and is still kept (pending, ready, or
   * retired itself because a further output needs it: lineage is a chain).
   */
  hasDependents(arrayId: string): boolean {
    for (const { snapshot: record } of this.byId.values()) {
      if (record.origin.kind === 'map' && (record.origin.inputId === arrayId || record.origin.withId === arrayId)) return true;
    }
    return false;
  }

  /** Hides a deleted array that is still some map output's lineage: its name is free again. */
  retire(arrayId: string): void {
    const record = this.getRecord(arrayId);
    if (this.byName.get(record.meta.name) === arrayId) this.byName.delete(record.meta.name);
    this.update({ ...record, state: 'retired' });
  }

  remove(arrayId: string): ArrayRecord {
    const record = this.getRecord(arrayId);
    this.tally(this.byId.get(arrayId)!, -1);
    this.byId.delete(arrayId);
    this.revisions.delete(arrayId);
    this.currentRevision++;
    if (this.byName.get(record.meta.name) === arrayId) this.byName.delete(record.meta.name);
    this.onChange(arrayId, undefined);
    return record;
  }

  /** The partitions (any copy) placed on the agent, by array: what it must keep (none lost for good). */
  partitionsOnAgent(agentId: string): Array<{ arrayId: string; partitions: number[] }> {
    const held = this.heldByAgent.get(agentId);
    if (held === undefined) return [];
    return [...this.byId.keys()].flatMap((arrayId) => {
      const indices = held.get(arrayId);
      return indices === undefined ? [] : [{ arrayId, partitions: [...indices].sort((a, b) => a - b) }];
    });
  }

  /** An array still being written (upload or map output), by name. */
  pendingByName(name: string): ArrayRecord | undefined {
    const entry = [...this.byId.values()].find((e) => e.snapshot.state === 'pending' && e.snapshot.meta.name === name);
    return entry === undefined ? undefined : this.snapshotOf(entry);
  }

  /** Arrays still being written: uploads in progress and outputs of running maps. */
  pending(): ArrayRecord[] {
    return this.all().filter((r) => r.state === 'pending');
  }

  /** The uploads in progress whose lease `clientId` holds. */
  uploadsOf(clientId: string): ArrayRecord[] {
    return this.pending().filter((r) => r.transferToken !== undefined && r.owner === clientId);
  }

  /** Every record (pending, ready and retired). */
  all(): ArrayRecord[] {
    return [...this.byId.values()].map((entry) => this.snapshotOf(entry));
  }

  find(arrayId: string): ArrayRecord | undefined {
    const entry = this.byId.get(arrayId);
    return entry === undefined ? undefined : this.snapshotOf(entry);
  }

  getRecord(arrayId: string): ArrayRecord {
    const record = this.find(arrayId);
    if (record === undefined) throw new ArrayNotFoundError(`no array with id ${arrayId} (it may have been deleted or replaced)`);
    return record;
  }

  ready(arrayId: string): ArrayMeta {
    const record = this.getRecord(arrayId);
    if (record.state === 'retired') throw new ArrayNotFoundError(`array ${record.meta.name} (${arrayId}) was deleted or replaced`);
    if (record.state !== 'ready') throw new ArrayNotFoundError(`array ${record.meta.name} is still being written`);
    return record.meta;
  }

  byNameOrThrow(name: string): ArrayMeta {
    const id = this.byName.get(name);
    if (id === undefined) {
      throw new ArrayNotFoundError(`no array named '${name}'`, {
        fix: { call: 'list' },
        details: { name },
      });
    }
    return this.ready(id);
  }

  list(): ArrayMeta[] {
    return this.all().filter((r) => r.state === 'ready').map((r) => r.meta);
  }
}

/** An array's record without its placement: what `header` hands out. */
export type ArrayHeader = Omit<ArrayRecord, 'meta'> & { meta: Omit<ArrayMeta, 'partitions' | 'lostPartitions'> };

/**
 * What the catalog keeps of one array: the record as last handed out, and where each partition
 * is now. Moves change `partitions` in place (each element is a frozen PartitionMeta; the list
 * is the catalog's alone, never handed out) and mark the snapshot stale.
 */
interface CatalogEntry {
  /** Frozen; its partitions are out of date while `stale`. */
  snapshot: ArrayRecord;
  partitions: PartitionMeta[];
  stale: boolean;
  /** Partitions lost for good (as snapshot.meta.lostPartitions: markLost replaces the entry). */
  lost: ReadonlySet<number>;
  /** Partitions each agent serves of this array, none lost. */
  serving: Map<string, number>;
}

function newEntry(record: ArrayRecord): CatalogEntry {
  return { snapshot: record, partitions: record.meta.partitions.slice(), stale: false, lost: new Set(record.meta.lostPartitions ?? []), serving: new Map() };
}

function freezePartition(partition: PartitionMeta): PartitionMeta {
  if (partition.replicas !== undefined) Object.freeze(partition.replicas);
  return Object.freeze(partition);
}

/**
 * Freezes a record the catalog keeps, its ArrayMeta and each partition (in place: a new record
 * is made of fresh objects, or of parts of a frozen one). Frozen parts are skipped, so a change
 * to one partition costs the copy of the partition list, not a walk of every partition.
 */
function freezeRecord(record: ArrayRecord): ArrayRecord {
  if (Object.isFrozen(record)) return record;
  const { meta } = record;
  if (!Object.isFrozen(meta)) {
    for (const partition of meta.partitions) if (!Object.isFrozen(partition)) freezePartition(partition);
    Object.freeze(meta.partitions);
    Object.freeze(meta.shape);
    if (meta.lostPartitions !== undefined) Object.freeze(meta.lostPartitions);
    Object.freeze(meta);
  }
  Object.freeze(record.origin);
  return Object.freeze(record);
}
