import { KernelError } from '@sharc/protocol';

/** Kernel code by content hash, as clients uploaded it; agents fetch what they have not cached. */
export class KernelStore {
  private readonly code = new Map<string, string>();

  put(hash: string, code: string): void {
    this.code.set(hash, code);
  }

  get(hash: string): string {
    const code = this.code.get(hash);
    if (code === undefined) throw new KernelError(`no kernel with hash ${hash} was uploaded to this coordinator`);
    return code;
  }
}
