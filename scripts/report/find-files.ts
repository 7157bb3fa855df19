import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../common/errors.js';

/** `stat` of a path the user named, or a one-line UserError saying what could not be read there (`logs`, `spans`). */
export async function statOrThrow(path: string, what: string) {
  try {
    return await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' || code === 'ENOTDIR' ? 'no such file or directory' : (err as Error).message;
    throw new UserError('E_LOGS', `cannot read ${what} at ${path}: ${why}`, { cause: err });
  }
}

/**
 * The files under `dir` whose name `accept`s, sub-directories included (the demo keeps one per
 * strategy), sorted so that a report reads files in the same order every time.
 */
export async function filesIn(dir: string, accept: (name: string) => boolean): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files: string[] = [];
  for (const e of [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const path = join(dir, e.name);
    if (e.isDirectory()) files.push(...(await filesIn(path, accept)));
    // isFile() is false for a symlink: keep those too, stat decides when it is read.
    else if ((e.isFile() || e.isSymbolicLink()) && accept(e.name)) files.push(path);
  }
  return files;
}
