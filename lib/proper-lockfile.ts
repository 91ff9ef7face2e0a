// The declarations use Node's types (Buffer, AbortSignal, URL...): they stand alone also under
// "types": [] (tsc --init of TypeScript 6 and 7). preserve: TypeScript 5.5+ drops the line otherwise.
/// <reference types="node" preserve="true" />
// fslock/proper-lockfile: the proper-lockfile v4 API on kernel locks, and still
// compatible with processes that run proper-lockfile itself.
//
// Protocol (docs/migrating.md): a holder takes fslock's kernel lock on
// `<lockfilePath>.fslock` (so migrated processes exclude each other through the kernel:
// no stale-reclaim race, no polling among them) AND creates the `<lockfilePath>`
// directory that proper-lockfile uses (so unmigrated processes see it held), keeping its
// mtime fresh like proper-lockfile's `update`. A directory found while holding the
// kernel lock belongs to an unmigrated process (honoured until its mtime is `stale`) or
// to a migrated holder that died: those mark their directory with MARK_ATIME, and since
// a living migrated holder would still hold the kernel lock, such a directory is taken
// over at once instead of after `stale` ms.
/**
 * The proper-lockfile v4 API (`lock`, `unlock`, `check` and their `Sync` forms; the
 * module itself is `lock`) on fslock's kernel locks, still excluding processes that run
 * proper-lockfile itself. See docs/migrating.md.
 * @module fslock/proper-lockfile
 */
import * as nodeFs from 'node:fs';
import * as nodePath from 'node:path';
import { promisify } from 'node:util';
import { isLocked, lockSync as fsLockSync, type Lock } from './locks/locks';
import { checkAccess, checkReadWrite } from './common/permission';
import { besideName } from './common/args';

/** Options of proper-lockfile v4 (`lock`). */
export interface LockOptions {
  /** ms after which an unrefreshed lock directory is stale (min 2000, default 10000). */
  stale?: number;
  /** ms between mtime refreshes (default stale/2, clamped to [1000, stale/2]). */
  update?: number;
  /** Retries (async only): a number, or options of the `retry` package. Default 0. */
  retries?: number | RetryOptions;
  /** Resolve symlinks of `file` (default true; then `file` must exist). */
  realpath?: boolean;
  /** The fs module to use for the lock directory (default node:fs). */
  fs?: typeof nodeFs;
  /** Called when the lock directory was removed or changed behind our back. */
  onCompromised?: (err: Error) => void;
  /** The lock directory (default `${file}.lock`). */
  lockfilePath?: string;
}

export interface RetryOptions {
  retries?: number;
  factor?: number;
  minTimeout?: number;
  maxTimeout?: number;
  randomize?: boolean;
}

export type UnlockOptions = Pick<LockOptions, 'realpath' | 'fs' | 'lockfilePath'>;
export type CheckOptions = Pick<LockOptions, 'stale' | 'realpath' | 'fs' | 'lockfilePath'>;

interface Checked {
  stale: number;
  update: number;
  retries: Required<RetryOptions>;
  realpath: boolean;
  fs: typeof nodeFs;
  onCompromised: (err: Error) => void;
  lockfilePath: string | undefined;
}

interface Held {
  dir: string;
  kernel: Lock;
  fs: typeof nodeFs;
  mtime: number;
  released: boolean;
  timer: NodeJS.Timeout | undefined;
}

/** atime of the directories of migrated holders (proper-lockfile only reads mtime). */
const MARK_ATIME = Date.UTC(2001, 0, 1, 0, 0, 0);
const held = new Map<string, Held>();

function codeErr(message: string, code: string, extra: object = {}): Error {
  return Object.assign(new Error(message), { code }, extra);
}
const lockedError = (file: string) => codeErr('Lock file is already being held', 'ELOCKED', { file });

function options(o: LockOptions | undefined): Checked {
  const opts = { ...o };
  const stale = Math.max(opts.stale || 0, 2000);
  let update = opts.update == null ? stale / 2 : opts.update || 0;
  update = Math.max(Math.min(update, stale / 2), 1000);
  const r = typeof opts.retries === 'number' ? { retries: opts.retries } : opts.retries || {};
  return {
    stale,
    update,
    // The defaults of the `retry` package, which proper-lockfile uses.
    retries: { retries: 0, factor: 2, minTimeout: 1000, maxTimeout: Infinity, randomize: false, ...r },
    realpath: opts.realpath !== false,
    fs: opts.fs ?? nodeFs,
    onCompromised:
      opts.onCompromised ??
      ((err) => {
        throw err;
      }),
    lockfilePath: opts.lockfilePath,
  };
}

const dirOf = (file: string, o: Pick<Checked, 'lockfilePath'>) => o.lockfilePath ?? `${file}.lock`;
/**
 * The kernel lock beside the directory: `<dir>.fslock`, or for a directory name of
 * 249-255 bytes (a file name of 244-250, which proper-lockfile takes) a hashed name
 * that fits NAME_MAX (besideName, lib/common/args.ts).
 */
const kernelPath = (dir: string) => besideName(dir, '', '.fslock') as string;
const isMarked = (st: nodeFs.Stats) => Math.abs(st.atimeMs - MARK_ATIME) < 1000;
const isStale = (st: nodeFs.Stats, stale: number) => st.mtimeMs < Date.now() - stale;

function resolveSync(file: string, o: Pick<Checked, 'realpath' | 'fs'>): string {
  return o.realpath ? o.fs.realpathSync(file) : nodePath.resolve(file);
}
async function resolve(file: string, o: Pick<Checked, 'realpath' | 'fs'>): Promise<string> {
  return o.realpath ? promisify(o.fs.realpath)(file) : nodePath.resolve(file);
}

// ---- the directory, with the kernel lock held ------------------------------------------

/** Marks a fresh directory as ours and returns its mtime. */
function markSync(fs: typeof nodeFs, dir: string): number {
  const now = new Date();
  fs.utimesSync(dir, new Date(MARK_ATIME), now);
  return fs.statSync(dir).mtimeMs;
}

function takeDirSync(file: string, dir: string, o: Checked): number {
  try {
    o.fs.mkdirSync(dir);
    return markSync(o.fs, dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  let st: nodeFs.Stats;
  try {
    st = o.fs.statSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    return takeDirOnceSync(file, dir, o);
  }
  if (!isMarked(st) && !isStale(st, o.stale)) throw lockedError(file);
  try {
    o.fs.rmdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  return takeDirOnceSync(file, dir, o);
}

function takeDirOnceSync(file: string, dir: string, o: Checked): number {
  try {
    o.fs.mkdirSync(dir);
  } catch (e) {
    throw (e as NodeJS.ErrnoException).code === 'EEXIST' ? lockedError(file) : e;
  }
  return markSync(o.fs, dir);
}

// One attempt. It never waits (the kernel lock is tried with wait:false, the rest is a
// few local syscalls), so the promise API runs it too; waiting happens between retries.
function acquireSync(file: string, o: Checked): Held {
  const dir = dirOf(file, o);
  // Node's permission model: the directory is created and removed, the kernel lock
  // beside it created and written (checked again by lockSync).
  checkReadWrite(dir);
  let kernel: Lock;
  try {
    // keep: false: proper-lockfile leaves nothing behind, and only its callers lock this file.
    kernel = fsLockSync(kernelPath(dir), { wait: false, keep: false });
  } catch (e) {
    throw (e as NodeJS.ErrnoException).code === 'ELOCKED' ? lockedError(file) : e;
  }
  try {
    const mtime = takeDirSync(file, dir, o);
    return { dir, kernel, fs: o.fs, mtime, released: false, timer: undefined };
  } catch (e) {
    kernel.releaseSync();
    throw e;
  }
}

function startUpdates(file: string, h: Held, o: Checked): void {
  const tick = () => {
    h.timer = undefined;
    if (h.released) return;
    let err: Error | undefined;
    try {
      const st = h.fs.statSync(h.dir);
      if (Math.abs(st.mtimeMs - h.mtime) > 1)
        err = codeErr('Unable to update lock within the stale threshold', 'ECOMPROMISED');
      else h.mtime = markSync(h.fs, h.dir);
    } catch (e) {
      err = Object.assign(e as Error, { code: 'ECOMPROMISED' });
    }
    if (err) {
      h.released = true;
      if (held.get(file) === h) held.delete(file);
      h.kernel.releaseSync();
      o.onCompromised(err);
      return;
    }
    h.timer = setTimeout(tick, o.update).unref();
  };
  h.timer = setTimeout(tick, o.update).unref();
}

function releaseSync(file: string, h: Held): void {
  if (h.timer) clearTimeout(h.timer);
  h.released = true;
  if (held.get(file) === h) held.delete(file);
  try {
    h.fs.rmdirSync(h.dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      h.kernel.releaseSync();
      throw e;
    }
  }
  h.kernel.releaseSync();
}

// Like proper-lockfile (signal-exit), directories of locks still held when the process
// exits are removed; the kernel lock goes with the process anyway.
process.once('exit', () => {
  for (const h of held.values()) {
    try {
      h.fs.rmdirSync(h.dir);
    } catch {
      // gone already
    }
  }
});

function retryDelay(r: Required<RetryOptions>, attempt: number): number {
  const random = r.randomize ? Math.random() + 1 : 1;
  return Math.min(Math.round(random * Math.max(r.minTimeout, 1) * r.factor ** attempt), r.maxTimeout);
}

// ---- the proper-lockfile API ----------------------------------------------------------

/** Acquires the lock; resolves with its `release()` (which rejects `ERELEASED` the second time). */
export async function lock(file: string, opts?: LockOptions): Promise<() => Promise<void>> {
  const o = options(opts);
  const f = await resolve(file, o);
  let h: Held | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      h = acquireSync(f, o);
      break;
    } catch (e) {
      if (attempt >= o.retries.retries) throw e;
      await new Promise((r) => setTimeout(r, retryDelay(o.retries, attempt)));
    }
  }
  const mine = h;
  held.set(f, mine);
  startUpdates(f, mine, o);
  return async () => {
    if (mine.released) throw codeErr('Lock is already released', 'ERELEASED');
    releaseSync(f, mine);
  };
}

function syncOptions(opts: LockOptions | undefined): Checked {
  const r = opts?.retries;
  if (
    (typeof r === 'number' && r > 0) ||
    (r && typeof r === 'object' && typeof r.retries === 'number' && r.retries > 0)
  ) {
    throw codeErr('Cannot use retries with the sync api', 'ESYNC');
  }
  return options(opts);
}

/** Synchronous {@link lock}: returns `release()`, which throws `ERELEASED` the second time. */
export function lockSync(file: string, opts?: LockOptions): () => void {
  const o = syncOptions(opts);
  const f = resolveSync(file, o);
  const h = acquireSync(f, o);
  held.set(f, h);
  startUpdates(f, h, o);
  return () => {
    if (h.released) throw codeErr('Lock is already released', 'ERELEASED');
    releaseSync(f, h);
  };
}

function unlockResolved(f: string): void {
  const h = held.get(f);
  if (!h) throw codeErr('Lock is not acquired/owned by you', 'ENOTACQUIRED');
  releaseSync(f, h);
}

/** Releases a lock this process holds on `file` (`ENOTACQUIRED` otherwise). */
export async function unlock(file: string, opts?: UnlockOptions): Promise<void> {
  unlockResolved(await resolve(file, options(opts)));
}

export function unlockSync(file: string, opts?: UnlockOptions): void {
  unlockResolved(resolveSync(file, syncOptions(opts)));
}

function checkDir(dir: string, o: Checked): nodeFs.Stats | undefined {
  try {
    return o.fs.statSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Whether `file` is locked (by anyone) and the lock is not stale. */
export async function check(file: string, opts?: CheckOptions): Promise<boolean> {
  const o = options(opts);
  const dir = dirOf(await resolve(file, o), o);
  checkAccess('fs.read', dir);
  const st = checkDir(dir, o);
  if (!st) return false;
  // A migrated holder's directory counts while its kernel lock is held.
  if (isMarked(st)) return isLocked(kernelPath(dir));
  return !isStale(st, o.stale);
}

/**
 * Synchronous {@link check}. It reads the directory only: a migrated holder that died
 * counts as holding until its directory is stale (the async check asks the kernel).
 */
export function checkSync(file: string, opts?: CheckOptions): boolean {
  const o = syncOptions(opts);
  const st = checkDir(dirOf(resolveSync(file, o), o), o);
  return !!st && !isStale(st, o.stale);
}

/** The module itself is `lock`, with the other functions on it, like proper-lockfile. */
const api = Object.assign((file: string, opts?: LockOptions) => lock(file, opts), {
  lock,
  unlock,
  check,
  lockSync,
  unlockSync,
  checkSync,
});
export default api;
// `require('fslock/proper-lockfile')(file)` works as `require('proper-lockfile')(file)`.
module.exports = Object.assign(api, { default: api });
