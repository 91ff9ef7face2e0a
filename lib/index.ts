// The declarations use Node's types (Buffer, AbortSignal, URL...): they stand alone also under
// "types": [] (tsc --init of TypeScript 6 and 7). preserve: TypeScript 5.5+ drops the line otherwise.
/// <reference types="node" preserve="true" />
/**
 * fslock: real OS file locks, atomic replace and exclusive create for Node.js.
 * @module fslock
 */
import { backendName, loadError as bindingLoadError } from './native/binding';

/** `'native'` when the C++ binding is in use, `'fallback'` for the pure-JS backend. */
export const backend: 'native' | 'fallback' = backendName;
/** Why the native binding is not in use (undefined when it is). */
export const loadError: Error | undefined = bindingLoadError;

export { lock, lockSync, withLock, isLocked, lockHolder } from './locks/locks';
export type { Lock, LockOptions, LockHolderOptions, Holder, WaitInfo, WaitOptions } from './locks/locks';
export { flock, flockSync, lockRange, lockRangeSync, unlockRange, unlockRangeSync } from './locks/fd-locks';
export type { FlockMode, RangeOptions, LockRangeOptions } from './locks/fd-locks';
export {
  writeFileAtomic,
  writeFileAtomicSync,
  createExclusive,
  createExclusiveSync,
  createUnique,
  createUniqueSync,
  moveAtomic,
  moveAtomicSync,
  update,
  readFile,
  readFileSync,
} from './atomic/atomic';
export type { Data, DataSource, WriteOptions, UpdateOptions, MoveOptions, Updater, ReadOptions } from './atomic/atomic';
export { capabilities } from './locks/capabilities';
export type { Capabilities } from './locks/capabilities';
export type { FsLockError } from './common/errors';
export { channels } from './common/diagnostics';
export type {
  LockMessage,
  ReleaseMessage,
  LostMessage,
  WriteMessage,
  RetryMessage,
  RetryReason,
} from './common/diagnostics';
export type { PathLike } from './common/args';
