import { InvalidArgumentError } from './errors.js';

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/** Parses `4GiB`, `512m`, `1e9` or a number of bytes; errors name the option. */
export function parseByteSize(value: string | number, option: string): number {
  if (typeof value === 'number') return checked(value, option, String(value));
  const match = /^\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-z]*)\s*$/i.exec(value);
  const factor = match === null ? undefined : UNITS[match[2]!.toLowerCase()];
  if (match === null || factor === undefined) {
    throw new InvalidArgumentError(`${option} ${JSON.stringify(value)} is not a size: write e.g. 4GiB, 512MiB or a byte count`);
  }
  return checked(Math.floor(Number(match[1]) * factor), option, value);
}

function checked(bytes: number, option: string, text: string): number {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new InvalidArgumentError(`${option} ${text} is not a valid byte count`);
  return bytes;
}

const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** `1.5 GiB`, `256 MiB`, `12 B`: for messages and tables. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BINARY_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value >= 100 ? 0 : 1)} ${BINARY_UNITS[unit]}`;
}

/** WebAssembly's page size. */
export const WASM_PAGE_BYTES = 64 * 1024;
/** wasm32 addresses 4 GiB: 65,536 pages. */
export const WASM32_MAX_PAGES = 65_536;
/**
 * Partitions smaller than this are held in an exactly sized SharedArrayBuffer (the JS loops
 * reduce them in well under a millisecond; rounding them up to pages would cost more memory
 * than WebAssembly saves time).
 */
export const MIN_WASM_PARTITION_BYTES = 1024 * 1024;

/**
 * The pages of the shared WebAssembly.Memory an agent holds a partition of `byteLength` bytes
 * in (its rows, rounded up to whole pages), or undefined when the partition is held in a plain
 * SharedArrayBuffer: under MIN_WASM_PARTITION_BYTES, or past what wasm32 addresses.
 */
export function wasmPagesOf(byteLength: number): number | undefined {
  if (byteLength < MIN_WASM_PARTITION_BYTES) return undefined;
  const pages = Math.ceil(byteLength / WASM_PAGE_BYTES);
  return pages > WASM32_MAX_PAGES ? undefined : pages;
}

/**
 * What a partition of `byteLength` bytes costs against an agent's memory limit: its memory's
 * whole pages, or its bytes. The one rule the agent reserves by and the coordinator places,
 * books and checks room by, so a partition the coordinator gives an agent always fits there.
 */
export function reservedBytesOf(byteLength: number): number {
  const pages = wasmPagesOf(byteLength);
  return pages === undefined ? byteLength : pages * WASM_PAGE_BYTES;
}
