// The public path-lock API (lock, lockSync, withLock, isLocked, lockHolder) and the Lock
// a holder gets: argument checks, the queue of this thread's waiters per path, and what
// a call does when it finds the lock held by this thread or its own async context (the
// state: lib/locks/path-state.ts); the backend (lib/locks/backends.ts) takes the lock.
// Descriptor locks: lib/locks/fd-locks.ts; the fslock command's hooks: cli-hooks.ts.
import {
  type CheckedWait,
  type FsPath,
  type WaitOptions,
  displayPath,
  pathKey,
  toBool,
  toFsPath,
  toFunction,
  toInteger,
  toOptions,
  toWait,
} from '../common/args';
import { backendName } from '../native/binding';
import { type LongTimer, clearLongTimeout, setLongTimeout } from '../common/long-timer';
import { abortReason, deadlockError, invalidArgValue, lockLostError, outOfRange, timeoutError } from '../common/errors';
import type { Holder, WaitInfo } from '../common/holder';
import { toName } from '../common/holder-name';
import { debugOn, lockTraced, releaseChannel, released, waitWatched, waiting } from '../common/diagnostics';
import { type Traced, logged, loggedSync, traceLock, traceLockSync } from './lock-trace';
import type { BusyHooks, FileOptions, Held } from '../protocol/lock-backend';
import { DEFAULT_LEASE_MS, MIN_LEASE_MS, staleHolder } from '../protocol/record';
import { readLockFile } from '../protocol/lockfile';
import { backend } from './backends';
import { checkAccess, checkLockAccess } from '../common/permission';
import { explainDirError, explainDirErrorSync, makeParents, makeParentsSync } from '../common/dirs';
import {
  type Copy,
  type Hold,
  type Scope,
  type ScopeEntry,
  addHold,
  currentScope,
  dropHold,
  fdLocks,
  holdsOn,
  fdLocksOn,
  kernelWait,
  kernelWaiting,
  nextWaiter,
  otherCopies,
  queueOf,
  runHolding,
  scopeHold,
  setIdentify,
  threadHolds,
} from './path-state';
import { native } from './backends';

export type { Holder, WaitInfo } from '../common/holder';
export type { WaitOptions } from '../common/args';

/** Options of {@link lock}, {@link lockSync} and {@link withLock}. */
export interface LockOptions extends WaitOptions {
  /** Take a shared (read) lock: it excludes only exclusive holders. Default `false`. */
  shared?: boolean;
  /**
   * Leave the lock file in place after release. Native backend: default `true`, as
   * flock(1), cargo, uv and Python's filelock do — other programs lock the same file
   * without checking, after their lock is granted, that the name still names the file
   * they locked, so removing it could let one of them hold the removed file while
   * another process holds the new one. `false` removes a lock file fslock created when
   * no one else holds it: safe only when every program that locks this file is fslock
   * (which re-checks). Fallback backend: default `false` (it takes no kernel lock
   * another program could wait on, and another user could not take over a kept file in
   * a sticky directory such as /tmp). On network and FUSE filesystems lock files always
   * stay.
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
  /**
   * Nest in a lock the calling async context already holds (a withLock callback, or
   * what it started: see docs/path-locks.md, "Nesting"): granted at once, sharing that lock, which
   * is released when the last Lock sharing it is. Without it such a call fails at once
   * with `EDEADLK` (it would wait for itself). An exclusive lock inside a shared one
   * is always refused. Default `false`.
   */
  reentrant?: boolean;
  /**
   * Create the lock file's directory, and its missing parents, when it does not exist
   * (like `mkdir -p`: mode `0o777` minus the umask). Default `false`: `ENOENT`, whose
   * message names the missing directory.
   */
  createParents?: boolean;
  /**
   * The holder name this lock's record gives, which `lockHolder()`, error messages,
   * wait callbacks and `fslock -H` of other processes show ("held by pid 4121 (jest)"):
   * 1 to 64 characters, no control characters. Default: the program's `process.title`
   * when it set one (not on Windows), else the script it runs — the command a package
   * installs it as (`jest` for `node …/node_modules/jest/bin/jest.js`), else its file
   * name (`build.js`); none for `node -e` and the REPL.
   */
  name?: string;
}

/** A held lock. Release it with `release()`, `releaseSync()`, or `await using`. */
export interface Lock extends AsyncDisposable, Disposable {
  /**
   * The lock file (absolute). For a Buffer path that is not valid UTF-8 this shows its
   * bytes as UTF-8 with U+FFFD for each bad byte (as node:fs error messages do); the
   * lock itself is on the exact bytes.
   */
  readonly path: string;
  readonly shared: boolean;
  readonly released: boolean;
  /**
   * Aborts (reason: an error with code `ELOCKLOST`) the moment this holder can know that
   * its lock was lost — a fallback holder whose lease lapsed and whose lock another host
   * took, or a native lock on NFS or GlusterFS that the server dropped (a restart, a lost
   * connection: checked every 0.5 s while held). Pass it on to the work done under the
   * lock. Kernel locks on local filesystems are never lost.
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
  #hold: Hold | undefined;
  #last: Held;
  #controller: AbortController | undefined;
  /** The withLock callback's scope entry of this Lock (inScopeOf), cleared on release. */
  #entry: ScopeEntry | undefined;
  constructor(hold: Hold) {
    this.#hold = hold;
    this.#last = hold.held;
  }
  get signal(): AbortSignal {
    if (!this.#controller) {
      const c = (this.#controller = new AbortController());
      const h = this.#hold;
      if (this.#last.lost) c.abort(this.#last.lost);
      else if (h) (h.listeners ??= []).push(c);
    }
    return this.#controller.signal;
  }
  get path(): string {
    return this.#last.display;
  }
  get shared(): boolean {
    return this.#last.shared;
  }
  get released(): boolean {
    return this.#hold === undefined;
  }
  releaseSync(): void {
    const h = this.#hold;
    if (!h) return;
    this.#hold = undefined;
    if (this.#entry) this.#entry.hold = undefined;
    if (this.#controller && h.listeners) h.listeners.splice(h.listeners.indexOf(this.#controller) >>> 0, 1);
    // Nested Locks share one backend lock: it goes with the last of them.
    if (--h.count === 0) {
      dropHold(h);
      backend().release(h.held);
      if (h.at !== undefined || releaseChannel.hasSubscribers)
        released(h.held.display, h.held.shared, h.at ?? 0, h.held.lost !== undefined);
    }
    if (h.held.lost) throw lockLostError(h.held.display);
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
  /** The scope entry of a Lock whose withLock callback runs in a scope that holds it. */
  static entryOf(l: PathLock): ScopeEntry | undefined {
    return l.#hold ? (l.#entry ??= { hold: l.#hold }) : undefined;
  }
  static {
    // The fslock command's hooks (lib/locks/cli-hooks.ts) reach the backend's state
    // through this, not through a WeakMap set on every lock (GC work on the hot path).
    heldOfLock = (l) => (l instanceof PathLock ? l.#hold?.held : undefined);
  }
}

/** The backend's state behind a held Lock (undefined once released). Internal. */
export function heldOf(l: Lock): Held | undefined {
  return heldOfLock(l);
}

setIdentify((h) => backend().identify(h));

/** Thrown by LockCall.busy: the call nests in this hold (re-entrant), the backend lets it through. */
class Nest {
  constructor(readonly hold: Hold) {}
}

/**
 * One lock call: its checked arguments, and what it does when an attempt finds the file
 * held (lib/protocol/lock-backend.ts BusyHooks): nest in or refuse its own context's
 * lock, refuse to block this thread on its own lock or its own waiter (lockSync), tell
 * `onWait`. One object per call, and nothing more unless the lock is busy.
 */
class LockCall implements BusyHooks, Traced {
  readonly path: FsPath;
  readonly display: string;
  readonly shared: boolean;
  readonly reentrant: boolean;
  parents: boolean;
  readonly w: CheckedWait;
  readonly f: FileOptions;
  /** The withLock callbacks this call runs in (set when it is made, see lock()). */
  scope: Scope | undefined;
  /** Other copies of fslock in this thread and their scopes here (see path-state.ts). */
  others: Array<[Copy, unknown]> | undefined;
  sync = false;
  /** The hold of a lock the backend granted after a wait (granted()). */
  hold: Hold | undefined;
  /** The call's context on the `fslock:lock` TracingChannel, when traced (lib/locks/lock-trace.ts). */
  trace: Traced['trace'];
  /** When the call first found the lock held (performance.now(); 0: it did not), for the trace. */
  busyAt = 0;
  private told: string | undefined;
  private waitStart = 0;

  constructor(path: unknown, options: unknown) {
    const p = toFsPath(path);
    const o = toOptions<LockOptions>(options);
    const mode = o.mode === undefined ? 0o666 : toInteger(o.mode, 'options.mode', 0);
    if (mode > 0o7777) throw outOfRange('options.mode', 'an integer >= 0 and <= 0o7777', mode);
    const lease = o.lease === undefined ? DEFAULT_LEASE_MS : toInteger(o.lease, 'options.lease', MIN_LEASE_MS);
    this.path = p;
    this.display = displayPath(p);
    this.shared = toBool(o.shared, 'options.shared', false);
    this.reentrant = toBool(o.reentrant, 'options.reentrant', false);
    this.parents = toBool(o.createParents, 'options.createParents', false);
    this.w = toWait(o);
    this.f = {
      keep: o.keep === undefined ? undefined : toBool(o.keep, 'options.keep', true),
      mode,
      lease,
      name: toName(o.name),
    };
  }

  busy(key: string, holder: () => Holder | undefined, willWait: boolean): void {
    const mine = scopeHold(this.scope, key);
    if (mine) {
      if (!this.shared && mine.held.shared) throw deadlockError(this.display, 'upgrade');
      // Shared in shared waits for nothing (the kernel grants it; the fallback, which
      // holds shared locks exclusively, nests it).
      if (this.reentrant || (this.shared && mine.held.shared)) throw new Nest(mine);
      throw deadlockError(this.display, 'context');
    }
    // The fallback takes a shared lock exclusively: within one thread it is shared as
    // the kernel shares it (another thread or process still waits: docs/path-locks.md).
    if (this.shared && backendName === 'fallback') for (const h of holdsOn(key)) if (h.held.shared) throw new Nest(h);
    if (this.others)
      for (const [c, scope] of this.others) {
        const st = c.state(key, scope, this.shared);
        if (st === 'context') throw deadlockError(this.display, 'copy');
        if (st && this.sync && willWait) throw deadlockError(this.display, st);
      }
    if (this.sync && willWait) {
      // lockSync blocks this thread: it would wait for a lock only this thread can
      // release (a path lock, or a descriptor lock on another open of the file), or
      // behind a lock() of this thread whose grant only this thread can take.
      if (threadHolds(key, this.shared)) throw deadlockError(this.display, 'thread');
      if (kernelWaiting(key, this.shared)) throw deadlockError(this.display, 'waiting');
      if (fdLocks.size && native && key && fdLocksOn(key, (fd) => native!.keyOfUserFd(fd)))
        throw deadlockError(this.display, 'descriptor');
    }
    const trace = this.trace;
    if (trace && !willWait) trace.holder = holder(); // for the ELOCKED or ETIMEDOUT it ends with
    if (willWait && this.watched()) this.tell(holder());
  }

  /** Whether anyone hears of this call's waits: onWait, the trace, the wait channel, NODE_DEBUG. */
  watched(): boolean {
    return this.w.onWait !== undefined || this.trace !== undefined || waitWatched();
  }

  /**
   * Tells onWait, the wait channel and NODE_DEBUG who holds the file, unless they were
   * told of that holder last; the trace keeps the holder and when the wait began.
   */
  tell(h: Holder | undefined): void {
    const trace = this.trace;
    if (trace) {
      trace.holder = h;
      this.busyAt ||= performance.now();
    }
    const id = h ? `${h.pid}|${h.hostname}|${h.since?.getTime()}|${h.record}|${h.shared}` : '';
    if (id === this.told) return;
    // One clock read: the first call says waited 0 even when the millisecond turns.
    const now = Date.now();
    if (this.told === undefined) this.waitStart = now;
    this.told = id;
    const info: WaitInfo = { path: this.display, shared: this.shared, holder: h, waited: now - this.waitStart };
    waiting(info);
    this.w.onWait?.(info);
  }

  kernelWait(key: string): () => void {
    // The fallback holds a shared lock exclusively until this thread knows of it.
    return kernelWait(key, this.shared && backendName !== 'fallback');
  }

  granted(held: Held): void {
    this.hold = newHold(held);
  }

  /** The Lock of a grant: its hold if granted() made it, else a new one. */
  lockOf(held: Held): PathLock {
    return new PathLock(this.hold?.held === held ? this.hold : newHold(held));
  }

  /** Tells (as {@link tell}), once, that this call queues behind an earlier lock() of this thread. */
  tellQueued(): void {
    if (!this.watched()) return;
    const p = backend().probe(this.path);
    if (p.state === 0) return; // the call ahead is being granted: this one will find out
    const h = p.holder ?? {
      pid: undefined,
      hostname: undefined,
      since: undefined,
      shared: p.state === 1,
      record: false,
    };
    this.tell(h);
  }
}

function newHold(held: Held): Hold {
  const h = addHold(held);
  if (releaseChannel.hasSubscribers) h.at = performance.now();
  return h;
}

/**
 * A nested lock (LockCall.busy threw Nest) shares its hold; anything else is the call's
 * error. A hold released since (its last Lock went before this settled) is not shared:
 * the call tries again, as a new lock.
 */
function nested(e: unknown, again: () => PathLock | Promise<PathLock>): PathLock | Promise<PathLock> {
  if (!(e instanceof Nest)) throw e;
  if (e.hold.count === 0) return again();
  e.hold.count++;
  return new PathLock(e.hold);
}

/** One acquisition by the backend: the Lock, at once when the first attempt holds it. */
function take(a: LockCall, w: CheckedWait): PathLock | Promise<PathLock> {
  let h: Held | Promise<Held>;
  const again = () => take(a, w);
  try {
    h = backend().acquire(a.path, a.shared, w, a.f, a);
  } catch (e) {
    return nested(e, again);
  }
  return h instanceof Promise
    ? h.then(
        (held) => a.lockOf(held),
        (e) => nested(e, again),
      )
    : a.lockOf(h);
}

/**
 * Acquires a lock on the lock file `path` (created if missing; its directory must
 * exist; a directory is locked as itself). Waits (without blocking the event loop or
 * libuv's threadpool) unless `wait: false` (rejects with `ELOCKED`); `timeout` rejects
 * with `ETIMEDOUT`; an aborted `signal` rejects with its reason. A failed attempt holds
 * nothing. Inside a withLock callback that holds the same file it fails at once with
 * `EDEADLK`, or nests with `reentrant: true`.
 */
export function lock(path: string | Buffer | URL, options?: LockOptions): Promise<Lock> {
  let a: LockCall;
  try {
    checkLockAccess(path);
    a = new LockCall(path, options);
  } catch (e) {
    return Promise.reject(e);
  }
  // Traced or logged calls go through a wrapper (lib/locks/lock-trace.ts); the others pay one check.
  if (lockTraced()) return traceLock(a, lockWith);
  return debugOn ? logged(lockWith(a), a) : lockWith(a);
}

async function lockWith(a: LockCall): Promise<Lock> {
  try {
    if (a.w.signal?.aborted) throw abortReason(a.w.signal);
    const scope = (a.scope = currentScope());
    a.others = otherCopies();
    // Inside a callback that holds locks a call never queues behind this thread's other
    // waiters (one of them may wait for this context's lock): it tries at once, and finds
    // out whether it would wait for its own context.
    if (!a.w.wait || scope?.holds.length) {
      const l = take(a, a.w);
      return l instanceof Promise ? await l : l;
    }
    const queueKey = pathKey(a.path);
    const s = queueOf(queueKey);
    if (!s.busy) {
      // Nobody of this thread is waiting for this path: try at once.
      s.busy = true;
      try {
        const l = take(a, a.w);
        return l instanceof Promise ? await l : l;
      } finally {
        nextWaiter(queueKey, s);
      }
    }
    // Queue behind this thread's earlier waiters for the same path.
    const start = Date.now();
    if (a.trace) a.busyAt ||= performance.now();
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
      a.tellQueued();
      if (a.w.timeout !== undefined)
        timer = setLongTimeout(() => leave(timeoutError(a.display, a.w.timeout!)), a.w.timeout);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    // Our turn: s.busy stays true for us.
    const w = {
      ...a.w,
      timeout: a.w.timeout === undefined ? undefined : Math.max(0, a.w.timeout - (Date.now() - start)),
    };
    try {
      if (w.timeout === 0) throw timeoutError(a.display, a.w.timeout!);
      const l = take(a, w);
      return l instanceof Promise ? await l : l;
    } finally {
      nextWaiter(queueKey, s);
    }
  } catch (e) {
    // Only after a failure: a missing directory is made (createParents) and the call
    // made again, once; otherwise an error the directory causes names it.
    if (a.parents && (await makeParents(e, a.path))) {
      a.parents = false;
      return lockWith(a);
    }
    throw await explainDirError(e, a.path, 'create');
  }
}

/**
 * Acquires a lock, blocking the calling thread while it waits (honouring `timeout`).
 * Throws `EDEADLK` instead of hanging when the lock is held by this thread, or when a
 * `lock()` of this thread is waiting for it. `signal` is not accepted: nothing could
 * abort a blocked thread.
 */
export function lockSync(path: string | Buffer | URL, options?: Omit<LockOptions, 'signal'>): Lock {
  checkLockAccess(path);
  const a = new LockCall(path, options);
  if (a.w.signal) throw invalidArgValue('options.signal', a.w.signal, 'is not supported by lockSync');
  if (lockTraced()) return traceLockSync(a, lockSyncWith);
  return debugOn ? loggedSync(a, lockSyncWith) : lockSyncWith(a);
}

function lockSyncWith(a: LockCall): Lock {
  a.scope = currentScope();
  a.others = otherCopies();
  a.sync = true;
  try {
    for (;;) {
      try {
        return a.lockOf(backend().acquireSync(a.path, a.shared, a.w, a.f, a));
      } catch (e) {
        // A hold this call nests in cannot be released while it runs (nothing else runs).
        if (!(e instanceof Nest)) throw e;
        if (e.hold.count === 0) continue;
        e.hold.count++;
        return new PathLock(e.hold);
      }
    }
  } catch (e) {
    if (a.parents && makeParentsSync(e, a.path)) {
      a.parents = false;
      return lockSyncWith(a);
    }
    throw explainDirErrorSync(e, a.path, 'create');
  }
}

/**
 * Runs `fn` while holding the lock and releases it when `fn` settles, also on throw.
 * `fn` and everything it starts run in an async context that holds the lock: a lock of
 * the same file there fails at once with `EDEADLK` instead of waiting for itself, or
 * nests with `reentrant: true` (docs/path-locks.md, "Nesting").
 */
export async function withLock<T>(
  path: string | Buffer | URL,
  fn: () => T | PromiseLike<T>,
  options?: LockOptions,
): Promise<Awaited<T>> {
  toFunction(fn, 'fn');
  const l = await lock(path, options);
  try {
    return await inScopeOf(l, fn);
  } finally {
    await l.release();
  }
}

/** Runs `fn` in an async context that holds `l` (withLock's callback; update's). Internal. */
export function inScopeOf<T>(l: Lock, fn: () => T): T {
  const e = l instanceof PathLock ? PathLock.entryOf(l) : undefined;
  return e ? runHolding(e, fn) : fn();
}

/** Whether anyone (any process, thread or call, or another program) holds a lock on `path`. Takes nothing. */
export async function isLocked(path: string | Buffer | URL): Promise<boolean> {
  checkAccess('fs.read', path);
  return backend().probe(toFsPath(path)).state !== 0;
}

/** Options of {@link lockHolder}. */
export interface LockHolderOptions {
  /**
   * When nobody holds the lock, return the holder whose record is still in the lock
   * file although it is gone (it crashed or was killed while holding the lock; kept
   * lock files keep such records until the next holder replaces them), with `stale:
   * true`, instead of undefined. Default `false`.
   */
  stale?: boolean;
}

/**
 * Who holds the lock on `path` (one of the holders when shared), or undefined when it
 * is free. A holder that left no record (another program, or a file that is not an
 * fslock lock file) comes back with `record: false` and what the OS tells of it. With
 * `{ stale: true }`, a free lock whose file still names a holder that is gone gives
 * that holder, marked `stale: true` ("not locked; pid 123 (jest) held it and is gone").
 */
export async function lockHolder(
  path: string | Buffer | URL,
  options?: LockHolderOptions,
): Promise<Holder | undefined> {
  checkAccess('fs.read', path);
  const p = toFsPath(path);
  const stale = toBool(toOptions<LockHolderOptions>(options).stale, 'options.stale', false);
  let probe = backend().probe(p);
  if (probe.state === 0) {
    if (!stale) return undefined;
    const text = readLockFile(p);
    const h = text === undefined ? undefined : staleHolder(text);
    if (!h) return undefined;
    // Read without taking the lock: a holder that took it meanwhile is who holds it.
    probe = backend().probe(p);
    if (probe.state === 0) return h;
  }
  return (
    probe.holder ?? { pid: undefined, hostname: undefined, since: undefined, shared: probe.state === 1, record: false }
  );
}

export { backendName };
