import type { SharcError } from '@sharc/protocol';

/** Enough for every upload a busy cluster drops in a while; the oldest are forgotten first. */
const MAX_REMEMBERED = 1024;

/**
 * Why uploads in progress were dropped (deleted by a user, or their client went silent), so
 * that the client still writing one hears the reason when it commits or aborts, instead of a
 * bare "no array with id …".
 */
export class DroppedUploads {
  private readonly reasons = new Map<string, SharcError>();

  remember(arrayId: string, reason: SharcError): void {
    this.reasons.delete(arrayId);
    this.reasons.set(arrayId, reason);
    if (this.reasons.size > MAX_REMEMBERED) this.reasons.delete(this.reasons.keys().next().value!);
  }

  /** The reason the upload `arrayId` was dropped, if it was. */
  reasonFor(arrayId: string): SharcError | undefined {
    return this.reasons.get(arrayId);
  }
}
