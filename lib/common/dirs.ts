// The directory a file goes in: creating it when the caller asks (`createParents`), and
// errors that say when the directory, not the file, is the problem (ENOENT for a missing
// directory, EACCES for one the caller cannot write). Both only after a call failed:
// nothing here costs anything on the way to a success.
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { displayPath, dirnameOf, type FsPath } from './args';
import { codeError, fsErrorCode, type FsLockError } from './errors';

/** The missing directory that makes a failure ENOENT: the outermost missing ancestor. */
function firstMissingSync(dir: FsPath): string | undefined {
  let missing: string | undefined;
  for (let d = displayPath(dir); ; d = nodePath.dirname(d)) {
    try {
      fs.statSync(d);
      return missing;
    } catch (e) {
      if (fsErrorCode(e) !== 'ENOENT') return missing;
      missing = d;
    }
    if (nodePath.dirname(d) === d) return missing;
  }
}

async function firstMissing(dir: FsPath): Promise<string | undefined> {
  let missing: string | undefined;
  for (let d = displayPath(dir); ; d = nodePath.dirname(d)) {
    try {
      await fs.promises.stat(d);
      return missing;
    } catch (e) {
      if (fsErrorCode(e) !== 'ENOENT') return missing;
      missing = d;
    }
    if (nodePath.dirname(d) === d) return missing;
  }
}

function writable(dir: FsPath): boolean {
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function writableAsync(dir: FsPath): Promise<boolean> {
  return fs.promises.access(dir, fs.constants.W_OK | fs.constants.X_OK).then(
    () => true,
    () => false,
  );
}

/** Whether `path` is there (a dangling link counts: the name is taken). */
function existsSync(path: FsPath): boolean {
  try {
    fs.lstatSync(path);
    return true;
  } catch (e) {
    return fsErrorCode(e) !== 'ENOENT';
  }
}

async function exists(path: FsPath): Promise<boolean> {
  return fs.promises.lstat(path).then(
    () => true,
    (e: unknown) => fsErrorCode(e) !== 'ENOENT',
  );
}

/** `e` with its description naming the directory (code, errno, syscall, path unchanged). */
function naming(e: FsLockError, detail: string): FsLockError {
  const out = codeError(e.code, e.syscall ?? 'open', e.path, e.dest, detail);
  if (e.errno !== undefined) out.errno = e.errno;
  return out;
}

const isFsError = (e: unknown): e is FsLockError =>
  !!e && typeof (e as FsLockError).code === 'string' && typeof (e as FsLockError).syscall === 'string';

/**
 * An error of creating or replacing a file in `dirnameOf(path)`, reworded when the
 * directory is the cause: `ENOENT: directory '/a/b' does not exist, open '/a/b/c/f'`
 * (the outermost missing one), `EACCES: permission denied (directory '/a' is not
 * writable), open '/a/f'`. Anything else is returned as it is. Call it on the failure
 * path only (it looks at the directory).
 *
 * `use`: `'replace'` (an atomic write: it needs the directory whether or not the file
 * exists) or `'create'` (a lock: only a missing lock file needs the directory, so EACCES
 * names the directory only when `path` does not exist; an existing lock file the caller
 * cannot open is the file's problem).
 */
export function explainDirErrorSync(e: unknown, path: FsPath, use: 'replace' | 'create' = 'replace'): unknown {
  if (!isFsError(e)) return e;
  const dir = dirnameOf(path);
  if (e.code === 'ENOENT') {
    const missing = firstMissingSync(dir);
    return missing === undefined ? e : naming(e, `directory '${missing}' does not exist`);
  }
  if (e.code === 'EACCES' && (use === 'replace' || !existsSync(path)) && !writable(dir))
    return naming(e, `permission denied (directory '${displayPath(dir)}' is not writable)`);
  return e;
}

/** {@link explainDirErrorSync} without blocking the event loop. */
export async function explainDirError(
  e: unknown,
  path: FsPath,
  use: 'replace' | 'create' = 'replace',
): Promise<unknown> {
  if (!isFsError(e)) return e;
  const dir = dirnameOf(path);
  if (e.code === 'ENOENT') {
    const missing = await firstMissing(dir);
    return missing === undefined ? e : naming(e, `directory '${missing}' does not exist`);
  }
  if (e.code === 'EACCES' && (use === 'replace' || !(await exists(path))) && !(await writableAsync(dir)))
    return naming(e, `permission denied (directory '${displayPath(dir)}' is not writable)`);
  return e;
}

/**
 * After a call on `path` failed with `e`: when `e` is ENOENT and `path`'s directory is
 * missing, creates it and its missing parents (`mkdir -p`, mode 0o777 minus the umask)
 * and returns true: the caller tries once more. False otherwise (nothing done).
 */
export function makeParentsSync(e: unknown, path: FsPath): boolean {
  if (fsErrorCode(e) !== 'ENOENT') return false;
  const dir = dirnameOf(path);
  if (firstMissingSync(dir) === undefined) return false;
  fs.mkdirSync(dir, { recursive: true });
  return true;
}

/** {@link makeParentsSync} without blocking the event loop. */
export async function makeParents(e: unknown, path: FsPath): Promise<boolean> {
  if (fsErrorCode(e) !== 'ENOENT') return false;
  const dir = dirnameOf(path);
  if ((await firstMissing(dir)) === undefined) return false;
  await fs.promises.mkdir(dir, { recursive: true });
  return true;
}
