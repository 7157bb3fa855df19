import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { UserError } from '../../common/errors.js';

/**
 * Where `npm run logs -- --html FILE` will write, checked before any log is read: the file's
 * directory must already exist (nothing but the file is created: a typo must not make directories
 * anywhere, least of all as root), and FILE must not be a directory. Returns the absolute path;
 * anything wrong is one UserError naming the path.
 */
export async function checkHtmlTarget(file: string): Promise<string> {
  const path = resolve(file);
  const cannot = (why: string) => new UserError('E_HTML_TARGET', `cannot write the HTML report to ${path}: ${why}`);
  const dir = dirname(path);
  const dirStat = await stat(dir).catch((err: NodeJS.ErrnoException) => err);
  if (dirStat instanceof Error) {
    if (dirStat.code === 'ENOENT') throw cannot(`directory ${dir} does not exist (create it first)`);
    if (dirStat.code === 'ENOTDIR') throw cannot(`${await fileAbove(dir)} is a file, not a directory`);
    throw cannot(describeFsError(dirStat));
  }
  if (!dirStat.isDirectory()) throw cannot(`${dir} is a file, not a directory`);
  const fileStat = await stat(path).catch(() => null);
  if (fileStat?.isDirectory()) throw cannot('it is a directory');
  try {
    await access(fileStat ? path : dir, constants.W_OK);
  } catch (err) {
    throw cannot(describeFsError(err as NodeJS.ErrnoException));
  }
  return path;
}

/** A failure to write the report as one line naming the path (a UserError), or the error itself when it is not about the path. */
export function htmlWriteError(path: string, err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === undefined || !['EACCES', 'EPERM', 'EISDIR', 'ENOTDIR', 'ENOENT', 'EROFS', 'ENOSPC', 'EDQUOT'].includes(code)) return err;
  return new UserError('E_HTML_TARGET', `cannot write the HTML report to ${path}: ${describeFsError(err as NodeJS.ErrnoException)}`);
}

/** The nearest ancestor of `dir` that exists: under ENOTDIR, a file. */
async function fileAbove(dir: string): Promise<string> {
  let current = dir;
  for (;;) {
    const parent = dirname(current);
    const found = await stat(current).catch(() => null);
    if (found || parent === current) return current;
    current = parent;
  }
}

function describeFsError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EISDIR':
      return 'it is a directory';
    default:
      // "ENOENT: no such file or directory, open '/proc/r.html'": the path is named already.
      return err.message.replace(/, \w+ '.*'$/, '');
  }
}
