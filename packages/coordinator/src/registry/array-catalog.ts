import { ArrayNotFoundError, NameTakenError, type ArrayMeta } from '@sharc/protocol';

export interface ArrayRecord {
  meta: ArrayMeta;
  state: 'pending' | 'ready';
  /** For a pending upload: what the client must present on the data port. */
  transferToken?: string;
  /** For a pending array: whether committing it may replace a ready array of the same name. */
  replace: boolean;
  createdAt: number;
}

/**
 * Every array the cluster knows, by id and by name. An array is `pending` while its bytes are
 * being written and becomes visible by name only when committed; replacing a name swaps the
 * old array out only at that moment, so a failed put never loses what was stored.
 */
export class ArrayCatalog {
  private readonly byId = new Map<string, ArrayRecord>();
  private readonly byName = new Map<string, string>();

  /** Throws NameTakenError unless `name` is free, or taken but replaceable. */
  checkName(name: string, replace: boolean): void {
    const holder = this.byName.get(name);
    if (holder !== undefined && !replace) {
      throw new NameTakenError(`an array named '${name}' already exists: pick another name or pass { replace: true }`, {
        details: { name },
      });
    }
    for (const record of this.byId.values()) {
      if (record.state === 'pending' && record.meta.name === name) {
        throw new NameTakenError(`an array named '${name}' is being written right now: wait for it or pick another name`, {
          details: { name },
        });
      }
    }
  }

  addPending(record: ArrayRecord): void {
    this.byId.set(record.meta.id, record);
  }

  /** Makes a pending array visible; returns the array it replaced, if any. */
  commit(arrayId: string): { record: ArrayRecord; replaced: ArrayRecord | undefined } {
    const record = this.getRecord(arrayId);
    if (record.state === 'ready') return { record, replaced: undefined };
    const holderId = this.byName.get(record.meta.name);
    const replaced = holderId === undefined ? undefined : this.byId.get(holderId);
    if (replaced !== undefined && !record.replace) {
      throw new NameTakenError(`an array named '${record.meta.name}' appeared while this one was written: pass { replace: true }`);
    }
    if (replaced !== undefined) this.byId.delete(replaced.meta.id);
    record.state = 'ready';
    delete record.transferToken;
    this.byName.set(record.meta.name, arrayId);
    return { record, replaced };
  }

  remove(arrayId: string): ArrayRecord {
    const record = this.getRecord(arrayId);
    this.byId.delete(arrayId);
    if (this.byName.get(record.meta.name) === arrayId) this.byName.delete(record.meta.name);
    return record;
  }

  /** Ids of every array (pending or ready) with a partition on the agent. */
  idsOnAgent(agentId: string): string[] {
    return [...this.byId.values()].filter((r) => r.meta.partitions.some((p) => p.agentId === agentId)).map((r) => r.meta.id);
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
    if (record.state !== 'ready') throw new ArrayNotFoundError(`array ${record.meta.name} is still being written`);
    return record.meta;
  }

  byNameOrThrow(name: string): ArrayMeta {
    const id = this.byName.get(name);
    if (id === undefined) {
      throw new ArrayNotFoundError(`no array named '${name}': list the stored arrays with cluster.list() or sharc ls`, {
        details: { name },
      });
    }
    return this.ready(id);
  }

  list(): ArrayMeta[] {
    return [...this.byId.values()].filter((r) => r.state === 'ready').map((r) => r.meta);
  }

  /**
   * Client uploads pending for longer than `maxAgeMs`: their client went away. Outputs of
   * running jobs are pending too but have no transfer token, and are never swept.
   */
  stalePending(maxAgeMs: number): ArrayRecord[] {
    const now = Date.now();
    return [...this.byId.values()].filter((r) => r.state === 'pending' && r.transferToken !== undefined && now - r.createdAt > maxAgeMs);
  }
}
