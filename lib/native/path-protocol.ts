// Native path locks, the protocol (docs/protocol.md): one attempt's steps around the
// binding's fixed call sequences (native/glue_locks.cc): open or create the lock file,
// settle whose it is, commit this holder's record; release and probe. The waits and
// retries around the attempts: lib/native/path-waits.ts.
import {
  type Binding,
  CommitMode,
  FileType,
  LockType,
  PathStatus,
  ReleaseFlags,
  DELETE_PENDING,
  head,
  out,
} from './binding';
import { type FsPath, dirnameOf, displayPath, pathKey } from '../common/args';
import { errorCode, osError } from '../common/errors';
import { SHARING_VIOLATION } from './win32-errors';
import { onSharedFs } from '../common/fstype';
import { acquiredFile, debug, debugOn } from '../common/diagnostics';
import { type KernelLock, commandName, kernelLocks } from '../common/proc-locks';
import { unwatch, watchHeld } from './lock-watch';
import { type FileOptions, type Held, type Probe, fileKey } from '../protocol/lock-backend';
import { notRegularError, openError, otherKindName } from '../protocol/lockfile';
import {
  HEADER,
  HEADER_BYTES,
  READ_MAX,
  type HolderRecord,
  hostname,
  isLockFileContent,
  newId,
  parseRecords,
  recordLine,
  recordLive,
  startsWithHeader,
  tombstoneLine,
  toHolder,
  type Holder,
} from '../protocol/record';
import * as fs from 'node:fs';

export interface NativeHeld extends Held {
  fd: number;
  type: LockType;
  /** A directory locked as itself (flock only, nothing written). */
  dir?: boolean;
  /** The file's identity as its grant reported it (dev < 0: not reported). */
  dev: number;
  inoHigh: number;
  inoLow: number;
  tombstone: string;
  /** The file is fslock's own lock file: the record is retracted on release. */
  ours: boolean;
  /** And it may be removed when no one else holds it (local filesystem, `keep: false`). */
  remove: boolean;
  /** It starts with the header (release cuts it back to it). */
  v2: boolean;
  /** A child inherited the descriptor (the fslock command): unlock before closing. */
  handedOut?: boolean;
}

/** One attempt's request: what acquire() and acquireSync() share. */
export interface Request {
  path: FsPath;
  display: string;
  shared: boolean;
  type: LockType;
  content: string;
  /**
   * An exclusive request's header length in `content`: a locked file that is exactly
   * that header (fslock's own, no record in it) gets the record in the same call
   * (PathStatus.Acquired), as settle() would decide. 0 for shared requests, whose
   * commit depends on co-holders (settle()).
   */
  commitLen: number;
  record: string;
  tombstone: string;
  o: FileOptions;
  /**
   * This attempt opened the file read-only (it may not be written: EACCES, EROFS), as
   * flock(1) does: `type` is then Shared or ExclusiveRead, `commitLen` 0, and no record
   * is written. Set by each attempt (open()).
   */
  readOnly: boolean;
}

/** What an attempt came to: held, a wait on a busy fd, a fallback holder, or retry. */
export type Step =
  | { kind: 'held'; held: NativeHeld }
  | { kind: 'busy'; fd: number; created: boolean; key: string; dir: boolean }
  | { kind: 'fallback-holds'; key: string }
  /** Windows: another program has the lock file open without sharing it (poll). */
  | { kind: 'in-use' }
  | { kind: 'retry' };

/** The identity of the file the last call reported in out[], or '' if it reported none. */
function reportedKey(): string {
  return out[1] < 0 ? '' : fileKey(out[1], out[8], out[9]);
}

/** The lock file went away under us (another client removed it): start again. */
export function isGone(result: number): boolean {
  const code = errorCode(result);
  return code === 'ESTALE' || code === 'ENOENT' || result === DELETE_PENDING;
}

/** Directories where O_TMPFILE creation failed: lock files are created by name there. */
const noAnon = new Set<string>();
const ANON_UNSUPPORTED = new Set(['EOPNOTSUPP', 'ENOTSUP', 'EISDIR', 'EINVAL', 'ENOSYS']);

/**
 * The directory in which to create a missing lock file unnamed (Linux), so that it
 * appears complete and already locked: nobody can find it empty and take it for
 * someone else's file (docs/protocol.md).
 */
function anonDir(path: FsPath): FsPath | undefined {
  if (process.platform !== 'linux') return undefined;
  const dir = dirnameOf(path);
  return noAnon.has(pathKey(dir)) ? undefined : dir;
}

/**
 * The path protocol over the binding's calls; NativeLocks (lib/native/path-waits.ts) adds
 * the waits and retries around it.
 */
export class PathProtocol {
  constructor(protected readonly b: Binding) {}

  protected request(path: FsPath, shared: boolean, o: FileOptions): Request {
    const id = newId();
    const record = recordLine(id, 'native', shared ? 'shared' : 'exclusive', o.lease, o.name);
    const type = shared ? LockType.Shared : LockType.Exclusive;
    const commitLen = shared ? 0 : HEADER_BYTES.length;
    const display = displayPath(path);
    return {
      path,
      display,
      shared,
      type,
      content: HEADER + record,
      commitLen,
      record,
      tombstone: tombstoneLine(id),
      o,
      readOnly: false,
    };
  }

  /** The identity of a held or waiting file whose open did not report it. */
  keyOf(fd: number): string {
    const r = this.b.statFd(fd);
    return r < 0 ? '' : reportedKey();
  }

  /** The identity of the file behind a user's descriptor ('' if it cannot be had). */
  keyOfUserFd(fd: number): string {
    const r = this.b.statUserFd(fd);
    return r < 0 ? '' : reportedKey();
  }

  /** Opens (or creates) the lock file and tries the lock once. */
  protected open(q: Request): Step {
    const b = this.b;
    if (q.readOnly) this.readOnly(q, false); // the last attempt's file could not be written
    const dir = anonDir(q.path);
    let fd = b.pathOpen(q.path, q.type, q.o.mode, q.content, dir, q.commitLen);
    let sc = fd < 0 ? b.lastSyscall() : '';
    if (fd < 0 && dir !== undefined && (sc === 'tmpfile' || (sc === 'linkat' && errorCode(fd) !== 'EEXIST'))) {
      // No O_TMPFILE here (or no /proc to link it through): create it by name instead.
      if (ANON_UNSUPPORTED.has(errorCode(fd)) || sc === 'linkat') noAnon.add(pathKey(dir));
      if (debugOn)
        debug("lock '%s': no O_TMPFILE here (%s %s): lock files created by name", q.display, sc, errorCode(fd));
      fd = b.pathOpen(q.path, q.type, q.o.mode, q.content, undefined, q.commitLen);
      sc = fd < 0 ? b.lastSyscall() : '';
    }
    if (fd < 0) {
      // EEXIST: created by someone else between our open and our create. ENOENT after
      // the open (GlusterFS opens lazily, open-behind: the lock, the fstat or the record
      // written at once is the first call to reach the server): another client replaced
      // the file meanwhile.
      const code = errorCode(fd);
      // A directory (opening it for writing failed): it is locked as itself. Windows
      // cannot (the binding's EISDIR says so, lib/native/win32-errors.ts).
      if (code === 'EISDIR' && sc === 'open' && process.platform !== 'win32') return this.openDir(q);
      // An existing file this process may read but not write: locked read-only, as
      // flock(1) locks it (the running script of another user, a read-only mount).
      if ((code === 'EACCES' || code === 'EROFS') && sc === 'open' && process.platform !== 'win32') {
        const s = this.openRead(q);
        if (s) return s;
      }
      const afterOpen =
        code === 'ENOENT' && (sc === 'fcntl' || sc === 'fstat' || sc === 'flock' || sc === 'read' || sc === 'write');
      if (fd === DELETE_PENDING || code === 'ESTALE' || code === 'EEXIST' || afterOpen) return { kind: 'retry' };
      if (fd === SHARING_VIOLATION && sc === 'open') return { kind: 'in-use' };
      throw openError(code, sc, q.display) ?? osError(fd, sc, q.display);
    }
    switch (out[0] as PathStatus) {
      case PathStatus.Acquired:
        return { kind: 'held', held: this.held(q, fd, true, true) };
      case PathStatus.Retry:
        return { kind: 'retry' };
      case PathStatus.NotRegular:
        throw this.notRegular(q.path);
      case PathStatus.Created:
        return { kind: 'held', held: this.held(q, fd, true, true) };
      case PathStatus.Busy:
        return { kind: 'busy', fd, created: false, key: reportedKey(), dir: false };
      case PathStatus.CreatedBusy:
        return { kind: 'busy', fd, created: true, key: this.keyOf(fd), dir: false };
      default:
        return this.settle(q, fd, false);
    }
  }

  private readOnly(q: Request, on: boolean): void {
    q.readOnly = on;
    q.type = !on
      ? q.shared
        ? LockType.Shared
        : LockType.Exclusive
      : q.shared
        ? LockType.Shared
        : LockType.ExclusiveRead;
    q.commitLen = on || q.shared ? 0 : HEADER_BYTES.length;
  }

  /**
   * An existing file that cannot be opened for writing, locked through a read-only
   * descriptor: flock(2) as asked and an OFD read lock (an OFD write lock needs a
   * descriptor open for writing), so it excludes every flock(2) user and POSIX
   * write-lockers, not POSIX read-lockers (docs/path-locks.md). No record can be written:
   * held as someone else's file. Undefined when this open fails too (the caller's error
   * stands: a file gone meanwhile, or not readable either).
   */
  private openRead(q: Request): Step | undefined {
    this.readOnly(q, true);
    const fd = this.b.pathOpenRead(q.path, q.type);
    if (fd < 0) {
      this.readOnly(q, false);
      return undefined;
    }
    switch (out[0] as PathStatus) {
      case PathStatus.NotRegular:
        throw this.notRegular(q.path);
      case PathStatus.Retry:
        return { kind: 'retry' };
      case PathStatus.Busy:
        return { kind: 'busy', fd, created: false, key: reportedKey(), dir: false };
      default:
        return this.settle(q, fd, false);
    }
  }

  /**
   * A directory path locks the directory itself, as flock(1) does: flock(2) on a
   * read-only descriptor, nothing created or written in it. Windows cannot lock a
   * directory (LockFileEx needs a file handle with data): a clear error instead.
   */
  private openDir(q: Request): Step {
    if (process.platform === 'win32') throw notRegularError(q.display, 'directory');
    const fd = this.b.pathOpenDir(q.path, q.type);
    if (fd < 0) {
      const sc = this.b.lastSyscall();
      if (isGone(fd)) return { kind: 'retry' };
      throw openError(errorCode(fd), sc, q.display) ?? osError(fd, sc, q.display);
    }
    if (out[0] === PathStatus.NotRegular) return { kind: 'retry' }; // replaced by a file meanwhile
    if (out[5] === 0) {
      this.b.closeFile(fd); // removed meanwhile
      return { kind: 'retry' };
    }
    if (out[0] === PathStatus.Busy) return { kind: 'busy', fd, created: false, key: reportedKey(), dir: true };
    return { kind: 'held', held: this.dirHeld(q, fd) };
  }

  /** After a granted wait on a directory: still there (not removed while waited for)? */
  protected afterDirWait(q: Request, fd: number): Step {
    const r = this.b.statFd(fd);
    if (r < 0 || out[5] === 0) {
      this.b.closeFile(fd);
      if (r < 0 && !isGone(r)) throw osError(r, this.b.lastSyscall(), q.display);
      return { kind: 'retry' };
    }
    return { kind: 'held', held: this.dirHeld(q, fd) };
  }

  // Not watched: flock(2) on a directory of NFS or FUSE stays on the local kernel.
  private dirHeld(q: Request, fd: number): NativeHeld {
    return { ...this.heldState(q, fd, false, false), dir: true };
  }

  /** After a granted wait: the file is re-checked and judged like a fresh open. */
  protected afterWait(q: Request, fd: number, created: boolean): Step {
    const r = this.b.pathAfterWait(fd, q.content, q.commitLen);
    if (r < 0) {
      if (isGone(r)) return { kind: 'retry' };
      throw osError(r, this.b.lastSyscall(), q.display);
    }
    if (out[0] === PathStatus.Retry) return { kind: 'retry' };
    if (out[0] === PathStatus.NotRegular) throw this.notRegular(q.path); // replaced meanwhile (closed)
    if (out[0] === PathStatus.Acquired) return { kind: 'held', held: this.held(q, fd, true, true) };
    return this.settle(q, fd, created);
  }

  /**
   * The lock is held on a regular file: someone else's file is kept as it is; fslock's
   * own gets this holder's record, unless a live fallback process holds it by its record
   * (then the kernel lock is dropped and the caller polls).
   */
  private settle(q: Request, fd: number, created: boolean): Step {
    const b = this.b;
    const n = out[4];
    const size = out[3];
    const ours = isLockFileContent(head, n, size) || (created && n === 0);
    if (!ours) return { kind: 'held', held: this.held(q, fd, false, false) };
    const v2 = startsWithHeader(head, n);
    // The header alone (the common case of a kept file): no records to parse.
    const records = n > 0 && !(v2 && size === HEADER_BYTES.length) ? this.records(fd, n, size) : [];
    const fallback = records.filter((r) => r.backend === 'fallback');
    if (fallback.length && fallback.some((r) => recordLive(r, mtimeOf(q.path)))) {
      const key = reportedKey();
      b.closeFile(fd);
      return { kind: 'fallback-holds', key };
    }
    // Opened read-only: no record can be written, held as someone else's file is.
    if (q.readOnly) return { kind: 'held', held: this.held(q, fd, false, false) };
    // A file that is exactly its header (seen under the lock) needs no cut before the
    // record: ftruncate to the same size would still update and dirty the inode.
    const commit = !v2
      ? CommitMode.Rewrite
      : size === n && n === HEADER_BYTES.length
        ? CommitMode.Append
        : HEADER_BYTES.length;
    const r = b.pathCommit(fd, q.type, q.content, q.record, q.tombstone, commit);
    if (r < 0) {
      if (isGone(r)) return { kind: 'retry' };
      throw osError(r, b.lastSyscall(), q.display);
    }
    if (out[0] === PathStatus.Retry) return { kind: 'retry' };
    // A sole holder rewrote a 0.1 file with the header; one among shared holders appended.
    return { kind: 'held', held: this.held(q, fd, true, v2 || out[3] === Buffer.byteLength(q.content)) };
  }

  private held(q: Request, fd: number, ours: boolean, v2: boolean): NativeHeld {
    // lib/native/lock-watch.ts: on NFS and GlusterFS, the holder learns when the server drops it.
    return watchHeld(this.heldState(q, fd, ours, v2));
  }

  private heldState(q: Request, fd: number, ours: boolean, v2: boolean): NativeHeld {
    // Lock files on network and FUSE filesystems stay: another machine may have them
    // open, and removing them there gives its holders ESTALE (docs/protocol.md).
    // Kept unless asked (keep: false): other programs lock the same file without
    // checking after their grant that the name still names it (docs/path-locks.md).
    const remove = ours && q.o.keep === false && !onSharedFs(q.display);
    if (debugOn) acquiredFile(q.display, q.shared, ours, remove, q.o.keep);
    const { path, display, shared, type, tombstone } = q;
    // The identity the last call reported (none for a file created unnamed), turned into
    // a key only if another lock call of this thread ever needs it (identify()).
    return {
      path,
      display,
      shared,
      fd,
      type,
      tombstone,
      ours,
      remove,
      v2,
      dev: out[1],
      inoHigh: out[8],
      inoLow: out[9],
    };
  }

  identify(held: Held): string {
    const h = held as NativeHeld;
    return h.dev < 0 ? this.keyOf(h.fd) : fileKey(h.dev, h.inoHigh, h.inoLow);
  }

  /** Records of an fslock lock file whose head (n of size bytes) was read into `head`. */
  private records(fd: number, n: number, size: number): HolderRecord[] {
    let bytes: Uint8Array = head.subarray(0, n);
    if (size > n && n === head.length) {
      const more = Buffer.allocUnsafe(Math.min(size, READ_MAX));
      const m = this.b.readAt(fd, more, 0);
      if (m > 0) bytes = more.subarray(0, m);
    }
    return parseRecords(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8'));
  }

  private notRegular(path: FsPath): Error {
    const t = out[6] as FileType;
    const display = displayPath(path);
    if (t === FileType.Directory) return notRegularError(display, 'directory');
    if (t === FileType.Symlink) return notRegularError(display, 'symlink');
    let what: string | undefined;
    try {
      what = otherKindName(fs.lstatSync(path));
    } catch {
      what = undefined;
    }
    return notRegularError(display, 'other', what);
  }

  /**
   * Who holds the file open on `fd` (busy): the last record in it, or a holder the
   * kernel's lock table shows (one that left no record).
   */
  protected holderOf(fd: number, dir: boolean): Holder | undefined {
    if (!dir) {
      const buf = Buffer.allocUnsafe(4096);
      const n = this.b.readAt(fd, buf, 0);
      const records = n > 0 && isLockFileContent(buf, n, n) ? parseRecords(buf.toString('utf8', 0, n)) : [];
      const live = records.filter((x) => recordLive(x, undefined));
      if (live.length) return toHolder(live[live.length - 1]);
    }
    return this.b.statFd(fd) < 0 ? undefined : withoutRecord(kernelLocks(out[1], inoText(), { fd }));
  }

  release(held: Held): void {
    const h = held as NativeHeld;
    if (h.dir) {
      this.b.pathRelease(h.path, h.fd, h.type, h.handedOut ? ReleaseFlags.Unlock : 0, HEADER, h.tombstone, false);
      return;
    }
    // A lost lock's file may be someone else's now: closed, never retracted from or cut.
    const lost = unwatch(h) !== undefined;
    const flags =
      (h.ours && !lost ? ReleaseFlags.Retract | (h.remove ? ReleaseFlags.Remove : 0) : 0) |
      (h.handedOut ? ReleaseFlags.Unlock : 0);
    // The lock is released (the fd closed) whatever happens to the file: a file that
    // cannot be removed (EPERM in a sticky directory, ESTALE, EIO) stays, and release
    // never fails because of it.
    this.b.pathRelease(h.path, h.fd, h.type, flags, HEADER, h.tombstone, h.v2);
  }

  probe(path: FsPath): Probe {
    const b = this.b;
    const display = displayPath(path);
    for (let attempt = 0; ; attempt++) {
      const r = b.pathProbe(path);
      if (r < 0) {
        const code = errorCode(r);
        if (code === 'ENOENT') return { state: 0, holder: undefined };
        if ((code === 'ESTALE' || r === DELETE_PENDING) && attempt < 100) continue;
        // Windows: open without sharing by another program, which keeps every locker out.
        if (r === SHARING_VIOLATION) return { state: 2, holder: undefined };
        throw openError(code, b.lastSyscall(), display) ?? osError(r, b.lastSyscall(), display);
      }
      if (out[0] === PathStatus.NotRegular) throw this.notRegular(path);
      let state = r as 0 | 1 | 2;
      const n = out[4];
      const ours = isLockFileContent(head, n, out[3]);
      const records = ours ? parseRecords(Buffer.from(head.buffer, 0, n).toString('utf8')) : [];
      const mtime = records.some((x) => x.backend === 'fallback') ? mtimeOf(path) : undefined;
      const live = records.filter((x) => recordLive(x, mtime));
      let holder: HolderRecord | undefined;
      // F_OFD_GETLK sees POSIX and OFD locks (every native fslock holder has one); a
      // holder with flock(2) alone (flock(1), Python...) only the kernel's table shows.
      const kernel = state === 0 || !live.length ? kernelLocks(out[1], inoText(), { path }) : undefined;
      // The stronger of the two: a holder through a read-only descriptor (flock(2)
      // exclusive, an OFD read lock) shows as shared to F_OFD_GETLK.
      if (kernel?.length) state = Math.max(state, kernel.some((k) => !k.shared) ? 2 : 1) as 1 | 2;
      if (state === 0) {
        // No kernel lock: only a fallback process can hold it, by its record.
        holder = live.filter((x) => x.backend === 'fallback').pop();
        if (holder) state = holder.mode === 'shared' ? 1 : 2;
      } else {
        const mode = state === 1 ? 'shared' : 'exclusive';
        holder = live.filter((x) => x.mode === mode).pop();
      }
      if (holder || state === 0) return { state, holder: holder && toHolder(holder) };
      return { state, holder: withoutRecord(kernel ?? kernelLocks(out[1], inoText(), { path }), state === 1) };
    }
  }
}

/** The exact inode number out[8]/out[9] hold, as decimal text. */
function inoText(): string {
  return ((BigInt(out[8]) << 32n) | BigInt(out[9])).toString();
}

/**
 * A holder that left no record, described by the kernel's lock table (`kernel`, the
 * file's entries): its pid and command on this host when it shows one.
 */
function withoutRecord(kernel: KernelLock[] | undefined, shared?: boolean): Holder {
  const k = kernel?.find((x) => x.pid !== undefined && (shared === undefined || x.shared === shared));
  const pid = k?.pid;
  return {
    pid,
    hostname: pid === undefined ? undefined : hostname,
    since: undefined,
    shared: shared ?? (kernel?.length ? kernel.every((x) => x.shared) : false),
    record: false,
    name: pid === undefined ? undefined : commandName(pid),
  };
}

/** The lock file's mtime (fallback records from other hosts are judged by it). */
function mtimeOf(path: FsPath): number | undefined {
  try {
    return fs.lstatSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}
