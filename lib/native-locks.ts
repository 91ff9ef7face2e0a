// Native path locks and descriptor locks: the decisions around the binding's fixed
// call sequences (native/glue_locks.cc). Waits block a dedicated thread, never the
// event loop or libuv's threadpool (native/waiter.cc).
import { type Binding, DELETE_PENDING, LockType, PathStatus, WaitKind, out } from './binding';
import type { CheckedWait } from './args';
import { abortReason, deadlockError, errorCode, lockedError, osError, timeoutError } from './errors';
import { type Held, type PathLockBackend, type Probe, pollDelay, sleep, sleepSync } from './lock-backend';
import {
  type HolderRecord,
  describeHolder,
  newId,
  parseRecords,
  recordLine,
  recordLive,
  tombstoneLine,
  toHolder,
} from './record';
import * as fs from 'node:fs';
import { type WaitOutcome, waitOnThread } from './native-wait';

/** Records from another host count as live while refreshed within this window. */
export const STALE_MS = 10_000;
const READ_MAX = 1 << 16;

interface NativeHeld extends Held {
  fd: number;
  type: LockType;
  tombstone: string;
}


export function isWouldBlock(result: number): boolean {
  const code = errorCode(result);
  return code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EACCES';
}

export class NativeLocks implements PathLockBackend {
  constructor(private readonly b: Binding) {}

  /** See lib/native-wait.ts. */
  wait(kind: WaitKind, fd: number, type: LockType, start: number, length: number, deadline: number | undefined,
    signal: AbortSignal | undefined, onTimeout: () => unknown): Promise<WaitOutcome> {
    return waitOnThread(this.b, kind, fd, type, start, length, deadline, signal, onTimeout);
  }

  async acquire(path: string, shared: boolean, w: CheckedWait): Promise<Held> {
    const b = this.b;
    const type = shared ? LockType.Shared : LockType.Exclusive;
    const id = newId();
    const record = recordLine(id, 'native', shared ? 'shared' : 'exclusive');
    const tombstone = tombstoneLine(id);
    const deadline = w.timeout === undefined ? undefined : Date.now() + w.timeout;
    for (let attempt = 0; ; attempt++) {
      if (w.signal?.aborted) throw abortReason(w.signal);
      const fd = b.pathLock(path, type, 0o666, record, tombstone);
      if (fd === DELETE_PENDING) {
        await sleep(pollDelay(attempt), w.signal, abortReason); // the last old handle closes soon
        continue;
      }
      if (fd < 0) throw osError(fd, b.lastSyscall(), path);
      let status = out[0] as PathStatus;
      if (status === PathStatus.Busy) {
        if (!w.wait || w.timeout === 0) throw this.giveUp(fd, path, w.wait ? w.timeout : undefined);
        const o = await this.wait(WaitKind.PathLock, fd, type, 0, 0, deadline, w.signal, () =>
          timeoutError(path, w.timeout!, this.holderOf(fd)),
        );
        if (o.cancelled !== undefined || o.result < 0) {
          // Granted just as it was cancelled: release it the normal way (no record yet).
          if (o.result === 0) b.pathRelease(path, fd, type, '');
          else b.closeFile(fd);
          throw o.cancelled ?? osError(o.result, o.syscall, path);
        }
        const r = b.pathAfterWait(fd, type, record, tombstone);
        if (r < 0) throw osError(r, b.lastSyscall(), path);
        status = out[0] as PathStatus;
      }
      const settled = this.settle(status, fd, path, type, record, tombstone);
      if (settled === 'acquired') return { path, shared, fd, type, tombstone } as NativeHeld;
      if (settled === 'fallback-holds') {
        if (!w.wait) throw lockedError(path, describeHolder(this.probe(path).holder));
        if (deadline !== undefined && Date.now() >= deadline)
          throw timeoutError(path, w.timeout!, describeHolder(this.probe(path).holder));
        const delay = pollDelay(attempt);
        await sleep(deadline === undefined ? delay : Math.min(delay, Math.max(0, deadline - Date.now())), w.signal, abortReason);
      }
    }
  }

  acquireSync(path: string, shared: boolean, w: CheckedWait, conflictsHere: () => boolean): Held {
    const b = this.b;
    const type = shared ? LockType.Shared : LockType.Exclusive;
    const id = newId();
    const record = recordLine(id, 'native', shared ? 'shared' : 'exclusive');
    const tombstone = tombstoneLine(id);
    const deadline = w.timeout === undefined ? undefined : Date.now() + w.timeout;
    for (let attempt = 0; ; attempt++) {
      const fd = b.pathLock(path, type, 0o666, record, tombstone);
      if (fd === DELETE_PENDING) {
        sleepSync(pollDelay(attempt));
        continue;
      }
      if (fd < 0) throw osError(fd, b.lastSyscall(), path);
      let status = out[0] as PathStatus;
      if (status === PathStatus.Busy) {
        if (!w.wait || w.timeout === 0) throw this.giveUp(fd, path, w.wait ? w.timeout : undefined);
        if (conflictsHere()) {
          b.closeFile(fd);
          throw deadlockError(path);
        }
        const left = deadline === undefined ? -1 : Math.max(0, deadline - Date.now());
        const r = b.waitSync(WaitKind.PathLock, fd, type, 0, 0, left);
        if (r === b.INTERRUPTED) throw this.giveUp(fd, path, w.timeout);
        if (r < 0) {
          const err = osError(r, b.lastSyscall(), path);
          b.closeFile(fd);
          throw err;
        }
        const r2 = b.pathAfterWait(fd, type, record, tombstone);
        if (r2 < 0) throw osError(r2, b.lastSyscall(), path);
        status = out[0] as PathStatus;
      }
      const settled = this.settle(status, fd, path, type, record, tombstone);
      if (settled === 'acquired') return { path, shared, fd, type, tombstone } as NativeHeld;
      if (settled === 'fallback-holds') {
        if (!w.wait) throw lockedError(path, describeHolder(this.probe(path).holder));
        if (deadline !== undefined && Date.now() >= deadline)
          throw timeoutError(path, w.timeout!, describeHolder(this.probe(path).holder));
        sleepSync(pollDelay(attempt));
      }
    }
  }

  /**
   * Finishes an attempt that holds the kernel lock: 'acquired', 'retry' (the inode was
   * removed meanwhile), or 'fallback-holds' (a live fallback process owns the lock by
   * its record; our kernel lock is dropped).
   */
  private settle(status: PathStatus, fd: number, path: string, type: LockType, record: string,
    tombstone: string): 'acquired' | 'retry' | 'fallback-holds' {
    const b = this.b;
    if (status === PathStatus.Stale) return 'retry';
    if (status === PathStatus.Content) {
      const size = out[3];
      const records = this.readRecords(fd, size);
      if (records === undefined) throw osError(out[7], b.lastSyscall(), path);
      if (records.some((r) => r.backend === 'fallback' && recordLive(r, mtimeOf(path), STALE_MS))) {
        b.closeFile(fd);
        return 'fallback-holds';
      }
      const r = b.pathCommit(fd, type, size, record, tombstone);
      if (r < 0) throw osError(r, b.lastSyscall(), path);
      status = out[0] as PathStatus;
    }
    return status === PathStatus.Acquired ? 'acquired' : 'retry';
  }

  /** Records in an open lock file, or undefined (out[7] = error) when unreadable. */
  private readRecords(fd: number, size: number): HolderRecord[] | undefined {
    const buf = Buffer.allocUnsafe(Math.min(size || 512, READ_MAX));
    const n = this.b.readAt(fd, buf, 0);
    if (n < 0) {
      out[7] = n;
      this.b.closeFile(fd);
      return undefined;
    }
    return parseRecords(buf.toString('utf8', 0, n));
  }

  /** "pid 1 on host since ..." of the current holder, read through an open fd. */
  private holderOf(fd: number): string | undefined {
    const records = this.readRecords(fd, READ_MAX);
    const r = records && records.length ? records[records.length - 1] : undefined;
    return describeHolder(r && toHolder(r));
  }

  /** Closes a failed attempt's fd and builds its error (ELOCKED, or ETIMEDOUT). */
  private giveUp(fd: number, path: string, timeout: number | undefined): Error {
    const holder = this.holderOf(fd);
    this.b.closeFile(fd);
    return timeout === undefined ? lockedError(path, holder) : timeoutError(path, timeout, holder);
  }

  release(held: Held): void {
    const h = held as NativeHeld;
    const r = this.b.pathRelease(h.path, h.fd, h.type, h.tombstone);
    // The lock is released whatever happens to the file; a file someone else already
    // removed is no error.
    if (r < 0 && errorCode(r) !== 'ENOENT') throw osError(r, this.b.lastSyscall(), h.path);
  }

  probe(path: string): Probe {
    const b = this.b;
    const fd = b.pathProbe(path);
    if (fd < 0) {
      if (errorCode(fd) === 'ENOENT') return { state: 0, holder: undefined };
      throw osError(fd, b.lastSyscall(), path);
    }
    let state = out[0] as 0 | 1 | 2;
    const size = out[3];
    const records = size > 0 ? this.readRecords(fd, size) : [];
    if (records === undefined) throw osError(out[7], b.lastSyscall(), path);
    b.closeFile(fd);
    const mtime = records.length ? mtimeOf(path) : undefined;
    const live = records.filter((r) => recordLive(r, mtime, STALE_MS));
    let holder: HolderRecord | undefined;
    if (state === 0) {
      // No kernel lock: only a fallback process can hold it, by its record.
      holder = live.filter((r) => r.backend === 'fallback').pop();
      if (holder) state = holder.mode === 'shared' ? 1 : 2;
    } else {
      const mode = state === 1 ? 'shared' : 'exclusive';
      holder = live.filter((r) => r.mode === mode).pop();
    }
    return { state, holder: holder && toHolder(holder) };
  }
}

function mtimeOf(path: string): number | undefined {
  try {
    return fs.statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}
