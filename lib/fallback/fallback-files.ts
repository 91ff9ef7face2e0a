// File steps of the fallback backend (lib/fallback/fallback-paths.ts): opening a lock path
// without following or blocking, creating a file whole in one step, reading one past
// the client caches of shared filesystems. No protocol decisions here.
import * as fs from 'node:fs';
import { type FsPath, besideName, dirnameOf, displayPath } from '../common/args';
import { codeError, fsErrorCode } from '../common/errors';
import { onSharedFs } from '../common/fstype';
import { openError } from '../protocol/lockfile';
import { READ_MAX } from '../protocol/record';

export const C = fs.constants;
// O_NOFOLLOW: never follow a planted link; O_NONBLOCK: a FIFO never blocks the open.
export const NOFOLLOW = (C.O_NOFOLLOW ?? 0) | (C.O_NONBLOCK ?? 0);

/** ENOENT or ESTALE: the file went (another client removed or replaced it). */
export function isGoneCode(e: unknown): boolean {
  const code = fsErrorCode(e);
  return code === 'ENOENT' || code === 'ESTALE';
}

/** Node's fs error re-addressed to the lock path (temp files are an implementation detail). */
export function asLockError(e: unknown, path: FsPath): unknown {
  const code = fsErrorCode(e);
  if (code === undefined) return e;
  return codeError(code, (e as NodeJS.ErrnoException).syscall ?? 'open', displayPath(path));
}

/** close(2) whose failure (ESTALE on a shared filesystem) changes nothing for us. */
export function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // The descriptor is gone either way.
  }
}

function tempName(path: FsPath, id: string): FsPath {
  return besideName(path, '.', `.${id}.tmp`);
}

/** Writes `text` to a new unique file beside `path`; returns its name and an open fd. */
export function writeTemp(path: FsPath, id: string, text: string, mode: number): { temp: FsPath; fd: number } {
  const temp = tempName(path, id);
  let fd: number;
  try {
    fd = fs.openSync(temp, C.O_RDWR | C.O_CREAT | C.O_EXCL | NOFOLLOW, mode);
  } catch (e) {
    throw asLockError(e, path);
  }
  try {
    fs.fchmodSync(fd, mode); // exactly `mode`: the umask must not lock other users out
  } catch {
    // Filesystems without permissions.
  }
  try {
    fs.writeSync(fd, text);
    return { temp, fd };
  } catch (e) {
    // ENOSPC, EDQUOT: nothing of this attempt stays behind.
    closeQuietly(fd);
    fs.rmSync(temp, { force: true });
    throw asLockError(e, path);
  }
}

/**
 * Creates `path` with `text` in one step: `link(temp, path)` fails with EEXIST if it
 * exists and never shows an empty or partial file. Filesystems without hard links get
 * `open(O_EXCL)` + write, whose empty instant readers treat as held (EMPTY_GRACE_MS).
 * Returns an fd of the created file, or undefined when `path` exists.
 */
export function createWhole(path: FsPath, id: string, text: string, mode: number): number | undefined {
  const { temp, fd } = writeTemp(path, id, text, mode);
  let keep = false;
  try {
    fs.linkSync(temp, path);
    keep = true;
    return fd;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return undefined;
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EMLINK') {
      let fd2: number;
      try {
        fd2 = fs.openSync(path, C.O_RDWR | C.O_CREAT | C.O_EXCL | NOFOLLOW, mode);
      } catch (e2) {
        if ((e2 as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
        throw asLockError(e2, path);
      }
      try {
        fs.writeSync(fd2, text);
      } catch (e3) {
        closeQuietly(fd2);
        fs.rmSync(path, { force: true });
        throw asLockError(e3, path);
      }
      return fd2;
    }
    throw asLockError(e, path);
  } finally {
    if (!keep) closeQuietly(fd);
    fs.rmSync(temp, { force: true });
  }
}

export function readFd(fd: number, size: number): string {
  const buf = Buffer.alloc(Math.min(size, READ_MAX));
  const n = buf.length ? fs.readSync(fd, buf, 0, buf.length, 0) : 0;
  return buf.toString('utf8', 0, n);
}

/**
 * On a shared filesystem, lists the directory of `path`: FUSE (READDIRPLUS) then
 * replaces a stale entry for it (one that still names a file another client replaced).
 * Used only once something looks wrong: with a listing before every judgement, two of
 * eight GlusterFS stress runs got stuck on an entry that named a replaced file for
 * minutes on both clients (none without; listings racing with renames, presumably).
 */
export function refreshEntries(path: FsPath): void {
  if (!onSharedFs(path)) return;
  try {
    fs.readdirSync(dirnameOf(path));
  } catch {
    // The open that follows reports what is wrong.
  }
}

/**
 * Client caches of shared filesystems (GlusterFS: kernel FUSE page and attribute caches,
 * md-cache, quick-read, open-behind; about 1 s) can show a file as it was before another
 * client wrote it: a fallback would then judge a native holder's lock file free. On a
 * shared filesystem a descriptor is refreshed before it is read: fsync(2) makes the
 * client open the file for real and fetch its current attributes, fstat(2) then drops
 * content cached for an older version. GlusterFS 10, a file rewritten in place by one
 * client and read through a descriptor by another: 100 of 100 reads stale without it,
 * 0 of 400 with it.
 */
export function refreshFd(fd: number, path: FsPath): void {
  if (!onSharedFs(path)) return;
  try {
    fs.fsyncSync(fd);
    fs.fstatSync(fd);
  } catch {
    // The read that follows reports what is wrong.
  }
}

/** Opens a lock path for reading without following or blocking; undefined if gone. */
export function openExisting(path: FsPath): number | undefined {
  try {
    return fs.openSync(path, C.O_RDONLY | NOFOLLOW);
  } catch (e) {
    if (isGoneCode(e)) return undefined;
    const err = e as NodeJS.ErrnoException;
    throw (err.code && openError(err.code, err.syscall ?? 'open', displayPath(path))) ?? asLockError(e, path);
  }
}
