// Descriptor locks (flock, lockRange, unlockRange and their Sync forms): a lock on an
// fd the caller opened, native backend only. Waits go to a waiter thread
// (lib/native/native-wait.ts), never the event loop or libuv's threadpool.
import {
  type CheckedWait,
  type WaitOptions,
  DEFAULT_WAIT,
  toFd,
  toInteger,
  toOptions,
  toWait,
  toBool,
} from '../common/args';
import { type Binding, LockType, WaitKind, binding, out } from '../native/binding';
import type { Holder, WaitInfo } from '../common/holder';
import { waitWatched, waiting } from '../common/diagnostics';
import { type KernelLock, commandName, kernelLocks, ownOfdLocks } from '../common/proc-locks';
import { processName } from '../common/holder-name';
import { hostname } from '../protocol/record';
import { waitChunk } from '../common/long-timer';
import {
  abortReason,
  deadlockError,
  invalidArgValue,
  lockedError,
  notSupportedError,
  osError,
  timeoutError,
} from '../common/errors';
import { isWouldBlock } from '../native/path-waits';
import { native } from './backends';
import { fdLocks, fdLocksOn, kernelWaiting, threadHolds } from './path-state';

/** Where fdinfo tells whether a descriptor holds a lock (see locked()). */
const LINUX = process.platform === 'linux';

export type FlockMode = 'exclusive' | 'shared' | 'unlock';

function toMode(mode: unknown): LockType {
  if (mode === 'exclusive') return LockType.Exclusive;
  if (mode === 'shared') return LockType.Shared;
  if (mode === 'unlock') return LockType.Unlock;
  throw invalidArgValue('mode', mode, "must be 'exclusive', 'shared' or 'unlock'");
}

function nativeOnly(syscall: string) {
  return { n: native!, b: bindingFor(syscall) };
}

/**
 * The binding, or the error of the fallback backend. The lock calls below take it
 * directly and check their arguments without allocating: a lock + unlock pair is a few
 * hundred nanoseconds, of which the two system calls are most (bench/locks.bench.js).
 */
function bindingFor(syscall: string): Binding {
  if (!native)
    throw notSupportedError(syscall, 'descriptor locks need the native backend (fslock.backend is "fallback")');
  return binding!;
}

/**
 * Who holds the lock that a request on `fd` waits for, as the kernel tells (Linux:
 * /proc/locks, the pid of a flock(2) or POSIX lock holder; an OFD lock's holder is
 * shown without a pid, and found only when it is this process). Elsewhere undefined.
 */
function fdHolder(fd: number, kind: WaitKind, type: LockType, start: number, length: number): Holder | undefined {
  if (process.platform !== 'linux' || binding!.statFd(fd) < 0) return undefined;
  const dev = out[1];
  const ino = ((BigInt(out[8]) << 32n) | BigInt(out[9])).toString();
  const end = length === 0 ? Infinity : start + length - 1;
  const shared = type === LockType.Shared;
  // What conflicts: flock(2) with flock(2); byte-range (POSIX, OFD) with byte-range
  // locks that overlap; a shared request only with exclusive holders.
  const conflicts = (k: KernelLock) =>
    (kind === WaitKind.Flock ? k.kind === 'flock' : k.kind !== 'flock' && k.start <= end && k.end >= start) &&
    !(shared && k.shared);
  const locks = (kernelLocks(dev, ino) ?? []).filter(conflicts);
  if (!locks.length) return undefined;
  // A holder with a pid first (OFD holders have none), and another process before this one
  // (a lock being converted shows this process's own entry too).
  let k = locks.find((x) => x.pid !== undefined && x.pid !== process.pid) ?? locks.find((x) => x.pid !== undefined);
  if (!k && kind === WaitKind.Range) k = ownOfdLocks(dev, ino, fd).filter(conflicts)[0];
  const pid = k?.pid;
  return {
    pid,
    hostname: pid === undefined ? undefined : hostname,
    since: undefined,
    shared: (k ?? locks[0]).shared,
    record: false,
    name: pid === undefined ? undefined : pid === process.pid ? processName() : commandName(pid),
  };
}

/**
 * A descriptor lock has to wait: tells `onWait`, the wait channel and NODE_DEBUG, once
 * (the kernel's wait does not say when the holder changes). Nothing is held yet: an
 * exception from `onWait` ends the call.
 */
function tellWait(fd: number, kind: WaitKind, type: LockType, start: number, length: number, w: CheckedWait): void {
  if (!w.onWait && !waitWatched()) return;
  const holder = fdHolder(fd, kind, type, start, length);
  const info: WaitInfo = { fd, shared: type === LockType.Shared, holder, waited: 0 };
  waiting(info);
  w.onWait?.(info);
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
  if (!w.wait) throw lockedError(`fd ${fd}`, undefined, 'options.wait');
  if (w.timeout === 0) throw timeoutError(`fd ${fd}`, 0);
  tellWait(fd, kind, type, start, length, w);
  const deadline = w.timeout === undefined ? undefined : Date.now() + w.timeout;
  const o = await n.wait(kind, fd, type, start, length, deadline, w.signal, () =>
    timeoutError(`fd ${fd}`, w.timeout!, fdHolder(fd, kind, type, start, length)),
  );
  if (o.cancelled !== undefined) {
    // Granted just as it was cancelled: undo, so that a cancelled call holds nothing.
    if (o.result === 0) {
      if (kind === WaitKind.Flock) b.flock(fd, LockType.Unlock);
      else b.lockRange(fd, LockType.Unlock, start, length);
    }
    throw o.cancelled;
  }
  if (o.result < 0) throw osError(o.result, o.syscall);
  locked(fd, type);
}

/**
 * Refuses a blocking wait for a lock only this thread can release: a path lock of this
 * thread on the same file, a lock() of this thread waiting for it, or a lock this thread
 * took through another descriptor of the file (locks belong to the open file, so two
 * opens of one file conflict even in one thread).
 */
function refuseSelfWait(fd: number, type: LockType, syscall: string): void {
  const key = native!.keyOfUserFd(fd);
  if (!key) return;
  const shared = type === LockType.Shared;
  const why = threadHolds(key, shared)
    ? 'thread'
    : kernelWaiting(key, shared)
      ? 'waiting'
      : fdLocksOn(key, (f) => native!.keyOfUserFd(f), fd)
        ? 'descriptor'
        : undefined;
  if (why) throw deadlockError(`fd ${fd}`, why, syscall);
}

function waitFdSync(kind: WaitKind, fd: number, type: LockType, start: number, length: number, w: CheckedWait): void {
  const syscall = kind === WaitKind.Flock ? 'flock' : 'fcntl';
  const { b } = nativeOnly(syscall);
  if (!w.wait) throw lockedError(`fd ${fd}`, undefined, 'options.wait');
  if (w.signal) throw invalidArgValue('options.signal', w.signal, 'is not supported by the Sync forms');
  refuseSelfWait(fd, type, syscall);
  if (w.timeout !== 0) tellWait(fd, kind, type, start, length, w);
  const deadline = w.timeout === undefined ? undefined : Date.now() + w.timeout;
  let r: number;
  do r = b.waitSync(kind, fd, type, start, length, waitChunk(deadline));
  while (r === b.INTERRUPTED && Date.now() < deadline!);
  if (r === b.INTERRUPTED) throw timeoutError(`fd ${fd}`, w.timeout!, fdHolder(fd, kind, type, start, length));
  if (r < 0) throw osError(r, b.lastSyscall());
  locked(fd, type);
}

/**
 * Keeps fdLocks: a descriptor this thread locked, until flock(fd, 'unlock'). Linux tells
 * later whether the number still holds a lock (fdinfo); elsewhere the file's identity is
 * noted now, so that a number closed and reused for another file is told apart.
 */
function locked(fd: number, type: LockType): void {
  fdLocks.set(fd, type === LockType.Unlock ? false : LINUX ? '' : native!.keyOfUserFd(fd));
}

/**
 * `flock(2)` on a descriptor (Windows: LockFileEx on a region past any data). Locks
 * belong to the open file description: another `open()` of the same file conflicts.
 */
export async function flock(fd: number, mode: FlockMode, options?: WaitOptions): Promise<void> {
  const f = toFd(fd);
  const type = toMode(mode);
  const w = toWait(toOptions<WaitOptions>(options));
  const b = bindingFor('flock');
  if (w.signal?.aborted) throw abortReason(w.signal);
  const r = b.flock(f, type);
  if (r === 0) return locked(f, type);
  if (type === LockType.Unlock || !isWouldBlock(r)) throw osError(r, b.lastSyscall());
  await waitFd(WaitKind.Flock, f, type, 0, 0, w, 'flock');
}

/** Synchronous {@link flock}; blocks the thread while waiting (honours `timeout`). */
export function flockSync(fd: number, mode: FlockMode, options?: Omit<WaitOptions, 'signal'>): void {
  const f = toFd(fd);
  const type = toMode(mode);
  const w = toWait(toOptions<WaitOptions>(options));
  const b = bindingFor('flock');
  const r = b.flock(f, type);
  if (r === 0) return locked(f, type);
  if (type === LockType.Unlock || !isWouldBlock(r)) throw osError(r, b.lastSyscall());
  waitFdSync(WaitKind.Flock, f, type, 0, 0, w);
}

/** Byte range of {@link lockRange} / {@link unlockRange}. `length: 0` means "to the end, however far it grows". */
export interface RangeOptions {
  start: number;
  length: number;
}
export interface LockRangeOptions extends RangeOptions, WaitOptions {
  shared?: boolean;
}

/** The checked arguments of a range call (its options must be given). */
function checkRange(fd: unknown, options: unknown, locking: boolean) {
  const f = toFd(fd);
  if (options === undefined || options === null)
    throw invalidArgValue('options', options, 'must give start and length');
  const o = toOptions<LockRangeOptions>(options);
  const start = toInteger(o.start, 'options.start', 0);
  const length = toInteger(o.length, 'options.length', 0);
  if (!locking) return { fd: f, start, length, type: LockType.Unlock, w: DEFAULT_WAIT };
  const type = toBool(o.shared, 'options.shared', false) ? LockType.Shared : LockType.Exclusive;
  return { fd: f, start, length, type, w: toWait(o) };
}

/** Locks a byte range (Linux: open-file-description lock; Windows: LockFileEx, mandatory). */
export async function lockRange(fd: number, options: LockRangeOptions): Promise<void> {
  const { fd: f, start, length, type, w } = checkRange(fd, options, true);
  const b = bindingFor('fcntl');
  if (w.signal?.aborted) throw abortReason(w.signal);
  const r = b.lockRange(f, type, start, length);
  if (r === 0) return locked(f, type);
  if (!isWouldBlock(r)) throw osError(r, b.lastSyscall());
  await waitFd(WaitKind.Range, f, type, start, length, w, 'fcntl');
}

export function lockRangeSync(fd: number, options: Omit<LockRangeOptions, 'signal'>): void {
  const { fd: f, start, length, type, w } = checkRange(fd, options, true);
  const b = bindingFor('fcntl');
  const r = b.lockRange(f, type, start, length);
  if (r === 0) return locked(f, type);
  if (!isWouldBlock(r)) throw osError(r, b.lastSyscall());
  waitFdSync(WaitKind.Range, f, type, start, length, w);
}

export async function unlockRange(fd: number, options: RangeOptions): Promise<void> {
  unlockRangeSync(fd, options);
}

export function unlockRangeSync(fd: number, options: RangeOptions): void {
  const { fd: f, start, length } = checkRange(fd, options, false);
  const b = bindingFor('fcntl');
  const r = b.lockRange(f, LockType.Unlock, start, length);
  if (r < 0) throw osError(r, b.lastSyscall());
}
