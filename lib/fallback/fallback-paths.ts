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
//
// Every step is written once (fallback-judge.ts, fallback-heartbeat.ts) and run by a
// driver of fallback-io.ts: lockSync and releaseSync synchronously, as they promise; a
// waiting lock() synchronously for its first attempt and on the threadpool from its
// first sleep on, so that nothing run from a timer blocks the event loop.
import * as fs from 'node:fs';
import { type CheckedWait, type FsPath, displayPath } from '../common/args';
import { abortReason, codeError, fsErrorCode, lockedError, timeoutError } from '../common/errors';
import { onSharedFs } from '../common/fstype';
import { commandName, kernelLocks } from '../common/proc-locks';
import {
  type BusyHooks,
  type FileOptions,
  type Held,
  type PathLockBackend,
  type Probe,
  pollDelay,
} from '../protocol/lock-backend';
import { HEADER, hostname, newId, recordLine, toHolder } from '../protocol/record';
import { acquiredFile, debugOn, retried } from '../common/diagnostics';
import { type Claim, closeQuietly } from './fallback-files';
import {
  type FallbackHeld,
  checkPath,
  markLost,
  recordStillIn,
  startHeartbeat,
  stopHeartbeat,
} from './fallback-heartbeat';
import { type Step, ftruncate, pause, runSync, runUntilSleep, unlink } from './fallback-io';
import { type Attempt, type Judgement, attempt, judge, nativesInside, statKey } from './fallback-judge';

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

/**
 * One acquisition: attempts until the lock is ours, waiting (pause) between them as
 * `w` allows, and calling `hooks.busy` before every wait.
 */
function* acquiring(
  path: FsPath,
  shared: boolean,
  w: CheckedWait,
  o: FileOptions,
  hooks: BusyHooks,
): Step<FallbackHeld> {
  const id = newId();
  const display = displayPath(path);
  const sharedFs = onSharedFs(path); // learnt once, in the caller's call (statfs, cached)
  const record = recordLine(id, 'fallback', shared ? 'shared' : 'exclusive', o.lease, o.name);
  const deadline = w.timeout === undefined ? undefined : Date.now() + w.timeout;
  const willWait = w.wait && w.timeout !== 0;
  let gone = 0; // attempts that found the file gone under their hands
  let wasHeld = false; // the last attempt found it held: the next judges first
  // Each file this call puts at the lock path (or the claim path) is a wait of this
  // thread from just before the call that puts it there until the call ends: a waiting
  // lock() makes that call on the threadpool, and until it holds the lock (granted(),
  // in the same synchronous run as its return) or gave up and removed its record, other
  // code of this thread runs — a lockSync of this thread that found the file would wait
  // for it, and is refused (LockCall.busy, EDEADLK 'waiting') instead.
  const marks = new Set<() => void>();
  const claim: Claim = (st) => {
    const end = hooks.kernelWait(statKey(st));
    const unmark = () => {
      if (marks.delete(unmark)) end();
    };
    marks.add(unmark);
    return unmark;
  };
  try {
    for (let n = 0; ; n++) {
      if (w.signal?.aborted) throw abortReason(w.signal);
      const r: Attempt = yield* attempt(path, id, record, o.mode, sharedFs, claim, wasHeld);
      wasHeld = r.kind === 'held';
      if (r.kind === 'mine') {
        const held = newHeld(path, shared, id, r, o, sharedFs);
        if (r.oldFd === undefined) return granted(held, hooks);
        try {
          for (let i = 0; yield* nativesInside(r.oldFd, r.freeText!, sharedFs); i++) {
            if (deadline !== undefined && Date.now() >= deadline) throw timeoutError(display, w.timeout!);
            yield* pause(pollDelay(i), w.signal, abortReason);
          }
          return granted(held, hooks);
        } catch (e) {
          yield* releasing(held);
          throw e;
        } finally {
          yield* closeQuietly(r.oldFd);
        }
      }
      // The file went under our hands (ENOENT, ESTALE): try again.
      if (r.kind === 'gone') retried('lock', display, 'gone');
      if (r.kind === 'gone' && (++gone <= GONE_AT_ONCE || (!w.wait && gone <= GONE_AT_ONCE * 4))) continue;
      if (r.kind === 'held') hooks.busy(r.key, () => r.holder && toHolder(r.holder), willWait);
      const holder = r.kind === 'held' ? r.holder && toHolder(r.holder) : undefined;
      if (!w.wait) throw r.kind === 'gone' ? goneError(path) : lockedError(display, holder);
      const left = deadline === undefined ? Infinity : deadline - Date.now();
      if (left <= 0) throw timeoutError(display, w.timeout!, holder);
      yield* pause(Math.min(pollDelay(n), left), w.signal, abortReason);
    }
  } finally {
    for (const unmark of marks) unmark();
  }
}

/** The end of an acquisition: this thread learns that it holds the file before anything else of it runs. */
function granted(held: FallbackHeld, hooks: BusyHooks): FallbackHeld {
  hooks.granted(held);
  return held;
}

function newHeld(
  path: FsPath,
  shared: boolean,
  id: string,
  r: { fd: number; st: fs.Stats },
  o: FileOptions,
  sharedFs: boolean,
): FallbackHeld {
  const h: FallbackHeld = {
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
    keep: o.keep === true || sharedFs,
    sharedFs,
    heartbeat: undefined,
    beating: false,
    released: false,
  };
  if (debugOn) acquiredFile(h.display, shared, true, !h.keep, o.keep);
  startHeartbeat(h, o.lease);
  return h;
}

/**
 * Release: only our own file goes. After a reclaim by another host (our lease lapsed)
 * the file at the path is theirs, and the lock was lost. The descriptor is closed here,
 * or by the beat still out with it (fallback-heartbeat.ts).
 */
function* releasing(h: FallbackHeld): Step<void> {
  stopHeartbeat(h);
  try {
    const seen = yield* checkPath(h);
    if (seen === 'theirs') return;
    try {
      // Kept: our record goes from our own inode, even when the path cannot be read
      // now (a stale client entry: the file at the path is most likely still ours,
      // and a record left behind would stop every process of this host while we
      // live); not when a native process rewrote it after our lease lapsed. Removed:
      // only a path seen to be ours (never what was planted there: a link, a file
      // we cannot read).
      if (h.keep) {
        if (yield* recordStillIn(h)) yield* ftruncate(h.fd, Buffer.byteLength(HEADER));
        else markLost(h);
      } else if (seen === 'mine') yield* unlink(h.path);
    } catch {
      // Release never fails because the file cannot be changed (EPERM, ESTALE…):
      // then the record stays until its process is gone or its lease lapses.
    }
  } finally {
    h.released = true;
    if (!h.beating) yield* closeQuietly(h.fd);
  }
}

/**
 * A kernel lock (flock(1), Python...) seen on a file only the fallback could not take:
 * undefined when there is none, null when the kernel's table cannot be read (not Linux).
 */
function kernelHolder(path: FsPath): Probe | undefined | null {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(path);
  } catch {
    return undefined;
  }
  const locks = kernelLocks(st.dev, String(st.ino), { path });
  if (locks === undefined) return null;
  if (!locks.length) return undefined;
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
  acquire(path: FsPath, shared: boolean, w: CheckedWait, o: FileOptions, hooks: BusyHooks): Held | Promise<Held> {
    // The first attempt runs inside the caller's call; the polls after a sleep run on a
    // timer, so on the threadpool.
    return runUntilSleep(acquiring(path, shared, w, o, hooks));
  }

  acquireSync(path: FsPath, shared: boolean, w: CheckedWait, o: FileOptions, hooks: BusyHooks): Held {
    return runSync(acquiring(path, shared, w, o, hooks));
  }

  identify(held: Held): string {
    return held.key ?? '';
  }

  release(held: Held): void {
    runSync(releasing(held as FallbackHeld));
  }

  probe(path: FsPath): Probe {
    let j: Judgement;
    try {
      j = runSync(judge(path, onSharedFs(path)));
    } catch (e) {
      // Someone else's file, or a directory: the fallback cannot lock it (ENOTSUP), but
      // isLocked/lockHolder look at whatever is at the path: a program holding it with a
      // kernel lock (flock(1) on the file it created, however old) is seen; none, free.
      // Where the kernel's table cannot be read, nothing can be told: ENOTSUP stands.
      if (fsErrorCode(e) !== 'ENOTSUP') throw e;
      const k = kernelHolder(path);
      if (k === null) throw e;
      return k ?? { state: 0, holder: undefined };
    }
    if (j.kind === 'held' && j.holder) return { state: j.holder.mode === 'shared' ? 1 : 2, holder: toHolder(j.holder) };
    // An empty file in the making (a native creator, or a program that locks without a
    // record): the kernel's table may say who.
    if (j.kind === 'held') return kernelHolder(path) ?? { state: 2, holder: undefined };
    // No record holds it; a program that takes kernel locks only may (Linux shows it).
    return kernelHolder(path) ?? { state: 0, holder: undefined };
  }
}

export const fallbackLocks: PathLockBackend = new FallbackLocks();
