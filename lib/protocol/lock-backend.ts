// What a path-lock backend (native or fallback) provides to the public API in
// lib/locks/locks.ts, which adds argument checks, the per-thread FIFO queue, the EDEADLK
// check of lockSync and the Lock object.
import type { CheckedWait } from '../common/args';
import type { Holder } from './record';

/** A lock one backend holds; backends extend it with what their release needs. */
export interface Held {
  readonly path: string;
  readonly shared: boolean;
  /** Set by the backend when the lock is known to be lost (fallback lease lapsed). */
  lost?: Error;
  /** Called once by the backend when it sets `lost`. */
  onLost?: (err: Error) => void;
}

/** What path locks do with the lock file itself (checked options of lock()). */
export interface FileOptions {
  /** Leave the lock file in place after release. */
  keep: boolean;
  /** Permission bits of a lock file this call creates (applied exactly). */
  mode: number;
  /** Fallback records: ms they stay valid for other hosts without a refresh. */
  lease: number;
}

export interface Probe {
  /** 0 free, 1 held shared, 2 held exclusively */
  state: 0 | 1 | 2;
  holder: Holder | undefined;
}

export interface PathLockBackend {
  /** `w.timeout` is what is left of the caller's timeout after queueing. */
  acquire(path: string, shared: boolean, w: CheckedWait, o: FileOptions): Held | Promise<Held>;
  /** `conflictsHere()` tells whether this thread itself holds a conflicting lock. */
  acquireSync(path: string, shared: boolean, w: CheckedWait, o: FileOptions, conflictsHere: () => boolean): Held;
  release(held: Held): void;
  probe(path: string): Probe;
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
