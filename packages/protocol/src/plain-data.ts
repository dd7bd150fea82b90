import { KernelError, type SharcError, type SharcErrorOptions } from './errors.js';

/**
 * Kernel params and partials cross a thread and NATS, so they must be plain data: numbers, strings, booleans,
 * null, bigints, typed arrays, arrays and plain objects. Anything else (functions, class
 * instances, symbols, cycles) fails here with a message that says what and where.
 */
export function assertSerialisable(
  value: unknown,
  what: string,
  ErrorClass: new (message: string, options?: SharcErrorOptions) => SharcError = KernelError,
): void {
  const seen = new Set<object>();
  const visit = (v: unknown, path: string): void => {
    switch (typeof v) {
      case 'number':
      case 'string':
      case 'boolean':
      case 'bigint':
        return;
      case 'undefined':
        return;
      case 'function':
      case 'symbol':
        throw new ErrorClass(`${what} is not serialisable: ${path || 'the value'} is a ${typeof v}; return plain data (numbers, arrays, objects, typed arrays)`);
    }
    if (v === null || ArrayBuffer.isView(v)) return;
    const object = v as object;
    if (seen.has(object)) throw new ErrorClass(`${what} is not serialisable: ${path || 'the value'} refers to itself`);
    seen.add(object);
    if (Array.isArray(object)) {
      object.forEach((item, i) => visit(item, `${path}[${i}]`));
    } else {
      const proto = Object.getPrototypeOf(object) as unknown;
      if (proto !== Object.prototype && proto !== null) {
        const name = (object.constructor as { name?: string } | undefined)?.name ?? 'unknown';
        throw new ErrorClass(`${what} is not serialisable: ${path || 'the value'} is a ${name} instance; return plain data`);
      }
      for (const [key, item] of Object.entries(object)) visit(item, path ? `${path}.${key}` : key);
    }
    seen.delete(object);
  };
  visit(value, '');
}
