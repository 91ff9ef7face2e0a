// What a path-lock backend (native or fallback) provides to the public API in
// lib/locks/locks.ts, which adds argument checks, the per-thread FIFO queue, the EDEADLK
// check of lockSync and the Lock object.
import type { CheckedWait, FsPath } from '../common/args';
import type { Holder } from './record';

/** A lock one backend holds; backends extend it with what their release needs. */
export interface Held {
  /** The lock path as given (absolute; a Buffer for bytes that are not UTF-8). */
  readonly path: FsPath;
  /** For messages and `Lock.path`. */
  readonly display: string;
  /**
   * The identity of the locked file (fileKey), one lock whatever name reached it, when
   * the grant learnt it; else PathLockBackend.identify() finds it when needed.
   */
  readonly key?: string;
  readonly shared: boolean;
  /** Set by the backend when the lock is known to be lost (fallback lease lapsed). */
  lost?: Error;
  /** Called once by the backend when it sets `lost`. */
  onLost?: (err: Error) => void;
}

/** What path locks do with the lock file itself (checked options of lock()). */
export interface FileOptions {
  /** Leave the lock file in place after release (undefined: the backend's default). */
  keep: boolean | undefined;
  /** Permission bits of a lock file this call creates (applied exactly). */
  mode: number;
  /** Fallback records: ms they stay valid for other hosts without a refresh. */
  lease: number;
  /** The holder name the record gives (checked; undefined: this process's own). */
  name: string | undefined;
}

/**
 * What the public API decides when an attempt finds the lock held by someone else
 * (lib/locks/locks.ts): the backends call it before every wait.
 */
export interface BusyHooks {
  /**
   * The file `key` is held by someone else. Returns to wait; throws to refuse (EDEADLK:
   * the holder is this thread or async context, which the wait would wait on) or to
   * grant a nested lock on the caller's own hold (the backend closes its attempt and
   * lets the throw through). `holder` reads who holds it (a read: only when needed);
   * `willWait` is false when the call gives up at once (`wait: false`, `timeout: 0`).
   */
  busy(key: string, holder: () => Holder | undefined, willWait: boolean): void;
  /**
   * A wait on `key` starts whose end only this thread can take (native: a wait in the
   * kernel; fallback: attempts and checks running over later event-loop turns, while
   * the file may already hold its claim); the returned function ends it.
   */
  kernelWait(key: string): () => void;
  /**
   * The lock is held, after a wait: called by the backend before it returns `held`, so
   * that nothing else of this thread runs between the grant and this thread knowing it
   * holds the file (a lockSync there would wait for it).
   */
  granted(held: Held): void;
}

/** The identity of a file, for Map keys: device and 64-bit inode (or volume and file index). */
export function fileKey(dev: number, inoHigh: number, inoLow: number): string {
  return `${dev}:${inoHigh}:${inoLow}`;
}

export interface Probe {
  /** 0 free, 1 held shared, 2 held exclusively */
  state: 0 | 1 | 2;
  holder: Holder | undefined;
}

export interface PathLockBackend {
  /** `w.timeout` is what is left of the caller's timeout after queueing. */
  acquire(path: FsPath, shared: boolean, w: CheckedWait, o: FileOptions, hooks: BusyHooks): Held | Promise<Held>;
  acquireSync(path: FsPath, shared: boolean, w: CheckedWait, o: FileOptions, hooks: BusyHooks): Held;
  release(held: Held): void;
  probe(path: FsPath): Probe;
  /** The identity of a held file whose grant did not report it ('' if it cannot be had). */
  identify(held: Held): string;
}

/** Interval for the rare waits that cannot be woken by the kernel (a fallback holder). */
export function pollDelay(attempt: number): number {
  return Math.min(2 * 2 ** Math.min(attempt, 6), 100) * (0.75 + Math.random() * 0.5);
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(
  ms: number,
  signal: AbortSignal | undefined,
  reasonOf: (s: AbortSignal) => unknown,
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(reasonOf(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(reasonOf(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Blocks this thread for `ms` (lockSync only: it blocks by contract). */
export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
