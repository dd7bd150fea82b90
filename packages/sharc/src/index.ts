/**
 * sharc: the package a user installs. Its face is the SDK's (@sharc/sdk, carried inside it), and
 * it brings the `sharc` command (@sharc/cli, also carried inside).
 *
 * ```ts
 * import { connect } from 'sharc';
 * const cluster = await connect();                      // embedded; or { servers: 'nats://host:4222' }
 * const a = await cluster.put(new Float64Array(1e6), { shape: [1000, 1000], name: 'm' });
 * console.log(await cluster.reduce(a, 'sum'));
 * await cluster.close();
 * ```
 */
export * from '@sharc/sdk';
