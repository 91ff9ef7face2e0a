// The public path-lock API (lock, lockSync, withLock, isLocked, lockHolder) and the Lock
// a holder gets: argument checks, and the queue of this thread's waiters per path (its
// state: lib/locks/path-state.ts); the backend (lib/locks/backends.ts) takes the lock.
// Descriptor locks: lib/locks/fd-locks.ts; the fslock command's hooks: cli-hooks.ts.
import {
  type CheckedWait,
  type WaitOptions,
  toFunction,
  toInteger,
  toOptions,
  toPath,
  toWait,
  toBool,
} from '../common/args';
import { backendName } from '../native/binding';
import { type LongTimer, clearLongTimeout, setLongTimeout } from '../common/long-timer';
import { abortReason, invalidArgValue, lockLostError, outOfRange, timeoutError } from '../common/errors';
import type { FileOptions, Held } from '../protocol/lock-backend';
import { DEFAULT_LEASE_MS, MIN_LEASE_MS } from '../protocol/record';
import type { Holder } from '../protocol/record';
import { backend } from './backends';
import { checkAccess, checkLockAccess } from '../common/permission';
import { forget, nextWaiter, paths, stateOf } from './path-state';

export type { Holder } from '../protocol/record';
export type { WaitOptions } from '../common/args';

/** Options of {@link lock}, {@link lockSync} and {@link withLock}. */
export interface LockOptions extends WaitOptions {
  /** Take a shared (read) lock: it excludes only exclusive holders. Default `false`. */
  shared?: boolean;
  /**
   * Leave the lock file in place after release (faster; flock(1), cargo and uv do so).
   * Default `false`: a lock file fslock created is removed when no one else holds it —
   * except on network and FUSE filesystems, where lock files always stay.
   */
  keep?: boolean;
  /**
   * Permission bits of a lock file this call creates, applied exactly (the umask is not
   * applied). Default `0o666`: every user of the machine can wait for and take the lock.
   */
  mode?: number;
  /**
   * Fallback backend: how long (ms) this holder's record stays valid for processes on
   * other hosts without a refresh; it is refreshed every `lease / 4`. A holder paused
   * longer (SIGSTOP, a VM pause) may lose the lock: then `Lock.signal` aborts. Default
   * 10,000; at least 1,000. Native kernel locks have no lease.
   */
  lease?: number;
}

/** A held lock. Release it with `release()`, `releaseSync()`, or `await using`. */
export interface Lock extends AsyncDisposable, Disposable {
  /** The lock file (absolute). */
  readonly path: string;
  readonly shared: boolean;
  readonly released: boolean;
  /**
   * Aborts (reason: an error with code `ELOCKLOST`) the moment this holder can know that
   * its lock was lost — a fallback holder whose lease lapsed and whose lock another host
   * took. Pass it on to the work done under the lock. Kernel locks on local filesystems
   * are never lost.
   */
  readonly signal: AbortSignal;
  /** Releases the lock; idempotent. Rejects with `ELOCKLOST` (after cleaning up) if it was lost. */
  release(): Promise<void>;
  /** Releases the lock synchronously; idempotent. Throws `ELOCKLOST` if it was lost. */
  releaseSync(): void;
}

// Set by PathLock's static block (a class's private fields are reachable only inside it).
let heldOfLock: (l: Lock) => Held | undefined = () => undefined;

class PathLock implements Lock {
  #held: Held | undefined;
  #lost: Error | undefined;
  #controller: AbortController | undefined;
  constructor(held: Held) {
    this.#held = held;
    const s = stateOf(held.path);
    if (held.shared) s.shared++;
    else s.exclusive++;
    held.onLost = (err) => {
      this.#lost = err;
      this.#controller?.abort(err);
    };
    if (held.lost) this.#lost = held.lost;
  }
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#lost) this.#controller.abort(this.#lost);
    }
    return this.#controller.signal;
  }
  get path(): string {
    return this.#held?.path ?? this.#path;
  }
  #path = '';
  get shared(): boolean {
    return this.#held?.shared ?? this.#shared;
  }
  #shared = false;
  get released(): boolean {
    return this.#held === undefined;
  }
  releaseSync(): void {
    const h = this.#held;
    if (!h) return;
    this.#held = undefined;
    this.#path = h.path;
    this.#shared = h.shared;
    const s = stateOf(h.path);
    if (h.shared) s.shared--;
    else s.exclusive--;
    forget(h.path, s);
    backend().release(h);
    const lost = this.#lost ?? h.lost;
    if (lost) throw lockLostError(h.path);
  }
  release(): Promise<void> {
    try {
      this.releaseSync();
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }
  [Symbol.dispose](): void {
    this.releaseSync();
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
  static {
    // The fslock command's hooks (lib/locks/cli-hooks.ts) reach the backend's state
    // through this, not through a WeakMap set on every lock (GC work on the hot path).
    heldOfLock = (l) => (l instanceof PathLock ? l.#held : undefined);
  }
}

/** The backend's state behind a held Lock (undefined once released). Internal. */
export function heldOf(l: Lock): Held | undefined {
  return heldOfLock(l);
}

function checkLockArgs(
  path: unknown,
  options: unknown,
): { path: string; shared: boolean; w: CheckedWait; f: FileOptions } {
  const p = toPath(path);
  const o = toOptions<LockOptions>(options);
  const mode = o.mode === undefined ? 0o666 : toInteger(o.mode, 'options.mode', 0);
  if (mode > 0o7777) throw outOfRange('options.mode', 'an integer >= 0 and <= 0o7777', mode);
  const lease = o.lease === undefined ? DEFAULT_LEASE_MS : toInteger(o.lease, 'options.lease', MIN_LEASE_MS);
  return {
    path: p,
    shared: toBool(o.shared, 'options.shared', false),
    w: toWait(o),
    f: { keep: toBool(o.keep, 'options.keep', false), mode, lease },
  };
}

/**
 * Acquires a lock on the lock file `path` (created if missing; its directory must
 * exist). Waits (without blocking the event loop or libuv's threadpool) unless
 * `wait: false` (rejects with `ELOCKED`); `timeout` rejects with `ETIMEDOUT`;
 * an aborted `signal` rejects with its reason. A failed attempt holds nothing.
 */
export async function lock(path: string | Buffer | URL, options?: LockOptions): Promise<Lock> {
  checkLockAccess(path);
  const a = checkLockArgs(path, options);
  if (a.w.signal?.aborted) throw abortReason(a.w.signal);
  const s = stateOf(a.path);
  if (!a.w.wait || !s.busy) {
    // Nobody of this thread is waiting for this path: try at once.
    if (a.w.wait) s.busy = true;
    try {
      const h = backend().acquire(a.path, a.shared, a.w, a.f);
      return new PathLock(h instanceof Promise ? await h : h);
    } finally {
      if (a.w.wait) nextWaiter(a.path, s);
      else forget(a.path, s);
    }
  }
  // Queue behind this thread's earlier waiters for the same path.
  const start = Date.now();
  await new Promise<void>((resolve, reject) => {
    let timer: LongTimer | undefined;
    const signal = a.w.signal;
    const leave = (err: unknown) => {
      const i = s.queue.indexOf(turn);
      if (i >= 0) s.queue.splice(i, 1);
      clearLongTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      reject(err);
    };
    const onAbort = () => leave(abortReason(signal!));
    const turn = () => {
      clearLongTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    s.queue.push(turn);
    if (a.w.timeout !== undefined) timer = setLongTimeout(() => leave(timeoutError(a.path, a.w.timeout!)), a.w.timeout);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  // Our turn: s.busy stays true for us.
  const w = {
    ...a.w,
    timeout: a.w.timeout === undefined ? undefined : Math.max(0, a.w.timeout - (Date.now() - start)),
  };
  try {
    if (w.timeout === 0) throw timeoutError(a.path, a.w.timeout!);
    const h = backend().acquire(a.path, a.shared, w, a.f);
    return new PathLock(h instanceof Promise ? await h : h);
  } finally {
    nextWaiter(a.path, s);
  }
}

/**
 * Acquires a lock, blocking the calling thread while it waits (honouring `timeout`).
 * Throws `EDEADLK` instead of hanging when this thread already holds a conflicting lock
 * on `path`. `signal` is not accepted: nothing could abort a blocked thread.
 */
export function lockSync(path: string | Buffer | URL, options?: Omit<LockOptions, 'signal'>): Lock {
  checkLockAccess(path);
  const a = checkLockArgs(path, options);
  if (a.w.signal) throw invalidArgValue('options.signal', a.w.signal, 'is not supported by lockSync');
  const s = paths.get(a.path);
  const conflictsHere = () => !!s && (s.exclusive > 0 || (!a.shared && s.shared > 0));
  return new PathLock(backend().acquireSync(a.path, a.shared, a.w, a.f, conflictsHere));
}

/** Runs `fn` while holding the lock and releases it when `fn` settles, also on throw. */
export async function withLock<T>(
  path: string | Buffer | URL,
  fn: () => T | PromiseLike<T>,
  options?: LockOptions,
): Promise<Awaited<T>> {
  toFunction(fn, 'fn');
  const l = await lock(path, options);
  try {
    return await fn();
  } finally {
    await l.release();
  }
}

/** Whether anyone (any process, thread or call) holds a lock on `path`. Takes nothing. */
export async function isLocked(path: string | Buffer | URL): Promise<boolean> {
  checkAccess('fs.read', path);
  return backend().probe(toPath(path)).state !== 0;
}

/** Who holds the lock on `path` (one of the holders when shared), or undefined. */
export async function lockHolder(path: string | Buffer | URL): Promise<Holder | undefined> {
  checkAccess('fs.read', path);
  const p = backend().probe(toPath(path));
  if (p.state === 0) return undefined;
  return p.holder;
}

export { backendName };
