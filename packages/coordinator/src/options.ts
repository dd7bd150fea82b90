import { InvalidArgumentError, createLogger, isSubjectToken, type Logger } from '@sharc/protocol';

export interface CoordinatorOptions {
  /** Cluster name: the second token of every subject. @default 'default' */
  cluster?: string;
  /** An agent silent for this long is declared dead; Infinity turns liveness off. @default 3000 */
  deadAfterMs?: number;
  /** A client upload not committed within this time is dropped and its memory freed. @default 3600000 */
  pendingUploadTtlMs?: number;
  /** @default a JSON-lines logger on stderr */
  logger?: Logger;
}

export type ResolvedCoordinatorOptions = Required<CoordinatorOptions>;

export function resolveCoordinatorOptions(options: CoordinatorOptions = {}): ResolvedCoordinatorOptions {
  const cluster = options.cluster ?? 'default';
  if (!isSubjectToken(cluster)) throw new InvalidArgumentError(`cluster ${JSON.stringify(cluster)} may only hold letters, digits, '-' and '_'`);
  const deadAfterMs = options.deadAfterMs ?? 3000;
  if (!(deadAfterMs > 0)) throw new InvalidArgumentError(`deadAfterMs must be positive, got ${deadAfterMs}`);
  return {
    cluster,
    deadAfterMs,
    pendingUploadTtlMs: options.pendingUploadTtlMs ?? 60 * 60 * 1000,
    logger: options.logger ?? createLogger('coordinator'),
  };
}
