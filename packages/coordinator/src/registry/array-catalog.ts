import { ArrayNotFoundError, NameTakenError, holdersOf, type ArrayMeta } from '@sharc/protocol';
import type { ArrayRecord } from '../state/records.js';

// Saved by the state store: the types come from its schemas, so what is read back is what is written.
export type { ArrayOrigin, ArrayRecord } from '../state/records.js';

/**
 * Every array the cluster knows, by id and by name. An array is `pending` while its bytes are
 * being written and becomes visible by name only when committed; replacing a name swaps the
 * old array out only at that moment, so a failed put never loses what was stored.
 */
export class ArrayCatalog {
  private readonly byId = new Map<string, ArrayRecord>();
  private readonly byName = new Map<string, string>();

  /** Counts every change of the catalog: what is derived from it (placedCounts) is valid for one revision. */
  private changes = 0;

  /** `changed` hears of every record that changed (undefined: deleted), to keep the state store current. */
  constructor(private readonly onChange: (arrayId: string, record: ArrayRecord | undefined) => void = () => undefined) {}

  private changed(arrayId: string, record: ArrayRecord | undefined): void {
    this.changes++;
    this.onChange(arrayId, record);
  }

  /** Grows with every change of a record (placement included): equal revisions, same catalog. */
  get revision(): number {
    return this.changes;
  }

  /** Puts back records a previous coordinator stored (names of ready arrays included). */
  restore(records: readonly ArrayRecord[]): void {
    this.changes++;
    for (const record of records) {
      this.byId.set(record.meta.id, record);
      if (record.state === 'ready') this.byName.set(record.meta.name, record.meta.id);
    }
  }

  /** Says that a record's metadata changed in place (a partition moved to another agent). */
  touch(record: ArrayRecord): void {
    if (this.byId.get(record.meta.id) === record) this.changed(record.meta.id, record);
  }

  /**
   * Records that a partition is lost for good (every agent that held a copy came back without
   * it, and it has no source): jobs and reads of the array fail, listings say so, and only
   * deleting it is left.
   */
  markLost(record: ArrayRecord, index: number): void {
    const lost = new Set(record.meta.lostPartitions ?? []);
    if (lost.has(index)) return;
    record.meta.lostPartitions = [...lost.add(index)].sort((a, b) => a - b);
    this.touch(record);
  }

  /** Partitions each agent serves (as the primary copy) of every array but `exceptArrayId`. */
  servingCounts(exceptArrayId?: string): Map<string, number> {
    const counts = new Map<string, number>();
    for (const record of this.byId.values()) {
      if (record.meta.id === exceptArrayId) continue;
      const lost = new Set(record.meta.lostPartitions ?? []);
      for (const p of record.meta.partitions) if (!lost.has(p.index)) counts.set(p.agentId, (counts.get(p.agentId) ?? 0) + 1);
    }
    return counts;
  }

  /**
   * The serving agents of the newest ready array whose partitions have exactly these row
   * ranges (none lost), or undefined: a new array is placed alike (PartitionAllocator).
   */
  layoutLike(ranges: ReadonlyArray<{ rowStart: number; rowCount: number }>): string[] | undefined {
    let newest: ArrayRecord | undefined;
    for (const record of this.byId.values()) {
      const { partitions } = record.meta;
      if (record.state !== 'ready' || (record.meta.lostPartitions?.length ?? 0) > 0 || partitions.length !== ranges.length) continue;
      if (!partitions.every((p, i) => p.rowStart === ranges[i]!.rowStart && p.rowCount === ranges[i]!.rowCount)) continue;
      if (newest === undefined || record.meta.createdAt >= newest.meta.createdAt) newest = record;
    }
    return newest?.meta.partitions.map((p) => p.agentId);
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
    for (const record of this.byId.values()) {
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

  addPending(record: ArrayRecord): void {
    this.byId.set(record.meta.id, record);
    this.changed(record.meta.id, record);
  }

  /** Makes a pending array visible; returns the array it replaced, if any. */
  commit(arrayId: string): { record: ArrayRecord; replaced: ArrayRecord | undefined } {
    const record = this.getRecord(arrayId);
    if (record.state === 'ready') return { record, replaced: undefined };
    const holderId = this.byName.get(record.meta.name);
    const replaced = holderId === undefined ? undefined : this.byId.get(holderId);
    if (replaced !== undefined && !record.replace) {
      throw new NameTakenError(`an array named '${record.meta.name}' appeared while this one was written`, {
        fix: { option: 'replace', value: true },
        details: { name: record.meta.name },
      });
    }
    if (replaced !== undefined) {
      this.byId.delete(replaced.meta.id);
      if (this.hasDependents(replaced.meta.id)) {
        // Still the lineage of a live map output: out of sight, but kept (see retire()).
        replaced.state = 'retired';
        this.byId.set(replaced.meta.id, replaced);
      }
      this.changed(replaced.meta.id, this.byId.get(replaced.meta.id));
    }
    record.state = 'ready';
    delete record.transferToken;
    this.byName.set(record.meta.name, arrayId);
    this.changed(arrayId, record);
    return { record, replaced };
  }

  /**
   * Whether a map output was computed from the array and is still kept (pending, ready, or
   * retired itself because a further output needs it: lineage is a chain).
   */
  hasDependents(arrayId: string): boolean {
    for (const record of this.byId.values()) {
      if (record.origin.kind === 'map' && (record.origin.inputId === arrayId || record.origin.withId === arrayId)) return true;
    }
    return false;
  }

  /** Hides a deleted array that is still some map output's lineage: its name is free again. */
  retire(arrayId: string): void {
    const record = this.getRecord(arrayId);
    record.state = 'retired';
    if (this.byName.get(record.meta.name) === arrayId) this.byName.delete(record.meta.name);
    this.changed(arrayId, record);
  }

  remove(arrayId: string): ArrayRecord {
    const record = this.getRecord(arrayId);
    this.byId.delete(arrayId);
    if (this.byName.get(record.meta.name) === arrayId) this.byName.delete(record.meta.name);
    this.changed(arrayId, undefined);
    return record;
  }

  /** The partitions (any copy) placed on the agent, by array: what it must keep (none lost for good). */
  partitionsOnAgent(agentId: string): Array<{ arrayId: string; partitions: number[] }> {
    return [...this.byId.values()].flatMap((r) => {
      const lost = new Set(r.meta.lostPartitions ?? []);
      const partitions = r.meta.partitions.filter((p) => !lost.has(p.index) && holdersOf(p).includes(agentId)).map((p) => p.index);
      return partitions.length === 0 ? [] : [{ arrayId: r.meta.id, partitions }];
    });
  }

  /** An array still being written (upload or map output), by name. */
  pendingByName(name: string): ArrayRecord | undefined {
    return [...this.byId.values()].find((r) => r.state === 'pending' && r.meta.name === name);
  }

  /** Arrays still being written: uploads in progress and outputs of running maps. */
  pending(): ArrayRecord[] {
    return [...this.byId.values()].filter((r) => r.state === 'pending');
  }

  /** The uploads in progress whose lease `clientId` holds. */
  uploadsOf(clientId: string): ArrayRecord[] {
    return [...this.byId.values()].filter((r) => r.state === 'pending' && r.transferToken !== undefined && r.owner === clientId);
  }

  /** Every record (pending, ready and retired). */
  all(): ArrayRecord[] {
    return [...this.byId.values()];
  }

  find(arrayId: string): ArrayRecord | undefined {
    return this.byId.get(arrayId);
  }

  getRecord(arrayId: string): ArrayRecord {
    const record = this.byId.get(arrayId);
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
    return [...this.byId.values()].filter((r) => r.state === 'ready').map((r) => r.meta);
  }
}
