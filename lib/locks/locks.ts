// The public lock API: path locks (lock, lockSync, withLock, isLocked, lockHolder) and
// descriptor locks (flock, lockRange, unlockRange and their Sync forms).
import {
  type CheckedWait,
  type WaitOptions,
  toFd,
  toFunction,
  toInteger,
  toOptions,
  toPath,
  toWait,
  toBool,
} from '../common/args';
import { LockType, WaitKind, backendName, binding } from '../native/binding';
import { type LongTimer, clearLongTimeout, setLongTimeout, waitChunk } from './long-timer';
import {
  abortReason,
  invalidArgValue,
  lockLostError,
  lockedError,
  notSupportedError,
  osError,
  outOfRange,
  timeoutError,
} from '../common/errors';
import type { FileOptions, Held, PathLockBackend } from './lock-backend';
import { DEFAULT_LEASE_MS, MIN_LEASE_MS } from './record';
import { NativeLocks, isWouldBlock } from '../native/native-locks';
import type { Holder } from './record';

export type { Holder } from './record';
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

const native = binding ? new NativeLocks(binding) : undefined;
let fallbackBackend: PathLockBackend | undefined;

function backend(): PathLockBackend {
  if (native) return native;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  fallbackBackend ??= (require('../fallback/fallback-paths') as { fallbackLocks: PathLockBackend }).fallbackLocks;
  return fallbackBackend;
}

// ---- this thread's holders and waiters, per path -----------------------------------
// Each JS thread keeps its waiters for a path in FIFO order and lets only the head
// wait on the OS: 64 waiters cost one blocked thread, not 64, and are served in order.

interface PathState {
  exclusive: number;
  shared: number;
  queue: Array<() => void>;
  /** A waiter is at the head (waiting on the OS, or about to). */
  busy: boolean;
}
const paths = new Map<string, PathState>();

function stateOf(path: string): PathState {
  let s = paths.get(path);
  if (!s) paths.set(path, (s = { exclusive: 0, shared: 0, queue: [], busy: false }));
  return s;
}

function forget(path: string, s: PathState): void {
  if (!s.exclusive && !s.shared && !s.busy && !s.queue.length) paths.delete(path);
}

function nextWaiter(path: string, s: PathState): void {
  const next = s.queue.shift();
  if (next) next();
  else {
    s.busy = false;
    forget(path, s);
  }
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

class PathLock implements Lock {
  #held: Held | undefined;
  #lost: Error | undefined;
  #controller: AbortController | undefined;
  constructor(held: Held) {
    this.#held = held;
    heldOf.set(this, held); // CLI hook, see the end of this file
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
  const a = checkLockArgs(path, options);
  if (a.w.signal?.aborted) throw abortReason(a.w.signal);
  const s = stateOf(a.path);
  if (!a.w.wait || !s.busy) {
    // Nobody of this thread is waiting for this path: try at once.
    if (a.w.wait) s.busy = true;
    try {
      return new PathLock(await backend().acquire(a.path, a.shared, a.w, a.f));
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
    return new PathLock(await backend().acquire(a.path, a.shared, w, a.f));
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
  return backend().probe(toPath(path)).state !== 0;
}

/** Who holds the lock on `path` (one of the holders when shared), or undefined. */
export async function lockHolder(path: string | Buffer | URL): Promise<Holder | undefined> {
  const p = backend().probe(toPath(path));
  if (p.state === 0) return undefined;
  return p.holder;
}

// ---- descriptor locks --------------------------------------------------------------

export type FlockMode = 'exclusive' | 'shared' | 'unlock';

function toMode(mode: unknown): LockType {
  if (mode === 'exclusive') return LockType.Exclusive;
  if (mode === 'shared') return LockType.Shared;
  if (mode === 'unlock') return LockType.Unlock;
  throw invalidArgValue('mode', mode, "must be 'exclusive', 'shared' or 'unlock'");
}

function nativeOnly(syscall: string) {
  if (!native)
    throw notSupportedError(syscall, 'descriptor locks need the native backend (fslock.backend is "fallback")');
  return { n: native, b: binding! };
}

/** Gives an fd lock request that would block: ELOCKED, ETIMEDOUT, or a wait. */
async function waitFd(
  kind: WaitKind,
  fd: number,
  type: LockType,
  start: number,
  length: number,
  w: CheckedWait,
  syscall: string,
): Promise<void> {
  const { n, b } = nativeOnly(syscall);
  if (!w.wait) throw lockedError(`fd ${fd}`);
  if (w.timeout === 0) throw timeoutError(`fd ${fd}`, 0);
  const deadline = w.timeout === undefined ? undefined : Date.now() + w.timeout;
  const o = await n.wait(kind, fd, type, start, length, deadline, w.signal, () => timeoutError(`fd ${fd}`, w.timeout!));
  if (o.cancelled !== undefined) {
    // Granted just as it was cancelled: undo, so that a cancelled call holds nothing.
    if (o.result === 0) {
      if (kind === WaitKind.Flock) b.flock(fd, LockType.Unlock, false);
      else b.lockRange(fd, LockType.Unlock, start, length, false);
    }
    throw o.cancelled;
  }
  if (o.result < 0) throw osError(o.result, o.syscall);
}

function waitFdSync(kind: WaitKind, fd: number, type: LockType, start: number, length: number, w: CheckedWait): void {
  const { b } = nativeOnly(kind === WaitKind.Flock ? 'flock' : 'fcntl');
  if (!w.wait) throw lockedError(`fd ${fd}`);
  if (w.signal) throw invalidArgValue('options.signal', w.signal, 'is not supported by the Sync forms');
  const deadline = w.timeout === undefined ? undefined : Date.now() + w.timeout;
  let r: number;
  do r = b.waitSync(kind, fd, type, start, length, waitChunk(deadline));
  while (r === b.INTERRUPTED && Date.now() < deadline!);
  if (r === b.INTERRUPTED) throw timeoutError(`fd ${fd}`, w.timeout!);
  if (r < 0) throw osError(r, b.lastSyscall());
}

function checkFlock(fd: unknown, mode: unknown, options: unknown) {
  const f = toFd(fd);
  const type = toMode(mode);
  return { fd: f, type, w: toWait(toOptions<WaitOptions>(options)) };
}

/**
 * `flock(2)` on a descriptor (Windows: LockFileEx on a region past any data). Locks
 * belong to the open file description: another `open()` of the same file conflicts.
 */
export async function flock(fd: number, mode: FlockMode, options?: WaitOptions): Promise<void> {
  const a = checkFlock(fd, mode, options);
  const { b } = nativeOnly('flock');
  if (a.w.signal?.aborted) throw abortReason(a.w.signal);
  const r = b.flock(a.fd, a.type, false);
  if (r === 0) return;
  if (a.type === LockType.Unlock || !isWouldBlock(r)) throw osError(r, b.lastSyscall());
  await waitFd(WaitKind.Flock, a.fd, a.type, 0, 0, a.w, 'flock');
}

/** Synchronous {@link flock}; blocks the thread while waiting (honours `timeout`). */
export function flockSync(fd: number, mode: FlockMode, options?: Omit<WaitOptions, 'signal'>): void {
  const a = checkFlock(fd, mode, options);
  const { b } = nativeOnly('flock');
  const r = b.flock(a.fd, a.type, false);
  if (r === 0) return;
  if (a.type === LockType.Unlock || !isWouldBlock(r)) throw osError(r, b.lastSyscall());
  waitFdSync(WaitKind.Flock, a.fd, a.type, 0, 0, a.w);
}

/** Byte range of {@link lockRange} / {@link unlockRange}. `length: 0` means "to the end, however far it grows". */
export interface RangeOptions {
  start: number;
  length: number;
}
export interface LockRangeOptions extends RangeOptions, WaitOptions {
  shared?: boolean;
}

const noWait: CheckedWait = { wait: false, timeout: undefined, signal: undefined };

function checkRange(fd: unknown, options: unknown, locking: boolean) {
  const f = toFd(fd);
  if (options === undefined || options === null)
    throw invalidArgValue('options', options, 'must give start and length');
  const o = toOptions<LockRangeOptions>(options);
  const start = toInteger(o.start, 'options.start', 0);
  const length = toInteger(o.length, 'options.length', 0);
  if (!locking) return { fd: f, start, length, type: LockType.Unlock, w: noWait };
  const type = toBool(o.shared, 'options.shared', false) ? LockType.Shared : LockType.Exclusive;
  return { fd: f, start, length, type, w: toWait(o) };
}

/** Locks a byte range (Linux: open-file-description lock; Windows: LockFileEx, mandatory). */
export async function lockRange(fd: number, options: LockRangeOptions): Promise<void> {
  const a = checkRange(fd, options, true);
  const { b } = nativeOnly('fcntl');
  if (a.w.signal?.aborted) throw abortReason(a.w.signal);
  const r = b.lockRange(a.fd, a.type, a.start, a.length, false);
  if (r === 0) return;
  if (!isWouldBlock(r)) throw osError(r, b.lastSyscall());
  await waitFd(WaitKind.Range, a.fd, a.type, a.start, a.length, a.w, 'fcntl');
}

export function lockRangeSync(fd: number, options: Omit<LockRangeOptions, 'signal'>): void {
  const a = checkRange(fd, options, true);
  const { b } = nativeOnly('fcntl');
  const r = b.lockRange(a.fd, a.type, a.start, a.length, false);
  if (r === 0) return;
  if (!isWouldBlock(r)) throw osError(r, b.lastSyscall());
  waitFdSync(WaitKind.Range, a.fd, a.type, a.start, a.length, a.w);
}

export async function unlockRange(fd: number, options: RangeOptions): Promise<void> {
  unlockRangeSync(fd, options);
}

export function unlockRangeSync(fd: number, options: RangeOptions): void {
  const a = checkRange(fd, options, false);
  const { b } = nativeOnly('fcntl');
  const r = b.lockRange(a.fd, LockType.Unlock, a.start, a.length, false);
  if (r < 0) throw osError(r, b.lastSyscall());
}

export { backendName };

// ---- internal hooks for the fslock command (lib/cli.ts) -----------------------------
// Not part of the public API (lib/index.ts does not export them). The command hands
// its lock to the command it runs, as flock(1) does, so that the lock lives as long as
// either of them: issue 14, item 5.

import * as fs from 'node:fs';
import { hostname as thisHost } from './record';

const heldOf = new WeakMap<Lock, Held>();

/**
 * The descriptor that holds a native path lock (POSIX: the fd whose open file
 * description carries the OFD / flock(2) lock), or undefined: fallback backend,
 * Windows (a LockFileEx lock belongs to the process that took it and cannot be
 * handed over), or released. A child process that inherits it (as a stdio entry of
 * spawn) shares the lock: it stays held until both have closed it.
 */
export function lockDescriptor(l: Lock): number | undefined {
  const h = heldOf.get(l) as (Held & { fd?: unknown; handedOut?: boolean }) | undefined;
  if (!h || l.released || !native || process.platform === 'win32' || typeof h.fd !== 'number') return undefined;
  h.handedOut = true; // release unlocks before closing: the child's copy must not keep it
  return h.fd;
}

/**
 * Fallback backend: makes process `pid` (of this host) a co-holder of the held lock
 * `l` by appending a record line naming it (same mode, its own id) to the lock file,
 * so that the lock stays held while `pid` lives even after this process died (records
 * of one host are live while their pid is). release() removes the whole file, this
 * record included. Returns false (and does nothing) on the native backend or when the
 * file at the path is no longer this lock's.
 */
export function adoptHolder(l: Lock, pid: number): boolean {
  const h = heldOf.get(l) as (Held & { id?: unknown; ino?: unknown; fd?: unknown }) | undefined;
  if (!h || l.released || native || typeof h.id !== 'string' || typeof h.fd !== 'number') return false;
  const line = `${JSON.stringify({
    v: 1,
    id: `${h.id}.${pid}`,
    backend: 'fallback',
    mode: h.shared ? 'shared' : 'exclusive',
    pid,
    hostname: thisHost,
    since: Date.now(),
  })}\n`;
  // Through the held inode's own descriptor: never whatever the path names now.
  const st = fs.fstatSync(h.fd);
  if (st.nlink === 0 || st.ino !== h.ino) return false;
  fs.writeSync(h.fd, line, st.size);
  return true;
}
// ---- end of the CLI hooks -----------------------------------------------------------
