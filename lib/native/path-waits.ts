// Native path locks, the waits: NativeLocks, the backend, runs the attempts of
// lib/native/path-protocol.ts until one holds the lock, waiting for a busy lock on a
// waiter thread (lib/native/native-wait.ts; never the event loop or libuv's threadpool)
// or blocked in waitSync, polling while a fallback process holds it, backing off.
import type { CheckedWait, FsPath } from '../common/args';
import { type LockType, WaitKind } from './binding';
import { abortReason, errorCode, lockedError, osError, timeoutError } from '../common/errors';
import {
  type BusyHooks,
  type FileOptions,
  type Held,
  type PathLockBackend,
  pollDelay,
  sleep,
  sleepSync,
} from '../protocol/lock-backend';
import { type WaitOutcome, waitOnThread } from './native-wait';
import { waitChunk } from '../common/long-timer';
import { retried } from '../common/diagnostics';
import { PathProtocol, type Request, type Step, isGone } from './path-protocol';
import { WOULD_BLOCK } from './win32-errors';

/** The lock is held by someone else (also used by lib/locks/fd-locks.ts). */
export function isWouldBlock(result: number): boolean {
  if (WOULD_BLOCK.has(result)) return true; // Windows: ERROR_LOCK_VIOLATION (named EBUSY, as libuv does)
  const code = errorCode(result);
  return code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EACCES';
}

/**
 * Consecutive retries after which an attempt backs off (a name that keeps changing). A
 * retry after a granted wait does not count: the lock file was removed by a holder that
 * released it (progress), and the retry waits in the kernel again if the new file is
 * held. Counting those made a waiter that lost a few hand-offs poll at up to 100 ms
 * while the releasers took every turn (4 processes, 50 µs holds: a 3 s wait).
 */
const FREE_RETRIES = 8;

/** Who holds a lock file that cannot be opened for writing (Windows sharing violation). */
const IN_USE = 'another program that has the lock file open without sharing it (a scanner, backup or indexer?)';

/** The native backend of path locks (chosen in lib/locks/backends.ts). */
export class NativeLocks extends PathProtocol implements PathLockBackend {
  /** See lib/native/native-wait.ts. */
  wait(
    kind: WaitKind,
    fd: number,
    type: LockType,
    start: number,
    length: number,
    deadline: number | undefined,
    signal: AbortSignal | undefined,
    onTimeout: () => unknown,
  ): Promise<WaitOutcome> {
    return waitOnThread(this.b, kind, fd, type, start, length, deadline, signal, onTimeout);
  }

  /** Closes a failed attempt's fd and builds its error (ELOCKED, or ETIMEDOUT). */
  private giveUp(fd: number, q: Request, timeout: number | undefined, dir: boolean): Error {
    const holder = this.holderOf(fd, dir);
    this.b.closeFile(fd);
    return timeout === undefined ? lockedError(q.display, holder) : timeoutError(q.display, timeout, holder);
  }

  /**
   * The attempt on `fd` found the lock held: the public API decides (hooks.busy) whether
   * this call waits, is refused (EDEADLK) or nests in the caller's own lock; the attempt
   * is closed when it does not wait.
   */
  private busy(hooks: BusyHooks, fd: number, key: string, dir: boolean, willWait: boolean): void {
    try {
      hooks.busy(key, () => this.holderOf(fd, dir), willWait);
    } catch (e) {
      this.b.closeFile(fd);
      throw e;
    }
  }

  /**
   * ELOCKED/ETIMEDOUT while a fallback process holds the lock (or, Windows, another
   * program has the lock file open without sharing it; or the name keeps changing), or
   * undefined to go on.
   */
  private fallbackGiveUp(q: Request, w: CheckedWait, deadline: number | undefined, s?: Step): Error | undefined {
    const expired = deadline !== undefined && Date.now() >= deadline;
    if (w.wait && !expired) return undefined;
    const holder = s?.kind === 'in-use' ? IN_USE : this.probe(q.path).holder;
    return w.wait ? timeoutError(q.display, w.timeout!, holder) : lockedError(q.display, holder);
  }

  /**
   * The first attempt runs at once and, when it holds the lock (the uncontended case),
   * returns it without a promise: lock() then awaits nothing more (a microtask turn
   * and a promise less per lock).
   */
  acquire(path: FsPath, shared: boolean, w: CheckedWait, o: FileOptions, hooks: BusyHooks): Held | Promise<Held> {
    if (w.signal?.aborted) throw abortReason(w.signal);
    const q = this.request(path, shared, o);
    const first = this.open(q);
    return first.kind === 'held' ? first.held : this.acquireLoop(q, w, first, hooks);
  }

  private async acquireLoop(q: Request, w: CheckedWait, first: Step | undefined, hooks: BusyHooks): Promise<Held> {
    const b = this.b;
    const deadline = w.timeout === undefined ? undefined : Date.now() + w.timeout;
    const willWait = w.wait && w.timeout !== 0;
    for (let spins = 0, polls = 0; ;) {
      if (first === undefined && w.signal?.aborted) throw abortReason(w.signal);
      let s = first ?? this.open(q);
      first = undefined;
      const waited = s.kind === 'busy';
      if (s.kind === 'busy') {
        const { fd, created, key, dir } = s;
        this.busy(hooks, fd, key, dir, willWait);
        if (!willWait) throw this.giveUp(fd, q, w.wait ? w.timeout : undefined, dir);
        const waitEnds = hooks.kernelWait(key);
        let r: WaitOutcome;
        try {
          r = await this.wait(dir ? WaitKind.Flock : WaitKind.PathLock, fd, q.type, 0, 0, deadline, w.signal, () =>
            timeoutError(q.display, w.timeout!, this.holderOf(fd, dir)),
          );
        } finally {
          waitEnds();
        }
        if (r.cancelled !== undefined || r.result < 0) {
          // Granted just as it was cancelled: close, which drops it (no record yet).
          b.closeFile(fd);
          if (r.cancelled === undefined && isGone(r.result)) {
            retried('lock', q.display, 'gone', errorCode(r.result));
            continue;
          }
          throw r.cancelled ?? osError(r.result, r.syscall, q.display);
        }
        s = dir ? this.afterDirWait(q, fd) : this.afterWait(q, fd, created);
      }
      if (s.kind === 'held') {
        hooks.granted(s.held);
        return s.held;
      }
      if (s.kind === 'retry') retried('lock', q.display, 'gone');
      // Windows: another program has the lock file open without sharing it.
      if (s.kind === 'in-use') retried('lock', q.display, 'busy');
      if (s.kind === 'fallback-holds' || s.kind === 'in-use') {
        if (s.kind === 'fallback-holds') hooks.busy(s.key, () => this.probe(q.path).holder, willWait);
        const e = this.fallbackGiveUp(q, w, deadline, s);
        if (e) throw e;
        const delay = pollDelay(polls++);
        await sleep(
          deadline === undefined ? delay : Math.min(delay, Math.max(0, deadline - Date.now())),
          w.signal,
          abortReason,
        );
      } else if (waited) {
        spins = 0; // the file went after a granted wait: progress, not a name that spins
      } else if (spins++ >= FREE_RETRIES) {
        // A name that keeps changing is a wait too: bounded by wait, timeout and signal.
        const e = this.fallbackGiveUp(q, w, deadline);
        if (e) throw e;
        await sleep(pollDelay(spins - FREE_RETRIES - 1), w.signal, abortReason);
      }
    }
  }

  acquireSync(path: FsPath, shared: boolean, w: CheckedWait, o: FileOptions, hooks: BusyHooks): Held {
    const b = this.b;
    const q = this.request(path, shared, o);
    const deadline = w.timeout === undefined ? undefined : Date.now() + w.timeout;
    const willWait = w.wait && w.timeout !== 0;
    for (let spins = 0, polls = 0; ;) {
      let s = this.open(q);
      const waited = s.kind === 'busy';
      if (s.kind === 'busy') {
        const { fd, created, key, dir } = s;
        this.busy(hooks, fd, key, dir, willWait);
        if (!willWait) throw this.giveUp(fd, q, w.wait ? w.timeout : undefined, dir);
        const kind = dir ? WaitKind.Flock : WaitKind.PathLock;
        let r: number;
        do r = b.waitSync(kind, fd, q.type, 0, 0, waitChunk(deadline));
        while (r === b.INTERRUPTED && Date.now() < deadline!);
        if (r === b.INTERRUPTED) throw this.giveUp(fd, q, w.timeout, dir);
        if (r < 0) {
          const err = osError(r, b.lastSyscall(), q.display);
          b.closeFile(fd);
          if (isGone(r)) {
            retried('lock', q.display, 'gone', errorCode(r));
            continue;
          }
          throw err;
        }
        s = dir ? this.afterDirWait(q, fd) : this.afterWait(q, fd, created);
      }
      if (s.kind === 'held') return s.held;
      if (s.kind === 'retry') retried('lock', q.display, 'gone');
      // Windows: another program has the lock file open without sharing it.
      if (s.kind === 'in-use') retried('lock', q.display, 'busy');
      if (s.kind === 'fallback-holds' || s.kind === 'in-use') {
        if (s.kind === 'fallback-holds') hooks.busy(s.key, () => this.probe(q.path).holder, willWait);
        const e = this.fallbackGiveUp(q, w, deadline, s);
        if (e) throw e;
        sleepSync(pollDelay(polls++));
      } else if (waited) {
        spins = 0;
      } else if (spins++ >= FREE_RETRIES) {
        const e = this.fallbackGiveUp(q, w, deadline);
        if (e) throw e;
        sleepSync(pollDelay(spins - FREE_RETRIES - 1));
      }
    }
  }
}
