// Loads the native binding (build/Release, then prebuilds/<platform>-<arch>, through
// node-gyp-build) and types its interface. Any load failure falls back to the JS
// backend, keeping the reason; FSLOCK_BACKEND=native makes it a hard error.
import * as nodePath from 'node:path';
import { setErrorNamer } from '../common/errors';

/** Status written to out[0] by the path-lock calls (native/glue_locks.cc). */
export const enum PathStatus {
  Acquired = 0,
  Locked = 1,
  Busy = 2,
  Retry = 3,
  NotRegular = 4,
  Created = 5,
  CreatedBusy = 6,
}

/** os::FileType (native/fslock.h), in out[6]. */
export const enum FileType {
  Regular = 0,
  Directory = 1,
  Symlink = 2,
  Other = 3,
}

/** binding.pathCommit's last argument, besides a length > 0 to cut the file back to. */
export const enum CommitMode {
  /** Rewrite the whole file with the content (a file of fslock 0.1). */
  Rewrite = 0,
  /** Append the record: the file is exactly its header. */
  Append = -1,
}

/** Flags of binding.pathRelease. */
export const enum ReleaseFlags {
  Retract = 1,
  Remove = 2,
  Unlock = 4,
}

export const enum LockType {
  Unlock = 0,
  Shared = 1,
  Exclusive = 2,
  /** A path lock through a read-only descriptor (POSIX): flock(2) exclusive, an OFD read lock. */
  ExclusiveRead = 3,
}

export const enum WaitKind {
  PathLock = 0,
  Flock = 1,
  Range = 2,
}

/** Flags of binding.atomicWrite (native/fslock.h, os::AtomicFlags). */
export const enum AtomicFlags {
  Sync = 1,
  SyncDir = 2,
  KeepOwner = 4,
  Chmod = 8,
  NoReplace = 16,
  Link = 32,
  TmpFile = 64,
  WriteOnly = 128,
  CommitOnly = 256,
  LinkEmptyPath = 512,
  FlushBeforeLink = 1024,
  NoSymlink = 2048,
  KeepAttrs = 4096,
  RegularOnly = 8192,
  ChownAlways = 16384,
}

/** A path argument of the binding: a string, or (POSIX) a Buffer of the path's exact bytes (native/glue.h PathArg). */
export type NativePath = string | Buffer;

export type NativeCallback = (result: number, syscall: string) => void;

/** Opaque handle of a waiter thread. */
export type WaitHandle = { readonly __waitHandle: unique symbol };

/**
 * The binding's functions. Results: >= 0 success, < 0 an OS error (-errno, or
 * -GetLastError() on Windows) whose syscall `lastSyscall()` names.
 */
export interface Binding {
  setOut(out: Float64Array, head: Uint8Array): void;
  lastSyscall(): string;
  readonly INTERRUPTED: number;

  /** Never waits: a busy lock is -EAGAIN (waits: waitSync, wait). */
  flock(fd: number, type: LockType): number;
  lockRange(fd: number, type: LockType, start: number, length: number): number;

  /**
   * `dir`: create a missing lock file unnamed there first (Linux O_TMPFILE), then link it.
   * `commitLen` > 0: a locked file that is exactly `content`'s first `commitLen` bytes
   * gets the rest appended at once (PathStatus.Acquired).
   */
  pathOpen(
    path: NativePath,
    type: LockType,
    mode: number,
    content: string,
    dir: NativePath | undefined,
    commitLen: number,
  ): number;
  /**
   * A directory locked as itself (flock(2) on a read-only descriptor; POSIX only):
   * PathStatus.Locked (held) or Busy, with out[1..] filled; NotRegular if it is not one.
   */
  pathOpenDir(path: NativePath, type: LockType): number;
  /**
   * An existing file locked through a read-only descriptor (POSIX; `type` Shared or
   * ExclusiveRead), nothing written: PathStatus.Locked (held, its head read) or Busy
   * (fd returned), NotRegular or Retry (closed), with out[1..] filled.
   */
  pathOpenRead(path: NativePath, type: LockType): number;
  /** fstat into out[1..] (0 or -err). */
  statFd(fd: number): number;
  /** statFd of a user's descriptor (on Windows a C runtime fd, mapped to its handle). */
  statUserFd(fd: number): number;
  /** The checks after a granted wait, as after pathOpen's lock (`commitLen` likewise). */
  pathAfterWait(fd: number, content: string, commitLen: number): number;
  pathCommit(fd: number, type: LockType, content: string, record: string, tombstone: string, commit: number): number;
  pathRelease(
    path: NativePath,
    fd: number,
    type: LockType,
    flags: number,
    header: string,
    tombstone: string,
    cut: boolean,
  ): number;
  pathProbe(path: NativePath): number;
  readAt(fd: number, buffer: Uint8Array, offset: number): number;
  closeFile(fd: number): void;

  /**
   * Starts a wait on the waiter threads. `done` runs once, later, on this thread: 0, a
   * negative OS error (-EAGAIN 'pthread_create' when no thread could serve it), or
   * INTERRUPTED after cancel(). Environment teardown ends pending waits silently.
   */
  wait(
    kind: WaitKind,
    fd: number,
    type: LockType,
    start: number,
    length: number,
    done: (result: number, syscall: string) => void,
  ): WaitHandle;
  cancel(handle: WaitHandle): void;
  /**
   * One atomic write (see os::AtomicWrite); with a callback it runs on the threadpool.
   * `attrs`: the extended attributes to copy with AtomicFlags.KeepAttrs (os::AtomicWriteArgs).
   * SYMLINK: the target is a symlink (AtomicFlags.NoSymlink); nothing was created.
   */
  atomicWrite(
    target: NativePath,
    temp: NativePath,
    dir: NativePath,
    data: ArrayBufferView,
    mode: number,
    flags: number,
    attrs?: string,
  ): number;
  atomicWrite(
    target: NativePath,
    temp: NativePath,
    dir: NativePath,
    data: ArrayBufferView,
    mode: number,
    flags: number,
    attrs: string | undefined,
    done: NativeCallback,
  ): void;
  /** os::CopyMeta: the target's owner, mode and attributes onto `fd` (a node:fs descriptor). */
  copyMeta(target: NativePath, fd: number, mode: number, flags: number, attrs: string | undefined): number;
  copyMeta(
    target: NativePath,
    fd: number,
    mode: number,
    flags: number,
    attrs: string | undefined,
    done: NativeCallback,
  ): void;
  /** What atomicWrite and copyMeta return for a target that is a symlink (not an OS error). */
  readonly SYMLINK: number;
  /** ...for a target that is a device, FIFO or socket (Windows: a DOS device name). */
  readonly NOT_REGULAR: number;
  rename(from: NativePath, to: NativePath, noReplace: boolean): number;
  rename(from: NativePath, to: NativePath, noReplace: boolean, done: NativeCallback): void;
  syncDir(dir: NativePath): number;
  syncDir(dir: NativePath, done: NativeCallback): void;

  /**
   * Blocks this thread until granted; timeoutMs >= 0 waits on a pool thread and returns
   * INTERRUPTED at the deadline. A thread that cannot start: -EAGAIN ('pthread_create').
   */
  waitSync(kind: WaitKind, fd: number, type: LockType, start: number, length: number, timeoutMs: number): number;
  /**
   * The process-wide thread budget of the waits (native/wait_pool.cc): up to
   * `maxBlocking` blocking waits at once (default 32), further waits polled by one more
   * thread with a backoff capped at max(pollCapMs, queued / 100) ms (default 10), and
   * parked threads exit after `idleMs` (default 2000).
   */
  waitLimits(maxBlocking: number, pollCapMs: number, idleMs: number): void;
  /** Waiter threads alive now (blocking, parked and the poller). */
  waitThreads(): number;
}

export type BackendName = 'native' | 'fallback';

function load(): { binding: Binding | undefined; error: Error | undefined } {
  const forced = process.env.FSLOCK_BACKEND;
  // A value fslock does not know is a mistake to report, not a setting to ignore (a
  // typo of "native" would otherwise silently run without kernel locks). Empty = unset.
  if (forced && forced !== 'native' && forced !== 'fallback') {
    throw Object.assign(
      new Error(
        `fslock: FSLOCK_BACKEND=${JSON.stringify(forced)} is not a backend: use "native", "fallback", or leave it unset (native if the binary loads, else fallback)`,
      ),
      { code: 'ERR_INVALID_ARG_VALUE' },
    );
  }
  if (forced === 'fallback') return { binding: undefined, error: new Error('FSLOCK_BACKEND=fallback') };
  try {
    const root = nodePath.join(__dirname, '..', '..', '..');
    return { binding: localBuild(root) ?? gypBuild(root), error: undefined };
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    if (forced === 'native') {
      throw new Error(
        `fslock: FSLOCK_BACKEND=native but the native binding did not load: ${error.message}\n` +
          'Possible solutions: install a toolchain (python3, make, a C++ compiler) and run ' +
          '`npm rebuild fslock --build-from-source`, or use a platform with a prebuilt binary ' +
          '(linux-x64, linux-arm64, win32-x64), or unset FSLOCK_BACKEND to use the JS fallback.',
        { cause: error },
      );
    }
    return { binding: undefined, error };
  }
}

/**
 * build/Release/fslock.node, which node-gyp-build would pick first too, without loading
 * node-gyp-build (its resolution and probes: several ms of the `fslock` command's
 * start-up, bench/cli.bench.js); undefined where there is none, or where node-gyp-build's
 * own overrides are set (FSLOCK_PREBUILD, PREBUILDS_ONLY).
 */
function localBuild(root: string): Binding | undefined {
  if (process.env.FSLOCK_PREBUILD || process.env.PREBUILDS_ONLY) return undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(nodePath.join(root, 'build', 'Release', 'fslock.node')) as Binding;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return undefined;
    throw e;
  }
}

function gypBuild(root: string): Binding {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('node-gyp-build') as (dir: string) => Binding)(root);
}

const loaded = load();

/** The native binding, or undefined when the fallback runs. */
export const binding: Binding | undefined = loaded.binding;
/** Why the native binding is not in use (undefined when it is). */
export const loadError: Error | undefined = loaded.error;
export const backendName: BackendName = binding ? 'native' : 'fallback';

/**
 * Secondary results of native calls, filled in place: out[0] status, [1] dev, [2] ino,
 * [3] size, [4] bytes read into `head`, [5] nlink, [6] file type, [7] owner uid, [8]/[9]
 * the high/low 32 bits of ino (with dev, the exact identity of the file).
 */
export const out = new Float64Array(10);
/** The first bytes of a lock file, read by the path-lock calls. */
export const head = new Uint8Array(4096);
binding?.setOut(out, head);

/**
 * Windows: opening a lock file that another holder deleted while others still have it
 * open fails with ERROR_DELETE_PENDING until the last handle closes (classic delete
 * semantics, as under Wine and before Windows 10 1809). Lock acquisition retries it.
 */
export const DELETE_PENDING = process.platform === 'win32' ? -303 : undefined;

if (process.platform === 'win32' && binding) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  setErrorNamer((require('./win32-errors') as typeof import('./win32-errors')).win32ErrorName);
}
