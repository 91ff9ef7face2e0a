// What fslock tells tools and people that watch it (docs/diagnostics.md): events on
// node:diagnostics_channel — a stable API, names and payloads documented below — and
// `NODE_DEBUG=fslock` lines. Nothing here costs anything when nobody listens: every
// publisher checks `hasSubscribers` (or the debug flag) before it builds a payload.
import * as dc from 'node:diagnostics_channel';
import { hostname } from 'node:os';
import { debuglog } from 'node:util';
import type { Holder, WaitInfo } from './holder';

/**
 * The context object of a path-lock call on the `fslock:lock` TracingChannel
 * (`tracing:fslock:lock:start`, `:end`, `:asyncStart`, `:asyncEnd`, `:error`). The same
 * object goes through every event of one call: `waited` and `holder` are filled in by
 * `end` (lockSync) or `asyncStart` (lock), Node sets `result` (the Lock) or `error`.
 */
export interface LockMessage {
  /** The lock path, as shown in messages and `Lock.path`. */
  path: string;
  mode: 'exclusive' | 'shared';
  /** `true` for lockSync (start, end, error), `false` for lock() (start, end, asyncStart, asyncEnd, error). */
  sync: boolean;
  /** The call's `wait` option: `false` gives up at once with `ELOCKED`. */
  wait: boolean;
  /** Milliseconds from the call's start until it settled, when it found the lock held; 0 when it did not. */
  waited: number;
  /** The last holder it found (undefined: none, or it could not be read). */
  holder: Holder | undefined;
  /** Set by Node on success: the Lock. */
  result?: unknown;
  /** Set by Node on failure: the error (ELOCKED, ETIMEDOUT, EDEADLK, an abort reason, an OS error). */
  error?: unknown;
}

/** `fslock:lock:release`: a held path lock was released (the last Lock sharing it, for nested ones). */
export interface ReleaseMessage {
  path: string;
  mode: 'exclusive' | 'shared';
  /** Milliseconds it was held; undefined when nobody subscribed to this channel at the grant. */
  held: number | undefined;
  /** Whether the lock had been lost before (release then rejects with `ELOCKLOST`). */
  lost: boolean;
}

/** `fslock:lock:lost`: a held lock was lost (`Lock.signal` aborts with `error`, code `ELOCKLOST`). */
export interface LostMessage {
  path: string;
  mode: 'exclusive' | 'shared';
  error: Error;
}

/** `fslock:write`: an atomic write (writeFileAtomic, createExclusive, update, and their Sync forms) ended. */
export interface WriteMessage {
  /** The target path. */
  path: string;
  /** Bytes written; undefined for data given as (async) chunks. */
  bytes: number | undefined;
  /** `'tmpfile'`: an unnamed O_TMPFILE file (Linux, native); `'named'`: a named temp file beside the target. */
  strategy: 'tmpfile' | 'named';
  /** How it became visible: `'rename'` (replace), `'link'` (exclusive create), `'rename-noreplace'` (exclusive create without hard links). */
  commit: 'rename' | 'link' | 'rename-noreplace';
  /** Whether the data and the directory were flushed (`options.fsync`). */
  fsync: boolean;
  /** Milliseconds the write took, flushes and retries included (with fsync, mostly the flushes). */
  duration: number;
  /** The error it failed with; undefined when it succeeded. */
  error: unknown;
}

/**
 * Why an operation was tried again (`fslock:retry`):
 * - `'gone'`: the lock file was removed or replaced under the call (a releasing holder
 *   removed it, another client replaced it: `ESTALE`, `ENOENT`); the lock is tried anew.
 * - `'reclaim'`: a fallback holder's record was left by a process that is gone; the
 *   lock file is taken over (`holder`: the one that left it).
 * - `'busy'`: Windows refused a replace for a moment (a sharing violation from a virus
 *   scanner, an indexer or a reader: `EBUSY`, `EPERM`, `EACCES`), or another program
 *   has the lock file open without sharing it; retried with backoff.
 */
export type RetryReason = 'gone' | 'reclaim' | 'busy';

/** `fslock:retry`: a lock or write attempt is repeated. */
export interface RetryMessage {
  path: string;
  /** `'lock'` or `'write'`. */
  op: 'lock' | 'write';
  reason: RetryReason;
  /** The error code behind it, when there was one (`ESTALE`, `EBUSY`…). */
  code: string | undefined;
  /** For `'reclaim'`: the holder whose record was stale. */
  holder: Holder | undefined;
}

/** The channel names, part of the public API (docs/diagnostics.md). */
export const channels = Object.freeze({
  /** TracingChannel of path-lock calls (lock, lockSync; withLock and update call lock). */
  lock: 'fslock:lock',
  /** A call has to wait (the payload of `onWait`, {@link WaitInfo}): path and descriptor locks. */
  wait: 'fslock:lock:wait',
  release: 'fslock:lock:release',
  lost: 'fslock:lock:lost',
  write: 'fslock:write',
  retry: 'fslock:retry',
} as const);

export const lockTrace = dc.tracingChannel<unknown, LockMessage & object>(channels.lock);
const waitChannel = dc.channel(channels.wait);
export const releaseChannel = dc.channel(channels.release);
const lostChannel = dc.channel(channels.lost);
const writeChannel = dc.channel(channels.write);
const retryChannel = dc.channel(channels.retry);

/**
 * Whether anyone subscribed to `fslock:lock`. TracingChannel.hasSubscribers came with
 * Node 20.13; its five channels answer on every version.
 */
export function lockTraced(): boolean {
  return (
    lockTrace.start.hasSubscribers ||
    lockTrace.end.hasSubscribers ||
    lockTrace.asyncStart.hasSubscribers ||
    lockTrace.asyncEnd.hasSubscribers ||
    lockTrace.error.hasSubscribers
  );
}

const host = hostname();

// ---- NODE_DEBUG=fslock --------------------------------------------------------------

const log = debuglog('fslock');
/** NODE_DEBUG names fslock (read once: Node reads NODE_DEBUG at start-up too). */
export const debugOn: boolean = log.enabled;
/** One `FSLOCK <pid>: ...` line on stderr (call only when {@link debugOn}). */
export const debug: (format: string, ...args: unknown[]) => void = log;

function time(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const today = new Date().toDateString() === d.toDateString();
  const clock = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return today ? clock : `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${clock}`;
}

/**
 * A holder as a person reads it: "pid 4121 (jest) on build-7 since 12:01:33" (local
 * time; the date too when not today), "this process (pid 4121) since …", or "pid 77
 * (flock) on build-7, which left no record".
 */
export function holderPhrase(h: Holder): string {
  const self = h.pid === process.pid && h.hostname === host;
  const who = self
    ? `this process (pid ${h.pid})`
    : h.pid === undefined
      ? 'a process'
      : `pid ${h.pid}${h.name ? ` (${h.name})` : ''}`;
  const where = h.hostname === undefined || self ? '' : ` on ${h.hostname}`;
  if (!h.record) return `${who}${where}, which left no record (a program that takes the kernel lock only)`;
  return `${who}${where}${h.since && !Number.isNaN(h.since.getTime()) ? ` since ${time(h.since)}` : ''}`;
}

// ---- publishers (each checks for listeners before it builds anything) ---------------

/** A call has to wait, or the holder it waits for changed: the wait channel and the debug line. */
export function waiting(info: WaitInfo): void {
  if (waitChannel.hasSubscribers) waitChannel.publish(info);
  if (debugOn) {
    const what = info.path === undefined ? `fd ${info.fd}` : `'${info.path}'`;
    const who = info.holder ? holderPhrase(info.holder) : 'a holder that cannot be seen';
    debug(
      '%s %s: %s %s%s',
      info.shared ? 'shared' : 'exclusive',
      what,
      info.waited ? 'still waiting, now for' : 'waiting for',
      who,
      info.waited ? ` (waited ${info.waited} ms)` : '',
    );
  }
}

/**
 * NODE_DEBUG: a grant, and what becomes of the lock file it holds (the backends'
 * choice): someone else's file locked as it is, or fslock's own, kept or removed.
 */
export function acquiredFile(path: string, shared: boolean, ours: boolean, remove: boolean, keep?: boolean): void {
  const what = !ours
    ? "not fslock's lock file: locked as it is, never written or removed"
    : remove
      ? 'lock file removed at release'
      : keep === false
        ? 'lock file kept at release although keep: false (a shared filesystem: other clients may have it open)'
        : 'lock file kept at release';
  debug("%s '%s': acquired; %s", shared ? 'shared' : 'exclusive', path, what);
}

/** Whether {@link waiting} has anyone to tell. */
export function waitWatched(): boolean {
  return debugOn || waitChannel.hasSubscribers;
}

export function lost(path: string, shared: boolean, error: Error): void {
  if (lostChannel.hasSubscribers) lostChannel.publish({ path, mode: shared ? 'shared' : 'exclusive', error });
  if (debugOn) debug("lock '%s' lost: %s", path, error.message);
}

export function released(path: string, shared: boolean, since: number, wasLost: boolean): void {
  const held = since > 0 ? performance.now() - since : undefined;
  if (releaseChannel.hasSubscribers)
    releaseChannel.publish({ path, mode: shared ? 'shared' : 'exclusive', held, lost: wasLost });
}

/** A retried lock or write attempt (lib/native/path-waits.ts, lib/fallback/fallback-paths.ts, lib/atomic/atomic-run.ts). */
export function retried(
  op: 'lock' | 'write',
  path: string,
  reason: RetryReason,
  code?: string,
  holder?: () => Holder | undefined,
): void {
  if (!retryChannel.hasSubscribers && !debugOn) return;
  const h = holder?.();
  if (retryChannel.hasSubscribers) retryChannel.publish({ path, op, reason, code, holder: h });
  if (debugOn)
    debug(
      "%s '%s': retry (%s%s)%s",
      op,
      path,
      reason === 'gone'
        ? 'the lock file was removed or replaced'
        : reason === 'reclaim'
          ? 'taking over a lock file whose holder is gone'
          : 'the target is busy',
      code ? `: ${code}` : '',
      h ? `, left by pid ${h.pid}${h.name ? ` (${h.name})` : ''} on ${h.hostname}` : '',
    );
}

/** The start of an atomic write: its time when anyone listens, else 0. */
export function writeStart(): number {
  return writeChannel.hasSubscribers || debugOn ? performance.now() : 0;
}

/** The end of an atomic write that began at `t0` ({@link writeStart}). */
export function wrote(
  path: string,
  bytes: number | undefined,
  tmpFile: boolean,
  commit: WriteMessage['commit'],
  fsync: boolean,
  t0: number,
  error?: unknown,
): void {
  if (t0 === 0) return;
  const duration = performance.now() - t0;
  const m: WriteMessage = { path, bytes, strategy: tmpFile ? 'tmpfile' : 'named', commit, fsync, duration, error };
  if (writeChannel.hasSubscribers) writeChannel.publish(m);
  if (debugOn)
    debug(
      "write '%s': %s%s bytes, %s temp file, %s%s, %s ms",
      path,
      error ? `failed (${(error as { code?: string }).code ?? error}), ` : '',
      bytes ?? '?',
      tmpFile ? 'O_TMPFILE' : 'named',
      commit,
      fsync ? ', flushed' : '',
      duration.toFixed(1),
    );
}
