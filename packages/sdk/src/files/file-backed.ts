import path from 'node:path';
import { InvalidArgumentError } from '@sharc/protocol';
import { RESIDENT_CHOICES, type Resident } from '../call-options.js';

/**
 * The client's checks of file-backed arrays (see README "Arrays larger than memory"): the
 * `resident` choice of fromFile and the `.npy` file a map writes its output to. (The hint a
 * resident load that does not fit gets, `{ resident: false }` / `--stream`, is the
 * coordinator's: it words the InsufficientMemoryError.)
 */

/** fromFile's `resident`, checked: a string 'false' or a 0 from a plain-JS caller is refused, not read as true. */
export function checkResident(resident: unknown): Resident | undefined {
  if (resident === undefined) return undefined;
  if ((RESIDENT_CHOICES as readonly unknown[]).includes(resident)) return resident as Resident;
  throw new InvalidArgumentError(
    `resident must be true (read the file into the agents' memory), false (file-backed: jobs stream the rows from the file) or 'auto' (resident when it fits, file-backed otherwise), got ${JSON.stringify(resident) ?? String(resident)}`,
    { details: { option: 'resident' } },
  );
}

/** The extension of the only format a map writes its output file in. */
const NPY_EXTENSION = '.npy';

/**
 * The absolute path of a map's output file (`{ file }`), resolved on this client as fromFile's
 * path is: the agents write it, so it must be a path each of them sees the same way (shared
 * storage, or one host). Only `.npy` is written (its header makes the file self-describing).
 */
export function checkOutputFile(file: unknown, call: string): string {
  if (typeof file !== 'string' || file.length === 0) {
    throw new InvalidArgumentError(`${call}'s file must be the path of the .npy file to write the output to, got ${JSON.stringify(file) ?? String(file)}`, { details: { option: 'file' } });
  }
  if (file.endsWith('/') || path.basename(file) === NPY_EXTENSION) {
    throw new InvalidArgumentError(`${call}'s file ${JSON.stringify(file)} names no file: give one, e.g. /data/out.npy`, { details: { option: 'file' } });
  }
  if (path.extname(file) !== NPY_EXTENSION) {
    throw new InvalidArgumentError(
      `${call} writes its output file as .npy (a header numpy.load reads, then the rows), so its name must end in .npy, got ${JSON.stringify(file)}: write ${JSON.stringify(`${file.replace(/\.[^./]*$/, '')}${NPY_EXTENSION}`)}`,
      { details: { option: 'file' } },
    );
  }
  return path.resolve(file);
}
