// A fallback holder's heartbeat and loss checks (docs/protocol.md, "Fallback holders",
// steps 4-5; "Leases"). Other hosts judge a fallback record by its refresh time (they
// cannot see our pid): the holder refreshes it every lease / 4 through its descriptor,
// and each beat checks that the lock is still ours. The heartbeat runs on a timer, so
// on the threadpool (runAsync), one beat in flight at a time: a filesystem that hangs
// holds one pool thread for one call and delays the next beat, never the event loop.
import { fsErrorCode, lockLostError } from '../common/errors';
import type { Held } from '../protocol/lock-backend';
import { READ_MAX, parseRecords } from '../protocol/record';
import { C, NOFOLLOW, closeQuietly, isGoneCode, refreshEntries, refreshFd } from './fallback-files';
import { type Step, fstat, futimes, lstat, open, read, runAsync } from './fallback-io';

export interface FallbackHeld extends Held {
  id: string;
  ino: number;
  /** The path's own, for the record; `path` itself may be bytes. */
  display: string;
  /** The held inode, kept open: heartbeat, loss check and retraction go through it. */
  fd: number;
  keep: boolean;
  /** The lock path is on a shared filesystem (fstype.ts onSharedFs, learnt at the grant). */
  sharedFs: boolean;
  heartbeat: NodeJS.Timeout | undefined;
  /** A beat is out (on the threadpool): the next tick skips, release leaves `fd` to it. */
  beating: boolean;
  /** Released: a beat still out drops what it finds and closes `fd`. */
  released: boolean;
}

/** Beats every lease / 4 until release (the timer does not keep the process alive). */
export function startHeartbeat(h: FallbackHeld, lease: number): void {
  const done = () => {
    h.beating = false;
    // Released while this beat was out: the descriptor was left to it.
    if (h.released) void runAsync(closeQuietly(h.fd));
  };
  h.heartbeat = setInterval(() => {
    if (h.beating || h.released) return;
    h.beating = true;
    // beat() judges every error itself; `done` on both paths all the same.
    runAsync(beat(h)).then(done, done);
  }, lease / 4);
  h.heartbeat.unref();
}

export function stopHeartbeat(h: FallbackHeld): void {
  clearInterval(h.heartbeat);
}

/** One beat: the loss check, then the refresh (futimes through the held descriptor). */
function* beat(h: FallbackHeld): Step<void> {
  if ((yield* checkPath(h)) === 'theirs' || h.released) return;
  const now = new Date();
  try {
    yield* futimes(h.fd, now);
  } catch (e) {
    if (isGoneCode(e) && !h.released) markLost(h);
  }
}

/**
 * The lock was lost (another host took it after our lease lapsed): every Lock on it is
 * told once (Lock.signal), and the heartbeat stops.
 */
export function markLost(h: FallbackHeld): void {
  stopHeartbeat(h);
  if (h.lost || h.released) return;
  h.lost = lockLostError(h.display);
  h.onLost?.(h.lost);
}

/**
 * What the lock path shows now: 'mine' (our file), 'theirs' (the lock was lost: marked),
 * or 'unknown'. Only what is seen at the path decides: a lock file without our record
 * (or no file at all) means lost; a path that cannot be read now (ESTALE: the client's
 * entry is stale, which GlusterFS was seen to keep for minutes; ELOOP: a link planted
 * there) decides nothing, and the next heartbeat looks again.
 */
export function* checkPath(h: FallbackHeld): Step<'mine' | 'theirs' | 'unknown'> {
  if (h.lost) return 'theirs';
  let suspect: boolean;
  try {
    suspect = (yield* fstat(h.fd)).nlink === 0 || (yield* lstat(h.path)).ino !== h.ino;
  } catch {
    suspect = true;
  }
  // Confirmed by the file's content: GlusterFS can report a cached link count of 0 for
  // a second after the record file's temp name went, and some FUSE filesystems number
  // each link apart.
  const seen = suspect ? yield* atPath(h) : 'mine';
  if (seen === 'theirs') markLost(h);
  return seen;
}

/**
 * Who holds the file at the lock path, by its content: 'mine' (our record; the inode
 * number the path shows is remembered: some FUSE filesystems give each name of a
 * hard-linked file its own), 'theirs' (no file, or one without our record), or
 * 'unknown' (it cannot be read now).
 */
function* atPath(h: FallbackHeld): Step<'mine' | 'theirs' | 'unknown'> {
  yield* refreshEntries(h.path, h.sharedFs);
  let fd: number;
  try {
    fd = yield* open(h.path, C.O_RDONLY | NOFOLLOW);
  } catch (e) {
    return fsErrorCode(e) === 'ENOENT' ? 'theirs' : 'unknown';
  }
  try {
    yield* refreshFd(fd, h.sharedFs);
    if (!parseRecords(yield* read(fd, READ_MAX)).some((r) => r.id === h.id)) return 'theirs';
    h.ino = (yield* fstat(fd)).ino;
    return 'mine';
  } catch {
    return 'unknown'; // ENOENT once open too: the name denoted a replaced file (GlusterFS opens lazily)
  } finally {
    yield* closeQuietly(fd);
  }
}

/**
 * Whether our own inode still carries our record (nobody rewrote it after a lapsed
 * lease). Only processes of other hosts judge our record by its lease, so on a local
 * filesystem it always does, and release reads nothing more there.
 */
export function* recordStillIn(h: FallbackHeld): Step<boolean> {
  if (!h.sharedFs) return true;
  try {
    yield* refreshFd(h.fd, h.sharedFs);
    return parseRecords(yield* read(h.fd, READ_MAX)).some((r) => r.id === h.id);
  } catch {
    return true; // unreadable: cutting our own inode back is what release would do anyway
  }
}
