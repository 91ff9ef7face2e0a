// The native lock-loss watch: a native holder on a network filesystem learns when the
// server no longer holds its lock, instead of believing it holds a lock that another
// machine has taken. Servers drop locks: a GlusterFS brick drops every lock of a client
// whose connection it loses (a brick restart, a network cut), and the client then
// reopens the descriptor without its lock (client.strict-locks off) or fails every lock
// call on it with EBADFD (on); an NFS server restart loses locks that the client cannot
// reclaim in the grace period, and Linux then fails I/O on that descriptor with EIO.
// Nothing tells the holding process (README, "Server restarts and lost connections").
//
// So while a native path lock on NFS or GlusterFS is held, a timer asks the server
// about it every CHECK_MS (native/lock_check.cc, on libuv's threadpool: the event loop
// never waits for the server): through the holder's own descriptor, F_OFD_GETLK finds a
// conflicting lock of someone else (a lock the holder's would have excluded: the server
// no longer holds ours) or fails (EBADFD, ENOTCONN: the connection that held it is or was
// gone; EIO; ESTALE: the file is gone); on GlusterFS a second descriptor of the same
// file finds no lock on it at all (ours would be one); on NFS a one-byte read past the
// page cache fails with EIO. Any of these is final: the backend sets `held.lost` and calls `held.onLost`
// (lib/locks/locks.ts: Lock.signal aborts with ELOCKLOST, release() rejects with it).
// Nothing runs for locks on local filesystems, and nothing while no such lock is held.
import * as fs from 'node:fs';
import { binding } from './binding';
import { codeError, describeCode, errorCode, osError } from '../common/errors';
import { mountOf, onSharedFs } from '../common/fstype';
import { type FsPath, dirnameOf, displayPath, pathKey } from '../common/args';

/** What the watch needs of a native path lock (lib/native/path-protocol.ts NativeHeld). */
export interface WatchedHeld {
  readonly path: FsPath;
  readonly display: string;
  readonly shared: boolean;
  /** The holder's descriptor: its open file description owns the lock. */
  readonly fd: number;
  lost?: Error;
  onLost?: (err: Error) => void;
}

/**
 * How often a held lock is checked (ms): a holder learns of a loss at most about this
 * long after another holder could take the lock. A check costs a threadpool thread one
 * or two round trips to the server per lock (median 0.12 and 0.26 ms on the suite's
 * GlusterFS volume) and the event loop a timer wake-up and one crossing (~20-35 µs).
 * A brick restart takes seconds, so a running holder is told while the brick is still
 * down (EBADFD), before anyone else can take the lock.
 */
export const CHECK_MS = 500;
/**
 * Locks asked about per check, at most: a process holding more has each checked every
 * ceil(n / PER_CHECK) * CHECK_MS, and never sends a server more than PER_CHECK * 2
 * queries per CHECK_MS.
 */
const PER_CHECK = 32;

/**
 * lockCheck's layout (native/lock_check.cc): per lock [fd, probe, type, flags, own, probe,
 * read]; a query not run answers 3.
 */
const STRIDE = 7;
const READ_BYTE = 1;

interface CheckBinding {
  lockCheck(items: Float64Array): number;
  lockCheck(items: Float64Array, done: () => void): boolean;
}

type Kind = 'nfs' | 'gluster';

interface Entry {
  held: WatchedHeld;
  kind: Kind;
  /** A second descriptor of the same file (GlusterFS), opened after the grant. */
  probe: number | undefined;
  probeTries: number;
}

const entries = new Map<WatchedHeld, Entry>();
let timer: NodeJS.Timeout | undefined;
/** A check or a probe open of this environment is on the threadpool. */
let busy = false;
/** Probe descriptors to close once the check that has them is back. */
const closeLater: number[] = [];

// Errors of a query that mean the server no longer holds the lock. GlusterFS: EBADFD
// (the client's descriptor is not open on the brick: the connection was lost, and the
// brick dropped the client's locks with it), ENOTCONN (the same, while it lasts). NFS:
// EIO (a lock not reclaimed). Both: ESTALE (the file itself is gone from the server).
const LOST = new Set(['EBADFD', 'ENOTCONN', 'EIO', 'ESTALE']);
// Answers that say this lock cannot be asked about: stop watching it. EBADF: FUSE
// refuses F_OFD_GETLK on a directory (whose flock(2) lock FUSE and NFS keep on the
// local kernel only: nothing to watch), and a descriptor closed under fslock is a bug of
// the program, not news from the server; EISDIR: a directory read.
const CANNOT = new Set(['EINVAL', 'ENOSYS', 'EOPNOTSUPP', 'ENOTSUP', 'EBADF', 'EISDIR']);

let lastPath: FsPath | undefined;
let lastKind: Kind | undefined;
const kinds = new Map<string, Kind | null>();

/**
 * Whether a lock file lives where the watch can ask the server: Linux NFS (v3 and v4,
 * not local_lock=all) and GlusterFS's FUSE client. Other network filesystems (SMB, CephFS, …) answer
 * F_OFD_GETLK in ways not checked here, and are not watched (docs say so). Cached per
 * directory; the same path as the last call costs one string comparison.
 */
function kindOf(path: FsPath): Kind | undefined {
  if (path === lastPath) return lastKind;
  let kind: Kind | undefined;
  if (process.platform === 'linux' && onSharedFs(path)) {
    const dir = dirnameOf(path);
    const key = pathKey(dir);
    let k = kinds.get(key);
    if (k === undefined) {
      // (A directory whose name is not UTF-8 is not found in the mount table: not watched.)
      const m = mountOf(displayPath(dir));
      const t = m?.fsType;
      k = t === 'nfs' || t === 'nfs4' ? 'nfs' : t === 'fuse.glusterfs' ? 'gluster' : null;
      // NFS local_lock=all (v3 nolock): the locks never reach the server, which cannot drop them.
      if (k === 'nfs' && /(^|,)local_lock=all(,|$)/.test(m!.options)) k = null;
      if (kinds.size > 4096) kinds.clear();
      kinds.set(key, k);
    }
    kind = k ?? undefined;
  }
  lastPath = path;
  lastKind = kind;
  return kind;
}

function checker(): CheckBinding | undefined {
  const b = binding as unknown as Partial<CheckBinding> | undefined;
  return typeof b?.lockCheck === 'function' ? (b as CheckBinding) : undefined;
}

/**
 * Starts watching a native path lock on a regular file, just granted, and returns it.
 * Does nothing on a filesystem the watch does not ask (every local one): one string
 * comparison when the path is the last one seen.
 */
export function watchHeld<T extends WatchedHeld>(held: T): T {
  const kind = kindOf(held.path);
  if (kind === undefined || !checker()) return held;
  entries.set(held, { held, kind, probe: undefined, probeTries: 0 });
  schedule();
  return held;
}

/**
 * Stops watching `held` (release, before the lock file is touched) after one last check,
 * so that a holder whose lock is gone never retracts its record from, or cuts, a file
 * that another holder now holds. Returns the loss (also set on `held.lost`, and told to
 * `held.onLost`), or undefined.
 */
export function unwatch(held: WatchedHeld): Error | undefined {
  const e = entries.size ? entries.get(held) : undefined;
  if (!e) return held.lost;
  entries.delete(held);
  if (held.lost === undefined) {
    const items = fill([e]);
    checker()!.lockCheck(items);
    judge(e, items, 0);
  }
  closeProbe(e);
  if (!entries.size && timer) {
    clearTimeout(timer);
    timer = undefined;
  }
  return held.lost;
}

function schedule(): void {
  if (timer || !entries.size) return;
  // unref: the watch never keeps a process alive; the Lock does not either.
  timer = setTimeout(tick, CHECK_MS).unref();
}

function tick(): void {
  timer = undefined;
  if (!entries.size) return;
  // A check still out (a server that does not answer) or another environment's: the
  // next tick tries again. At most one threadpool thread per process waits on a server.
  if (busy) return schedule();
  const list: Entry[] = [];
  for (const e of entries.values()) {
    if (list.length === PER_CHECK) break;
    list.push(e);
  }
  // Round robin: the next check starts with the locks this one did not reach.
  for (const e of list) {
    entries.delete(e.held);
    entries.set(e.held, e);
  }
  const items = fill(list);
  busy = true;
  const queued = checker()!.lockCheck(items, () => {
    busy = false;
    for (let i = 0; i < list.length; i++) if (entries.get(list[i].held) === list[i]) judge(list[i], items, i);
    for (const fd of closeLater.splice(0)) fs.close(fd, () => {});
    openProbe();
  });
  if (!queued) {
    busy = false;
    schedule();
  }
}

function fill(list: Entry[]): Float64Array {
  const items = new Float64Array(list.length * STRIDE);
  for (let i = 0; i < list.length; i++) {
    const e = list[i];
    const at = i * STRIDE;
    items[at] = e.held.fd;
    items[at + 1] = e.probe ?? -1;
    items[at + 2] = e.held.shared ? 1 : 2;
    items[at + 3] = e.kind === 'nfs' ? READ_BYTE : 0;
  }
  return items;
}

/** Reads lock i's answers; a loss ends its watch. */
function judge(e: Entry, items: Float64Array, i: number): void {
  const at = i * STRIDE;
  const answers: Array<[number, string]> = [
    [items[at + 4], 'fcntl'],
    [items[at + 5], 'fcntl'],
    [items[at + 6], 'read'],
  ];
  for (const [r, syscall] of answers) {
    if (r >= 0) continue;
    const code = errorCode(r);
    if (CANNOT.has(code)) return stop(e);
    // Anything else (EINTR, ETIMEDOUT on a soft mount, ENOLCK…) decides nothing: asked again next time.
    if (LOST.has(code)) return lose(e, lostBecause(code), osError(r, syscall, e.held.display));
  }
  const own = items[at + 4];
  if (own === 1 || own === 2)
    return lose(
      e,
      `another process holds a conflicting ${own === 2 ? 'exclusive' : 'shared'} lock on it now: the server no longer held this one (a server restart or a lost connection)`,
    );
  if (items[at + 5] === 0)
    lose(e, 'the server holds no lock on it any more (a server restart or a lost connection dropped it)');
}

function lostBecause(code: string): string {
  switch (code) {
    case 'EBADFD':
    case 'ENOTCONN':
      return `its descriptor lost the connection to the server, which drops the locks of a client it loses (${code}: ${describeCode(code)})`;
    case 'EIO':
      return 'the server fails I/O through its descriptor, as Linux NFS does for a lock it could not reclaim after a server restart (EIO: i/o error)';
    case 'ESTALE':
      return 'the lock file was removed from the server (ESTALE: stale file handle)';
    default:
      return `${code}: ${describeCode(code)}`;
  }
}

function lose(e: Entry, why: string, cause?: Error): void {
  entries.delete(e.held);
  closeProbe(e);
  if (e.held.lost) return;
  const err = codeError('ELOCKLOST', 'lock', e.held.display, undefined, `lock was lost: ${why}`);
  delete err.errno;
  if (cause) (err as Error).cause = cause;
  e.held.lost = err;
  e.held.onLost?.(err);
}

function stop(e: Entry): void {
  entries.delete(e.held);
  closeProbe(e);
}

function closeProbe(e: Entry): void {
  if (e.probe === undefined) return;
  const fd = e.probe;
  e.probe = undefined;
  // A check on the threadpool may still have this descriptor: closed when it is back,
  // so its number is not reused under it.
  if (busy) closeLater.push(fd);
  // Asynchronously, also in a worker (unlike the fallback's closes, fallback-io.ts): the
  // watch runs on shared filesystems, where close(2) can wait on a hung server. A worker
  // terminated while such a close is queued leaves that probe descriptor open.
  else fs.close(fd, () => {});
}

/**
 * GlusterFS: opens the second descriptor of one watched lock that lacks it, then
 * schedules the next check. Opened after the grant, not at it (no cost on the lock's
 * path), read-only, never following a link, and kept only if it is the held file
 * (same device and inode as the holder's descriptor). It holds no lock, so closing it
 * drops none of fslock's (OFD locks belong to the holder's descriptor).
 */
function openProbe(): void {
  let e: Entry | undefined;
  for (const x of entries.values()) {
    if (x.kind === 'gluster' && x.probe === undefined && x.probeTries < 3) {
      e = x;
      break;
    }
  }
  if (!e) return schedule();
  const entry = e;
  entry.probeTries++;
  busy = true;
  const done = (fd: number | undefined): void => {
    busy = false;
    if (fd !== undefined) {
      if (entries.get(entry.held) === entry) entry.probe = fd;
      else fs.close(fd, () => {});
    }
    for (const c of closeLater.splice(0)) fs.close(c, () => {});
    schedule();
  };
  const flags = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;
  fs.open(entry.held.path, flags, (err, fd) => {
    if (err) return done(undefined);
    fs.fstat(fd, { bigint: true }, (e1, a) => {
      fs.fstat(entry.held.fd, { bigint: true }, (e2, b) => {
        if (!e1 && !e2 && a.dev === b.dev && a.ino === b.ino) return done(fd);
        fs.close(fd, () => done(undefined));
      });
    });
  });
}
