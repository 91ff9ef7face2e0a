// What a path-lock backend (native or fallback) provides to the public API in
// lib/locks.ts, which adds argument checks, the per-thread FIFO queue, the EDEADLK
// check of lockSync and the Lock object.
import type { CheckedWait } from './args';
import type { Holder } from './record';

/** A lock one backend holds; backends extend it with what their release needs. */
export interface Held {
  readonly path: string;
  readonly shared: boolean;
}

export interface Probe {
  /** 0 free, 1 held shared, 2 held exclusively */
  state: 0 | 1 | 2;
  holder: Holder | undefined;
}

export interface PathLockBackend {
  /** `w.timeout` is what is left of the caller's timeout after queueing. */
  acquire(path: string, shared: boolean, w: CheckedWait): Promise<Held>;
  /** `conflictsHere()` tells whether this thread itself holds a conflicting lock. */
  acquireSync(path: string, shared: boolean, w: CheckedWait, conflictsHere: () => boolean): Held;
  release(held: Held): void;
  probe(path: string): Probe;
}

/** Interval for the rare waits that cannot be woken by the kernel (a fallback holder). */
export function pollDelay(attempt: number): number {
  return Math.min(2 * 2 ** Math.min(attempt, 6), 100) * (0.75 + Math.random() * 0.5);
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal: AbortSignal | undefined, reasonOf: (s: AbortSignal) => unknown): Promise<void> {
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
