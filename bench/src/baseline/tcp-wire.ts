/** The raw TCP baseline's tiny protocol, shared by the client and the peer process. */

/** Sent by the peer once it holds every byte; the upload is timed up to its arrival. */
export const ACK = Buffer.from([0x06]);
/** Sent by the client to ask for the bytes back. */
export const SEND_BACK = Buffer.from([0x05]);

export function parseByteLength(raw: string | undefined): number {
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`byte length must be a positive integer, got ${raw}`);
  return value;
}
