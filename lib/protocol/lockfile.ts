// What both path-lock backends say about a lock path that cannot be used: errors that
// name what is there (a symlink, a FIFO, another user's file) and what to do.
import * as fs from 'node:fs';
import { codeError, type FsLockError } from '../common/errors';
import { READ_MAX, isLockFileContent } from './record';

export type PathKind = 'directory' | 'symlink' | 'other';

/** The error for a lock path that is not a regular file: nothing was locked or changed. */
export function notRegularError(path: string, kind: PathKind, what?: string): FsLockError {
  if (kind === 'directory') return codeError('EISDIR', 'open', path, undefined, 'illegal operation on a directory');
  if (kind === 'symlink')
    return codeError('ELOOP', 'open', path, undefined, 'lock path is a symbolic link (never followed)');
  return codeError('EINVAL', 'open', path, undefined, `lock path is not a regular file${what ? ` (${what})` : ''}`);
}

/** What kind of non-regular file `st` is, for messages. */
export function kindOf(st: fs.Stats): PathKind | undefined {
  if (st.isFile()) return undefined;
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  return 'other';
}

export function otherKindName(st: fs.Stats): string {
  return st.isFIFO()
    ? 'a FIFO'
    : st.isSocket()
      ? 'a socket'
      : st.isCharacterDevice()
        ? 'a character device'
        : st.isBlockDevice()
          ? 'a block device'
          : 'not a file';
}

/**
 * Turns the errors of opening a lock path without following it into what is there:
 * ELOOP/EMLINK from O_NOFOLLOW (a symlink), ENXIO (a socket), EACCES (whose file).
 * Undefined for any other error (the caller's own error says it all).
 */
export function openError(code: string, syscall: string, path: string): FsLockError | undefined {
  if (code === 'ELOOP' || code === 'EMLINK' || code === 'ENXIO' || code === 'EACCES' || code === 'EPERM') {
    let st: fs.Stats | undefined;
    try {
      st = fs.lstatSync(path);
    } catch {
      st = undefined;
    }
    const kind = st && kindOf(st);
    if (st && kind) return notRegularError(path, kind, kind === 'other' ? otherKindName(st) : undefined);
    if (st && (code === 'EACCES' || code === 'EPERM')) {
      const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
      return codeError(
        code,
        syscall,
        path,
        undefined,
        `permission denied: the lock file belongs to uid ${st.uid} with mode ${mode}; every user who locks it ` +
          'needs read and write access (fslock creates lock files with mode 0o666 unless told otherwise: ' +
          'ask its owner to chmod it, or remove it when nobody holds it)',
      );
    }
  }
  return undefined;
}

/**
 * The head (at most READ_MAX bytes) of an fslock lock file at `path` as text, or
 * undefined when there is none: no file, not a regular file (opened without following
 * or blocking), or content that is not fslock's (lockHolder's stale holder reads it).
 */
export function readLockFile(path: string | Buffer): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0));
  } catch {
    return undefined;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return undefined;
    const buf = Buffer.alloc(Math.min(st.size, READ_MAX));
    const n = buf.length ? fs.readSync(fd, buf, 0, buf.length, 0) : 0;
    return isLockFileContent(buf, n, st.size) ? buf.toString('utf8', 0, n) : undefined;
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}
