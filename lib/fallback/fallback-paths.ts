// The pure-JS path-lock backend (no binding): a lock is a record file created at the
// lock path in one atomic step (link of a complete temp file), and released by removing
// it (or, where lock files stay, by retracting the record). It honours native holders
// through their records (docs/protocol.md); native processes honour it by reading its
// record after taking their kernel lock.
//
// What it cannot do (docs/fallback.md): be woken by the kernel (waiters poll
// with backoff), share (a shared request is taken exclusively), lock a file that is not
// fslock's own lock file (ENOTSUP: it has no kernel lock to take), or see that a worker
// thread of a living process was terminated. Across hosts its locks are leases: a
// holder paused past its lease can lose the lock, and is told (Lock.signal).
import * as fs from 'node:fs';
import { type CheckedWait, type FsPath, besideName, displayPath } from '../common/args';
import { abortReason, codeError, fsErrorCode, lockedError, timeoutError } from '../common/errors';
import { onSharedFs } from '../common/fstype';
import { commandName, kernelLocks } from '../common/proc-locks';
import {
  type BusyHooks,
  type FileOptions,
  type Held,
  type PathLockBackend,
  type Probe,
  fileKey,
  pollDelay,
  sleep,
  sleepSync,
} from '../protocol/lock-backend';
import {
  C,
  NOFOLLOW,
  asLockError,
  closeQuietly,
  createWhole,
  isGoneCode,
  openExisting,
  readFd,
  refreshEntries,
  refreshFd,
  writeTemp,
} from './fallback-files';
import { kindOf, notRegularError, otherKindName } from '../protocol/lockfile';
import {
  HEADER,
  READ_MAX,
  type HolderRecord,
  hostname,
  isLockFileContent,
  newId,
  parseRecords,
  recordLine,
  recordLive,
  staleHolder,
  toHolder,
} from '../protocol/record';
import { acquiredFile, debugOn, retried } from '../common/diagnostics';
import { lockLostError } from '../common/errors';

/**
 * Attempts that find the lock file gone (replaced or removed under their hands: ENOENT,
 * ESTALE) are repeated at once this many times, then with the poll's backoff: a
 * GlusterFS client was seen to keep a stale entry for minutes, and spinning on it
 * helps nobody. A `wait: false` call gives up after four times as many with ESTALE.
 */
const GONE_AT_ONCE = 8;

function goneError(path: FsPath): Error {
  return codeError(
    'ESTALE',
    'open',
    displayPath(path),
    undefined,
    'stale file handle: the lock file kept changing or this client keeps a stale entry for it; try again',
  );
}
/** An empty file this young may be a native acquirer between create and write. */
const EMPTY_GRACE_MS = 2_000;

interface FallbackHeld extends Held {
  id: string;
  ino: number;
  /** The path's own, for the record; `path` itself may be bytes. */
  display: string;
  /** The held inode, kept open: heartbeat, loss check and retraction go through it. */
  fd: number;
  keep: boolean;
  heartbeat: NodeJS.Timeout;
}

type Judgement =
  | { kind: 'gone' }
  | { kind: 'held'; holder: HolderRecord | undefined; key: string }
  | { kind: 'free'; ino: number; text: string };

/** The identity of a file from fs.Stats (exact below 2^53, which every inode here is). */
function statKey(st: fs.Stats): string {
  return fileKey(st.dev, Math.floor(st.ino / 2 ** 32), st.ino % 2 ** 32);
}

/**
 * Whether `path` is held, gone, or free (fslock's own file with no live record: then
 * which inode and content). Someone else's file cannot be locked here: ENOTSUP.
 */
function judge(path: FsPath): Judgement {
  const fd = openExisting(path);
  if (fd === undefined) return { kind: 'gone' };
  try {
    const st = fs.fstatSync(fd);
    const kind = kindOf(st);
    if (kind === 'directory')
      throw codeError(
        'ENOTSUP',
        'lock',
        displayPath(path),
        undefined,
        'the fallback backend cannot lock a directory (it has no kernel lock to take): use the native backend',
      );
    if (kind) throw notRegularError(displayPath(path), kind, kind === 'other' ? otherKindName(st) : undefined);
    const text = readFd(fd, st.size);
    const bytes = Buffer.from(text);
    if (!isLockFileContent(bytes, bytes.length, st.size)) {
      if (st.size === 0 && Date.now() - st.mtimeMs < EMPTY_GRACE_MS)
        return { kind: 'held', holder: undefined, key: statKey(st) };
      throw codeError(
        'ENOTSUP',
        'lock',
        displayPath(path),
        undefined,
        'the fallback backend can only lock lock files that fslock creates (this file exists and is not one); ' +
          'lock a separate file such as the path plus ".lock", or use the native backend',
      );
    }
    const live = parseRecords(text).filter((r) => recordLive(r, st.mtimeMs));
    const holder = live.length ? live[live.length - 1] : liveNow(fd, path);
    if (holder) return { kind: 'held', holder, key: statKey(st) };
    return { kind: 'free', ino: st.ino, text };
  } catch (e) {
    if (isGoneCode(e)) return { kind: 'gone' };
    throw e;
  } finally {
    closeQuietly(fd);
  }
}

/**
 * On a shared filesystem, a live record in what the server holds now for the inode of
 * `fd`. The client's cached view (name and content, about 1 s old on GlusterFS) is
 * judged first and is consistent in itself; a native holder writes its record in place,
 * which that view can miss. Only what both views call free is free: the fresh content
 * alone would pair a stale name with current content (a file that was released and has
 * since been replaced by another holder's would look free: seen as overlapping holders
 * across GlusterFS clients in 4 of 6 stress runs).
 */
function liveNow(fd: number, path: FsPath): HolderRecord | undefined {
  if (!onSharedFs(path)) return undefined;
  refreshFd(fd, path);
  const st = fs.fstatSync(fd);
  const live = parseRecords(readFd(fd, st.size)).filter((r) => recordLive(r, st.mtimeMs));
  return live[live.length - 1];
}

/**
 * Takes over a lock file that nobody holds (all records dead or retracted). Steps, and
 * why each is safe:
 * 1. The claim `path.reclaim` (exclusive create) makes one fallback reclaimer at a time.
 * 2. Under the claim, `path` is re-opened and must be the judged inode with the judged
 *    content. Fallback processes cannot change it meanwhile (link() fails on an existing
 *    file, its holders are gone, other reclaimers wait on the claim); native ones can
 *    lock it and write a record (step 4 handles that).
 * 3. `rename(own record file, path)` replaces it atomically: `path` never disappears,
 *    so nobody can create a second lock file in between.
 * 4. The caller reads the replaced inode through the returned fd (`nativesInside`): a
 *    native process that locked it after step 2 wrote its record there before checking
 *    that its inode is still linked; if it checked before step 3 it holds the old inode,
 *    so we hold the new one and wait until its record is retracted (it appends a
 *    tombstone on release) or its process is dead. Natives that check after step 3 see
 *    nlink 0 and retry on the new file, where our record stops them.
 * Returns the held fd and inode and the old inode's fd, or undefined when the situation
 * changed (the caller retries).
 */
function reclaim(
  path: FsPath,
  free: { ino: number; text: string },
  record: string,
  id: string,
  mode: number,
): { fd: number; st: fs.Stats; oldFd: number; freeText: string } | undefined {
  const claim = besideName(path, '', '.reclaim');
  const claimFd = createWhole(claim, id, HEADER + record, mode);
  if (claimFd === undefined) {
    removeIfDead(claim, id);
    return undefined;
  }
  closeQuietly(claimFd);
  let old: number | undefined;
  try {
    old = openExisting(path);
    if (old === undefined) return undefined;
    const st = fs.fstatSync(old);
    if (st.ino !== free.ino || readFd(old, st.size) !== free.text || liveNow(old, path)) return undefined;
    const { temp, fd } = writeTemp(path, id, HEADER + record, mode);
    try {
      if (fs.fstatSync(old).nlink === 0) throw Object.assign(new Error('gone'), { code: 'ENOENT' });
      fs.renameSync(temp, path);
    } catch (e) {
      closeQuietly(fd);
      fs.rmSync(temp, { force: true });
      if (isGoneCode(e)) return undefined; // a native holder released (removed) it meanwhile: retry
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EPERM' || code === 'EACCES') throw stickyError(displayPath(path), st.uid, code);
      throw asLockError(e, path);
    }
    const result = { fd, st: fs.fstatSync(fd), oldFd: old, freeText: free.text };
    old = undefined;
    return result;
  } catch (e) {
    if (isGoneCode(e)) return undefined;
    throw e;
  } finally {
    if (old !== undefined) closeQuietly(old);
    removeIfMine(claim, id);
  }
}

/**
 * The takeover of a dead holder's file is a rename over it, which a sticky directory
 * (/tmp) allows only the file's owner and root. Writing into it in place instead would
 * race with native processes (no compare-and-swap), so the fallback says what is wrong.
 */
function stickyError(path: string, uid: number, code: string): Error {
  return codeError(
    code,
    'rename',
    path,
    undefined,
    `operation not permitted: the lock file belongs to uid ${uid} and its holder is gone, but this ` +
      `directory (sticky) lets only its owner replace it; remove it as uid ${uid} or root, or use the native backend`,
  );
}

/** Whether a native process may still hold the inode a reclaim replaced. */
function nativesInside(oldFd: number, freeText: string, path: FsPath): boolean {
  let text: string;
  try {
    refreshFd(oldFd, path);
    text = readFd(oldFd, READ_MAX);
  } catch {
    return false; // ESTALE: the old inode is gone everywhere
  }
  if (text === freeText) return false;
  return parseRecords(text).some((r) => r.backend === 'native' && recordLive(r, undefined));
}

/** Removes a claim left by a dead reclaimer, without removing a live one. */
function removeIfDead(claim: FsPath, id: string): void {
  let j: Judgement;
  try {
    j = judge(claim);
  } catch {
    return;
  }
  if (j.kind !== 'free') return;
  // Move it aside, then look at what was moved: only the judged dead claim is dropped;
  // a live claim moved by mistake (it replaced the dead one in between) goes back.
  const aside = besideName(claim, '', `.${id}.stale`);
  try {
    fs.renameSync(claim, aside);
  } catch {
    return;
  }
  try {
    const fd = openExisting(aside);
    const text = fd === undefined ? j.text : readAndClose(fd);
    if (text !== j.text) fs.linkSync(aside, claim);
  } catch {
    // EEXIST: a third claim appeared; the inode check of step 2 still guards the lock.
  } finally {
    fs.rmSync(aside, { force: true });
  }
}

function readAndClose(fd: number): string {
  try {
    return readFd(fd, READ_MAX);
  } finally {
    closeQuietly(fd);
  }
}

function removeIfMine(path: FsPath, id: string): void {
  try {
    const fd = openExisting(path);
    if (fd !== undefined && parseRecords(readAndClose(fd)).some((r) => r.id === id)) fs.unlinkSync(path);
  } catch {
    // Already gone.
  }
}

/**
 * Other hosts judge a fallback record by its refresh time (they cannot see our pid):
 * refresh it every lease / 4 through the held fd. Each beat also checks the lock is
 * still ours: after a pause past the lease another host may have replaced the file.
 */
function startHeartbeat(h: FallbackHeld, lease: number): void {
  h.heartbeat = setInterval(() => {
    if (checkPath(h) === 'theirs') return;
    const now = new Date();
    try {
      fs.futimesSync(h.fd, now, now);
    } catch (e) {
      if (isGoneCode(e)) markLost(h);
    }
  }, lease / 4);
  h.heartbeat.unref();
}

function markLost(h: FallbackHeld): void {
  clearInterval(h.heartbeat);
  if (h.lost) return;
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
function checkPath(h: FallbackHeld): 'mine' | 'theirs' | 'unknown' {
  if (h.lost) return 'theirs';
  let suspect: boolean;
  try {
    suspect = fs.fstatSync(h.fd).nlink === 0 || fs.lstatSync(h.path).ino !== h.ino;
  } catch {
    suspect = true;
  }
  // Confirmed by the file's content: GlusterFS can report a cached link count of 0 for
  // a second after the record file's temp name went, and some FUSE filesystems number
  // each link apart.
  const seen = suspect ? atPath(h) : 'mine';
  if (seen === 'theirs') markLost(h);
  return seen;
}

/**
 * Who holds the file at the lock path, by its content: 'mine' (our record; the inode
 * number the path shows is remembered: some FUSE filesystems give each name of a
 * hard-linked file its own), 'theirs' (no file, or one without our record), or
 * 'unknown' (it cannot be read now).
 */
function atPath(h: FallbackHeld): 'mine' | 'theirs' | 'unknown' {
  refreshEntries(h.path);
  let fd: number;
  try {
    fd = fs.openSync(h.path, C.O_RDONLY | NOFOLLOW);
  } catch (e) {
    return fsErrorCode(e) === 'ENOENT' ? 'theirs' : 'unknown';
  }
  try {
    refreshFd(fd, h.path);
    if (!parseRecords(readFd(fd, READ_MAX)).some((r) => r.id === h.id)) return 'theirs';
    h.ino = fs.fstatSync(fd).ino;
    return 'mine';
  } catch {
    return 'unknown'; // ENOENT once open too: the name denoted a replaced file (GlusterFS opens lazily)
  } finally {
    closeQuietly(fd);
  }
}

/**
 * Whether our own inode still carries our record (nobody rewrote it after a lapsed
 * lease). Only processes of other hosts judge our record by its lease, so on a local
 * filesystem it always does, and release reads nothing more there.
 */
function recordStillIn(h: FallbackHeld): boolean {
  if (!onSharedFs(h.path)) return true;
  try {
    refreshFd(h.fd, h.path);
    return parseRecords(readFd(h.fd, READ_MAX)).some((r) => r.id === h.id);
  } catch {
    return true; // unreadable: cutting our own inode back is what release would do anyway
  }
}

type Attempt = { kind: 'mine'; fd: number; st: fs.Stats; oldFd?: number; freeText?: string } | Judgement;

/** One attempt: held (maybe pending natives in a replaced inode), or what stands in the way. */
function attempt(path: FsPath, id: string, record: string, mode: number): Attempt {
  const fd = createWhole(path, id, HEADER + record, mode);
  if (fd !== undefined) return { kind: 'mine', fd, st: fs.fstatSync(fd) };
  const j = judge(path);
  if (j.kind !== 'free') return j;
  const r = reclaim(path, j, record, id, mode);
  if (r) retried('lock', displayPath(path), 'reclaim', undefined, () => staleHolder(j.text));
  return r ? { kind: 'mine', ...r } : { kind: 'gone' };
}

/** A kernel lock (flock(1), Python...) seen on a file only the fallback could not take. */
function kernelHolder(path: FsPath): Probe | undefined {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(path);
  } catch {
    return undefined;
  }
  const locks = kernelLocks(st.dev, String(st.ino));
  if (!locks?.length) return undefined;
  const k = locks.find((x) => x.pid !== undefined);
  const shared = locks.every((x) => x.shared);
  const pid = k?.pid;
  return {
    state: shared ? 1 : 2,
    holder: {
      pid,
      hostname: pid === undefined ? undefined : hostname,
      since: undefined,
      shared,
      record: false,
      name: pid === undefined ? undefined : commandName(pid),
    },
  };
}

class FallbackLocks implements PathLockBackend {
  async acquire(path: FsPath, shared: boolean, w: CheckedWait, o: FileOptions, hooks: BusyHooks): Promise<Held> {
    const id = newId();
    const display = displayPath(path);
    const record = recordLine(id, 'fallback', shared ? 'shared' : 'exclusive', o.lease, o.name);
    const deadline = w.timeout === undefined ? undefined : Date.now() + w.timeout;
    const willWait = w.wait && w.timeout !== 0;
    let gone = 0; // attempts that found the file gone under their hands
    for (let n = 0; ; n++) {
      if (w.signal?.aborted) throw abortReason(w.signal);
      const r = attempt(path, id, record, o.mode);
      if (r.kind === 'mine') {
        const held = this.held(path, shared, id, r, o);
        if (r.oldFd === undefined) return held;
        try {
          for (let i = 0; nativesInside(r.oldFd, r.freeText!, path); i++) {
            if (deadline !== undefined && Date.now() >= deadline) throw timeoutError(display, w.timeout!);
            await sleep(pollDelay(i), w.signal, abortReason);
          }
          return held;
        } catch (e) {
          this.release(held);
          throw e;
        } finally {
          closeQuietly(r.oldFd);
        }
      }
      if (r.kind === 'gone') retried('lock', display, 'gone');
      if (r.kind === 'gone' && (++gone <= GONE_AT_ONCE || (!w.wait && gone <= GONE_AT_ONCE * 4))) continue;
      if (r.kind === 'held') hooks.busy(r.key, () => r.holder && toHolder(r.holder), willWait);
      const holder = r.kind === 'held' ? r.holder && toHolder(r.holder) : undefined;
      if (!w.wait) throw r.kind === 'gone' ? goneError(path) : lockedError(display, holder);
      const left = deadline === undefined ? Infinity : deadline - Date.now();
      if (left <= 0) throw timeoutError(display, w.timeout!, holder);
      await sleep(Math.min(pollDelay(n), left), w.signal, abortReason);
    }
  }

  acquireSync(path: FsPath, shared: boolean, w: CheckedWait, o: FileOptions, hooks: BusyHooks): Held {
    const id = newId();
    const display = displayPath(path);
    const record = recordLine(id, 'fallback', shared ? 'shared' : 'exclusive', o.lease, o.name);
    const deadline = w.timeout === undefined ? undefined : Date.now() + w.timeout;
    const willWait = w.wait && w.timeout !== 0;
    let gone = 0;
    for (let n = 0; ; n++) {
      const r = attempt(path, id, record, o.mode);
      if (r.kind === 'mine') {
        const held = this.held(path, shared, id, r, o);
        if (r.oldFd === undefined) return held;
        try {
          for (let i = 0; nativesInside(r.oldFd, r.freeText!, path); i++) {
            if (deadline !== undefined && Date.now() >= deadline) throw timeoutError(display, w.timeout!);
            sleepSync(pollDelay(i));
          }
          return held;
        } catch (e) {
          this.release(held);
          throw e;
        } finally {
          closeQuietly(r.oldFd);
        }
      }
      if (r.kind === 'gone') retried('lock', display, 'gone');
      if (r.kind === 'gone' && (++gone <= GONE_AT_ONCE || (!w.wait && gone <= GONE_AT_ONCE * 4))) continue;
      if (r.kind === 'held') hooks.busy(r.key, () => r.holder && toHolder(r.holder), willWait);
      const holder = r.kind === 'held' ? r.holder && toHolder(r.holder) : undefined;
      if (!w.wait) throw r.kind === 'gone' ? goneError(path) : lockedError(display, holder);
      const left = deadline === undefined ? Infinity : deadline - Date.now();
      if (left <= 0) throw timeoutError(display, w.timeout!, holder);
      sleepSync(Math.min(pollDelay(n), left));
    }
  }

  private held(
    path: FsPath,
    shared: boolean,
    id: string,
    r: { fd: number; st: fs.Stats },
    o: FileOptions,
  ): FallbackHeld {
    const h = {
      path,
      display: displayPath(path),
      key: statKey(r.st),
      shared,
      id,
      ino: r.st.ino,
      fd: r.fd,
      // Removed unless asked (keep: true): the fallback takes no kernel lock another
      // program could wait on, and a kept file cannot be taken over by another user in
      // a sticky directory (/tmp): the rename that takes it over is refused there.
      keep: o.keep === true || onSharedFs(path),
    } as FallbackHeld;
    if (debugOn) acquiredFile(h.display, shared, true, !h.keep, o.keep);
    startHeartbeat(h, o.lease);
    return h;
  }

  identify(held: Held): string {
    return held.key ?? '';
  }

  release(held: Held): void {
    const h = held as FallbackHeld;
    clearInterval(h.heartbeat);
    try {
      // Only our own file goes: after a reclaim by another host (our lease lapsed) the
      // file at the path is theirs, and the lock was lost.
      const seen = checkPath(h);
      if (seen === 'theirs') return;
      try {
        // Kept: our record goes from our own inode, even when the path cannot be read
        // now (a stale client entry: the file at the path is most likely still ours,
        // and a record left behind would stop every process of this host while we
        // live); not when a native process rewrote it after our lease lapsed. Removed:
        // only a path seen to be ours (never what was planted there: a link, a file
        // we cannot read).
        if (h.keep) {
          if (recordStillIn(h)) fs.ftruncateSync(h.fd, Buffer.byteLength(HEADER));
          else markLost(h);
        } else if (seen === 'mine') fs.unlinkSync(h.path);
      } catch {
        // Release never fails because the file cannot be changed (EPERM, ESTALE…):
        // then the record stays until its process is gone or its lease lapses.
      }
    } finally {
      closeQuietly(h.fd);
    }
  }

  probe(path: FsPath): Probe {
    const j = judge(path);
    if (j.kind === 'held' && j.holder) return { state: j.holder.mode === 'shared' ? 1 : 2, holder: toHolder(j.holder) };
    // An empty file in the making (a native creator, or a program that locks without a
    // record): the kernel's table may say who.
    if (j.kind === 'held') return kernelHolder(path) ?? { state: 2, holder: undefined };
    // No record holds it; a program that takes kernel locks only may (Linux shows it).
    return kernelHolder(path) ?? { state: 0, holder: undefined };
  }
}

export const fallbackLocks: PathLockBackend = new FallbackLocks();
