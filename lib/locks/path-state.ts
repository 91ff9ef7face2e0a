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
/** lock() calls of this thread waiting on a waiter thread, per file (native). */
const kernelWaits = new Map<string, number>();
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

/** Whether a lock() call of this thread waits in the kernel for the file `key`. */
export function kernelWaiting(key: string): boolean {
  return (kernelWaits.get(key) ?? 0) > 0;
}

/** Counts a kernel wait of this thread on `key`; the returned function ends it. */
export function kernelWait(key: string): () => void {
  if (!key) return () => {};
  kernelWaits.set(key, (kernelWaits.get(key) ?? 0) + 1);
  return () => {
    const n = (kernelWaits.get(key) ?? 1) - 1;
    if (n > 0) kernelWaits.set(key, n);
    else kernelWaits.delete(key);
  };
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
  readonly holds: readonly Hold[];
}
const scopes = new AsyncLocalStorage<Scope>();

export function currentScope(): Scope | undefined {
  return scopes.getStore();
}

/** Runs `fn` in a scope that holds `h` besides what the current one still holds. */
export function runHolding<T>(h: Hold, fn: () => T): T {
  const parent = scopes.getStore();
  const holds = parent ? parent.holds.filter((x) => x.count > 0 && x !== h) : [];
  holds.push(h);
  return scopes.run({ holds }, fn);
}

/** A hold of the current scope on the file `key` that is still held, if any. */
export function scopeHold(scope: Scope | undefined, key: string): Hold | undefined {
  if (!scope || !key) return undefined;
  for (let i = scope.holds.length - 1; i >= 0; i--) {
    const h = scope.holds[i];
    if (h.count > 0 && (h.key ??= identify(h.held)) === key) return h;
  }
  return undefined;
}
