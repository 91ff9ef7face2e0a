// File steps of the fallback backend (lib/fallback/fallback-judge.ts, fallback-paths.ts):
// opening a lock path without following or blocking, creating a file whole in one step,
// reading one past the client caches of shared filesystems. Steps, run by a driver of
// lib/fallback/fallback-io.ts. No protocol decisions here.
import * as fs from 'node:fs';
import { type FsPath, besideName, dirnameOf, displayPath } from '../common/args';
import { codeError, fsErrorCode } from '../common/errors';
import { kindOf, notRegularError, openError, otherKindName } from '../protocol/lockfile';
import { type Step, close, fchmod, fstat, fsync, link, lstat, open, readdir, unlink, write } from './fallback-io';

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
export function* closeQuietly(fd: number): Step<void> {
  try {
    yield* close(fd);
  } catch {
    // The descriptor is gone either way.
  }
}

/** Removes `path` if it is there (as fs.rmSync with `force`: only ENOENT is no error). */
export function* removeIfThere(path: FsPath): Step<void> {
  try {
    yield* unlink(path);
  } catch (e) {
    if (fsErrorCode(e) !== 'ENOENT') throw e;
  }
}

function tempName(path: FsPath, id: string): FsPath {
  return besideName(path, '.', `.${id}.tmp`);
}

/** Writes `text` to a new unique file beside `path`; returns its name and an open fd. */
export function* writeTemp(path: FsPath, id: string, text: string, mode: number): Step<{ temp: FsPath; fd: number }> {
  const temp = tempName(path, id);
  let fd: number;
  try {
    fd = yield* open(temp, C.O_RDWR | C.O_CREAT | C.O_EXCL | NOFOLLOW, mode);
  } catch (e) {
    throw asLockError(e, path);
  }
  try {
    yield* fchmod(fd, mode); // exactly `mode`: the umask must not lock other users out
  } catch {
    // Filesystems without permissions.
  }
  try {
    yield* write(fd, text);
    return { temp, fd };
  } catch (e) {
    // ENOSPC, EDQUOT: nothing of this attempt stays behind.
    yield* closeQuietly(fd);
    yield* removeIfThere(temp);
    throw asLockError(e, path);
  }
}

/**
 * Marks a file this call puts at a lock path (its record, or a reclaim claim) as this
 * thread's, before the call that puts it there; the returned function ends the mark
 * (idempotent). A waiting lock() makes that call on the threadpool, and other code of
 * this thread runs until it holds the lock: a lockSync there that found this file would
 * wait for its own thread (lib/fallback/fallback-paths.ts gives it BusyHooks.kernelWait).
 */
export type Claim = (st: fs.Stats) => () => void;

/**
 * Creates `path` with `text` in one step: `link(temp, path)` fails with EEXIST if it
 * exists and never shows an empty or partial file. Filesystems without hard links get
 * `open(O_EXCL)` + write, whose empty instant readers treat as held (EMPTY_GRACE_MS).
 * Returns an fd of the created file and its stat, or undefined when `path` exists.
 * `claim` marks the file before the link (and ends the mark if it fails).
 */
export function* createWhole(
  path: FsPath,
  id: string,
  text: string,
  mode: number,
  claim: Claim,
): Step<{ fd: number; st: fs.Stats } | undefined> {
  const { temp, fd } = yield* writeTemp(path, id, text, mode);
  let keep = false;
  let end: (() => void) | undefined;
  try {
    // The temp's inode is what the link puts at `path`: known (and marked) before it is there.
    const st = yield* fstat(fd);
    end = claim(st);
    yield* link(temp, path);
    keep = true;
    return { fd, st };
  } catch (e) {
    end?.();
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return undefined;
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EMLINK') {
      let fd2: number;
      try {
        fd2 = yield* open(path, C.O_RDWR | C.O_CREAT | C.O_EXCL | NOFOLLOW, mode);
      } catch (e2) {
        if ((e2 as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
        throw asLockError(e2, path);
      }
      // Its inode is known only once it is there: marked at once. (A lockSync of this
      // thread in the one turn between the open and the mark finds an empty young file,
      // held, and fails with ENOTSUP after EMPTY_GRACE_MS: no hard links only.)
      let end2: (() => void) | undefined;
      try {
        const st2 = yield* fstat(fd2);
        end2 = claim(st2);
        yield* write(fd2, text);
        return { fd: fd2, st: st2 };
      } catch (e3) {
        yield* closeQuietly(fd2);
        yield* removeIfThere(path);
        end2?.();
        throw asLockError(e3, path);
      }
    }
    throw asLockError(e, path);
  } finally {
    if (!keep) yield* closeQuietly(fd);
    // Once linked, `path` holds our record: a temp that cannot be removed must not make
    // the caller lose what it holds (nothing would ever release it).
    yield* keep ? removeQuietly(temp) : removeIfThere(temp);
  }
}

function* removeQuietly(path: FsPath): Step<void> {
  try {
    yield* removeIfThere(path);
  } catch {
    // Left behind.
  }
}

/**
 * On a shared filesystem (`shared`: fstype.ts onSharedFs of the lock path), lists the
 * directory of `path`: FUSE (READDIRPLUS) then replaces a stale entry for it (one that
 * still names a file another client replaced). Used only once something looks wrong:
 * with a listing before every judgement, two of eight GlusterFS stress runs got stuck
 * on an entry that named a replaced file for minutes on both clients (none without;
 * listings racing with renames, presumably).
 */
export function* refreshEntries(path: FsPath, shared: boolean): Step<void> {
  if (!shared) return;
  try {
    yield* readdir(dirnameOf(path));
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
export function* refreshFd(fd: number, shared: boolean): Step<void> {
  if (!shared) return;
  try {
    yield* fsync(fd);
    yield* fstat(fd);
  } catch {
    // The read that follows reports what is wrong.
  }
}

/**
 * Opens a lock path for reading without following or blocking; undefined if gone. A
 * FIFO, socket or device is refused (EINVAL) without being opened: opening a FIFO
 * completes the open(2) another program's reader or writer is blocked in, and our close
 * then gives it EOF or SIGPIPE. A name replaced by one between the lstat and the open is
 * the window left (docs/path-locks.md); the caller's fstat checks what was opened.
 */
export function* openExisting(path: FsPath): Step<number | undefined> {
  let st: fs.Stats;
  try {
    st = yield* lstat(path);
  } catch (e) {
    if (isGoneCode(e)) return undefined;
    throw asLockError(e, path);
  }
  if (kindOf(st) === 'other') throw notRegularError(displayPath(path), 'other', otherKindName(st));
  try {
    return yield* open(path, C.O_RDONLY | NOFOLLOW);
  } catch (e) {
    if (isGoneCode(e)) return undefined;
    const err = e as NodeJS.ErrnoException;
    throw (err.code && openError(err.code, err.syscall ?? 'open', displayPath(path))) ?? asLockError(e, path);
  }
}
