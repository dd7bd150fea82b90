/** Bumped on any incompatible change of a message; peers of another version are refused. */
export const PROTOCOL_VERSION = 4;
