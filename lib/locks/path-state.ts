// This JS thread's path locks (lib/locks/locks.ts): what it holds, per file; its waiters
// per path string, in FIFO order, of which only the head waits on the OS (64 waiters
// cost one blocked thread, not 64, and are served in order); and the async contexts
// (withLock callbacks) that hold locks, so that a lock call inside one never waits for
// the lock its own context holds.
//
// A lock is its file: what is held is keyed by the file's identity (device and inode,
// or volume and file index), which every name of the file shares — a symlinked
// directory, a hard link, another case or short name on Windows.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Held } from '../protocol/lock-backend';
import { lost } from '../common/diagnostics';
import { fdHoldsLock } from '../common/proc-locks';

/** A lock this thread holds: one backend lock, shared by the Locks nested in it. */
export interface Hold {
  readonly held: Held;
  /** The file's identity, learnt when first needed (identify()). */
  key: string | undefined;
  /** The Locks that share it (re-entrant nesting); the backend lock goes with the last. */
  count: number;
  /** AbortControllers of Locks whose `signal` was asked for: aborted if the lock is lost. */
  listeners: AbortController[] | undefined;
  /** When it was granted (performance.now()), set only while fslock:lock:release has subscribers. */
  at?: number;
}

/**
 * This thread's holds. Their identities are only compared when another lock call of
 * this thread finds a file busy, so a grant costs no identity string and no map.
 */
const holds = new Set<Hold>();
/** lock() calls of this thread waiting on a waiter thread, per file (native): [all, exclusive]. */
const kernelWaits = new Map<string, [number, number]>();
let identify: (h: Held) => string = () => '';

/** How a hold's identity is learnt (the backend's; lib/locks/locks.ts sets it). */
export function setIdentify(fn: (h: Held) => string): void {
  identify = fn;
}

export function addHold(held: Held): Hold {
  const h: Hold = { held, key: held.key, count: 1, listeners: undefined };
  held.onLost = (err) => {
    lost(held.display, held.shared, err);
    for (const c of h.listeners ?? []) c.abort(err);
  };
  holds.add(h);
  return h;
}

export function dropHold(h: Hold): void {
  holds.delete(h);
}

/** This thread's holds on the file `key`. */
export function holdsOn(key: string): Hold[] {
  const found: Hold[] = [];
  for (const h of holds) if ((h.key ??= identify(h.held)) === key) found.push(h);
  return found;
}

/**
 * Whether a lock() call of this thread waits in the kernel for the file `key` in a mode
 * that conflicts with `shared` (its grant could block a request in that mode).
 */
export function kernelWaiting(key: string, shared: boolean): boolean {
  const n = kernelWaits.get(key);
  return n !== undefined && (shared ? n[1] > 0 : n[0] > 0);
}

/** Counts a kernel wait of this thread on `key`; the returned function ends it. */
export function kernelWait(key: string, shared: boolean): () => void {
  if (!key) return () => {};
  let n = kernelWaits.get(key);
  if (!n) kernelWaits.set(key, (n = [0, 0]));
  n[0]++;
  if (!shared) n[1]++;
  return () => {
    n[0]--;
    if (!shared) n[1]--;
    if (n[0] === 0 && kernelWaits.get(key) === n) kernelWaits.delete(key);
  };
}

/** Whether this thread holds the file `key` in a mode that conflicts with `shared`. */
export function threadHolds(key: string, shared: boolean): boolean {
  return holdsOn(key).some((h) => !shared || !h.held.shared);
}

// ---- descriptor locks of this thread ------------------------------------------------

/**
 * Descriptors this thread took a flock/lockRange lock on (lib/locks/fd-locks.ts), until
 * it unlocks them with flock(fd, 'unlock') (then false). A blocking call of this thread
 * that finds their file busy would wait for itself. A descriptor closed without
 * unlocking stays listed: Linux's fdinfo shows whether its number still holds a lock
 * (the value is ''); elsewhere the value is the file's identity when it was locked, and
 * a number now naming another file is dropped (one reused for the same file counts as
 * locked: at worst a blocking call is refused with EDEADLK instead of waiting). A Map
 * updated in place: adding and deleting Set entries on every lock/unlock pair cost
 * 0.5 µs of a 3.3 µs pair.
 */
export const fdLocks = new Map<number, string | false>();

/** Whether a descriptor of this thread other than `except` holds a lock on the file `key`. */
export function fdLocksOn(key: string, identifyFd: (fd: number) => string, except = -1): boolean {
  for (const [fd, at] of fdLocks) {
    if (at === false || fd === except) continue;
    const held = at === '' ? fdHoldsLock(fd) : undefined;
    const now = held === false ? '' : identifyFd(fd);
    if (held === false || (at !== '' && at !== now)) fdLocks.delete(fd);
    else if (now === key) return true;
  }
  return false;
}

// ---- other copies of fslock in this thread ------------------------------------------

/**
 * Another copy of fslock loaded in this thread (npm installs a package twice when two
 * dependencies want different versions): each keeps its own state, so each copy lists
 * itself on globalThis and asks the others before it waits. The shape is versioned by
 * the symbol's name; keys are fileKey() strings.
 */
export interface Copy {
  /** This copy's async-context store where it is called (opaque to the others). */
  scope(): unknown;
  /**
   * Whether this copy would make a request in mode `shared` on file `key` wait for
   * itself: 'context' (the async context `scope` holds it), 'thread' (this thread holds
   * it), 'waiting' (a lock() of this thread waits for it), or undefined.
   */
  state(key: string, scope: unknown, shared: boolean): 'context' | 'thread' | 'waiting' | undefined;
}
const registry: WeakRef<Copy>[] = ((globalThis as Record<symbol, WeakRef<Copy>[]>)[
  Symbol.for('fslock.thread-state.v1')
] ??= []);
const self: Copy = {
  scope: () => scopes.getStore(),
  state(key, scope, shared) {
    const h = scopeHold(scope as Scope | undefined, key);
    if (h && (!shared || !h.held.shared)) return 'context';
    if (threadHolds(key, shared)) return 'thread';
    return kernelWaiting(key, shared) ? 'waiting' : undefined;
  },
};

/** The other copies and their async-context stores now, or undefined when this copy is alone (no cost). */
export function otherCopies(): Array<[Copy, unknown]> | undefined {
  if (registry.length === 1) return undefined;
  const found: Array<[Copy, unknown]> = [];
  for (let i = registry.length - 1; i >= 0; i--) {
    const c = registry[i].deref();
    if (!c) registry.splice(i, 1);
    else if (c !== self) found.push([c, c.scope()]);
  }
  return found.length ? found : undefined;
}

// ---- the FIFO of this thread's waiters per path string ----------------------------

export interface PathQueue {
  queue: Array<() => void>;
  /** A waiter is at the head (waiting on the OS, or about to). */
  busy: boolean;
}
export const queues = new Map<string, PathQueue>();

export function queueOf(path: string): PathQueue {
  let s = queues.get(path);
  if (!s) queues.set(path, (s = { queue: [], busy: false }));
  return s;
}

export function forgetQueue(path: string, s: PathQueue): void {
  if (!s.busy && !s.queue.length) queues.delete(path);
}

export function nextWaiter(path: string, s: PathQueue): void {
  const next = s.queue.shift();
  if (next) next();
  else {
    s.busy = false;
    forgetQueue(path, s);
  }
}

// ---- async contexts that hold locks -------------------------------------------------

/**
 * The holds of the withLock callbacks the current code runs in (innermost last):
 * AsyncLocalStorage carries them into everything the callback starts — awaited calls,
 * promises, timers, event handlers created there — and nowhere else. Only withLock
 * (and update) enter a scope, so code that never calls them pays nothing; a lock()
 * outside any callback is not part of a context (see docs/path-locks.md, "Nesting").
 */
export interface Scope {
  readonly holds: readonly ScopeEntry[];
}
/** The lock of one withLock callback: `hold` is cleared when that Lock is released. */
export interface ScopeEntry {
  hold: Hold | undefined;
}
const scopes = new AsyncLocalStorage<Scope>();
registry.push(new WeakRef(self));

export function currentScope(): Scope | undefined {
  return scopes.getStore();
}

/** Runs `fn` in a scope that holds `e` besides what the current one still holds. */
export function runHolding<T>(e: ScopeEntry, fn: () => T): T {
  const parent = scopes.getStore();
  const holds = parent ? parent.holds.filter((x) => x.hold !== undefined) : [];
  holds.push(e);
  return scopes.run({ holds }, fn);
}

/**
 * A hold on the file `key` of a withLock callback `scope` runs in whose Lock is not
 * released, if any. Another Lock sharing that hold (a nested one, or one of this thread
 * the fallback shares a shared lock with) does not keep it in the scope.
 */
export function scopeHold(scope: Scope | undefined, key: string): Hold | undefined {
  if (!scope || !key) return undefined;
  for (let i = scope.holds.length - 1; i >= 0; i--) {
    const h = scope.holds[i].hold;
    if (h && h.count > 0 && (h.key ??= identify(h.held)) === key) return h;
  }
  return undefined;
}
