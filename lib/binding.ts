// Loads the native binding (build/Release, then prebuilds/<platform>-<arch>, through
// node-gyp-build) and types its interface. Any load failure falls back to the JS
// backend, keeping the reason; FSLOCK_BACKEND=native makes it a hard error.
import * as nodePath from 'node:path';
import { setErrorNamer } from './errors';

/** Status written to out[0] by the path-lock calls (native/glue_locks.cc). */
export const enum PathStatus {
  Acquired = 0,
  Content = 1,
  Busy = 2,
  Stale = 3,
}

export const enum LockType {
  Unlock = 0,
  Shared = 1,
  Exclusive = 2,
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
}

export type NativeCallback = (result: number, syscall: string) => void;

/** Opaque handle of a waiter thread. */
export type WaitHandle = { readonly __waitHandle: unique symbol };

/**
 * The binding's functions. Results: >= 0 success, < 0 an OS error (-errno, or
 * -GetLastError() on Windows) whose syscall `lastSyscall()` names.
 */
export interface Binding {
  setOut(out: Float64Array): void;
  lastSyscall(): string;
  readonly INTERRUPTED: number;

  flock(fd: number, type: LockType, wait: boolean): number;
  lockRange(fd: number, type: LockType, start: number, length: number, wait: boolean): number;

  pathLock(path: string, type: LockType, mode: number, record: string, tombstone: string): number;
  pathAfterWait(fd: number, type: LockType, record: string, tombstone: string): number;
  pathCommit(fd: number, type: LockType, size: number, record: string, tombstone: string): number;
  pathRelease(path: string, fd: number, type: LockType, tombstone: string): number;
  pathProbe(path: string): number;
  readAt(fd: number, buffer: Uint8Array, offset: number): number;
  closeFile(fd: number): void;

  wait(
    kind: WaitKind,
    fd: number,
    type: LockType,
    start: number,
    length: number,
    done: (result: number, syscall: string) => void,
  ): WaitHandle;
  cancel(handle: WaitHandle): void;
  /** One atomic write (see os::AtomicWrite); with a callback it runs on the threadpool. */
  atomicWrite(target: string, temp: string, dir: string, data: ArrayBufferView, mode: number, flags: number): number;
  atomicWrite(
    target: string,
    temp: string,
    dir: string,
    data: ArrayBufferView,
    mode: number,
    flags: number,
    done: NativeCallback,
  ): void;
  rename(from: string, to: string, noReplace: boolean): number;
  rename(from: string, to: string, noReplace: boolean, done: NativeCallback): void;
  syncDir(dir: string): number;
  syncDir(dir: string, done: NativeCallback): void;

  waitSync(kind: WaitKind, fd: number, type: LockType, start: number, length: number, timeoutMs: number): number;
}

export type BackendName = 'native' | 'fallback';

function load(): { binding: Binding | undefined; error: Error | undefined } {
  const forced = process.env.FSLOCK_BACKEND;
  // A value fslock does not know is a mistake to report, not a setting to ignore (a
  // typo of "native" would otherwise silently run without kernel locks). Empty = unset.
  if (forced && forced !== 'native' && forced !== 'fallback') {
    throw Object.assign(
      new Error(`fslock: FSLOCK_BACKEND=${JSON.stringify(forced)} is not a backend: use "native", "fallback", or leave it unset (native if the binary loads, else fallback)`),
      { code: 'ERR_INVALID_ARG_VALUE' },
    );
  }
  if (forced === 'fallback') return { binding: undefined, error: new Error('FSLOCK_BACKEND=fallback') };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const gypBuild = require('node-gyp-build') as (dir: string) => Binding;
    const binding = gypBuild(nodePath.join(__dirname, '..', '..'));
    return { binding, error: undefined };
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

const loaded = load();

/** The native binding, or undefined when the fallback runs. */
export const binding: Binding | undefined = loaded.binding;
/** Why the native binding is not in use (undefined when it is). */
export const loadError: Error | undefined = loaded.error;
export const backendName: BackendName = binding ? 'native' : 'fallback';

/** Secondary results of native calls (status, dev, ino, size), filled in place. */
export const out = new Float64Array(8);
binding?.setOut(out);

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
