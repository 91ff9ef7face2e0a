// Argument checks shared by every public function: bad input fails before anything
// touches the disk, with Node's own codes.
import { isUtf8 } from 'node:buffer';
import * as nodePath from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalidArgType, invalidArgValue, outOfRange } from './errors';
import type { WaitInfo } from './holder';

/** A path as fslock's functions take it: a string, a Buffer or a `file:` URL (as `node:fs`). */
export type PathLike = string | Buffer | URL;

/**
 * A path argument as an absolute string (string, Buffer or file: URL; no NUL bytes).
 * A Buffer that is not valid UTF-8 is converted lossily: {@link toFsPath} keeps its bytes.
 */
export function toPath(value: unknown, name = 'path'): string {
  let p: string;
  if (typeof value === 'string') {
    const known = resolvedPaths.get(value);
    if (known !== undefined) return known;
    p = value;
  } else if (Buffer.isBuffer(value)) p = value.toString('utf8');
  else if (value instanceof URL) {
    if (value.protocol !== 'file:') throw invalidArgValue(name, value.href, 'must be a file: URL');
    p = fileURLToPath(value);
  } else throw invalidArgType(name, 'of type string or an instance of Buffer or URL', value);
  if (p.includes('\0')) throw invalidArgValue(name, p, 'must be a string, Uint8Array, or URL without null bytes');
  if (p.length === 0) throw invalidArgValue(name, p, 'must be a non-empty path');
  // Resolved once: release() must remove this file even if the process chdir()s.
  const r = nodePath.resolve(p);
  if (p === value && cwdFree(p)) {
    if (resolvedPaths.size >= 256) resolvedPaths.clear();
    resolvedPaths.set(p, r);
  }
  return r;
}

/**
 * Absolute path strings already checked and resolved: a hot loop locking one path
 * skips path.resolve, and gets the same string back each time (its hash is computed
 * once for this thread's per-path state). Bounded; only paths the cwd cannot change.
 */
const resolvedPaths = new Map<string, string>();
const cwdFree =
  process.platform === 'win32'
    ? (p: string) => /^[A-Za-z]:[\\/]/.test(p) // a drive letter: a path from a root alone depends on the current drive
    : (p: string) => p.charCodeAt(0) === 47; // '/'

/**
 * A path as the OS gets it: a string, or on POSIX a Buffer with the bytes of a path that
 * is not valid UTF-8 (a name written by another program in another encoding). Those
 * bytes are passed through exactly, as node:fs does: converting them to a string would
 * replace each bad byte with U+FFFD, so `a\xff` and `a\xfe` would name the same file,
 * and not the one the caller meant. The native binding takes either form.
 */
export type FsPath = string | Buffer;

const bytesPaths = process.platform !== 'win32';

/** The bytes of a Buffer path as a string of one char per byte (path functions work on it). */
function latin1(b: Buffer): string {
  return b.toString('latin1');
}

/** Bytes back to an FsPath: a string when they are valid UTF-8. */
function fromLatin1(s: string): FsPath {
  const b = Buffer.from(s, 'latin1');
  return isUtf8(b) ? b.toString('utf8') : b;
}

/**
 * A path argument as an absolute {@link FsPath}: a string for strings, URLs and Buffers
 * holding valid UTF-8 (the same as {@link toPath}); the Buffer's own bytes, resolved
 * against the working directory, otherwise (POSIX; Windows names are UTF-16, so there
 * a Buffer is read as UTF-8, as node:fs does).
 */
export function toFsPath(value: unknown, name = 'path'): FsPath {
  if (!bytesPaths || !Buffer.isBuffer(value) || isUtf8(value)) return toPath(value, name);
  if (value.includes(0)) {
    throw invalidArgValue(name, value, 'must be a string, Uint8Array, or URL without null bytes');
  }
  const s = latin1(value);
  return fromLatin1(
    s.startsWith('/') ? nodePath.posix.resolve(s) : nodePath.posix.resolve(latin1(Buffer.from(process.cwd())), s),
  );
}

/**
 * A string naming an {@link FsPath} for messages and `error.path`: the bytes read as
 * UTF-8 with U+FFFD for bad ones (what node:fs puts in its errors). Not unique: use
 * {@link pathKey} to tell paths apart.
 */
export function displayPath(p: FsPath): string {
  return typeof p === 'string' ? p : p.toString('utf8');
}

/**
 * A string that identifies an {@link FsPath} exactly (for Map and Set keys): the path
 * itself for a string; for bytes, NUL (which no path contains) and one char per byte.
 */
export function pathKey(p: FsPath): string {
  return typeof p === 'string' ? p : `\0${latin1(p)}`;
}

/** The directory part of an absolute {@link FsPath} (node:path's dirname, on bytes too). */
export function dirnameOf(p: FsPath): FsPath {
  return typeof p === 'string' ? nodePath.dirname(p) : fromLatin1(nodePath.posix.dirname(latin1(p)));
}

/** The last part of an {@link FsPath}, as bytes in a latin1 string when `p` is a Buffer. */
export function basenameOf(p: FsPath): FsPath {
  return typeof p === 'string' ? nodePath.basename(p) : fromLatin1(nodePath.posix.basename(latin1(p)));
}

/** `dir` + separator + `name` (`name` a string, or the bytes of a Buffer). */
export function joinName(dir: FsPath, name: string | Buffer): FsPath {
  if (typeof dir === 'string' && typeof name === 'string') return nodePath.join(dir, name);
  const d = typeof dir === 'string' ? latin1(Buffer.from(dir)) : latin1(dir);
  const n = typeof name === 'string' ? latin1(Buffer.from(name)) : latin1(name);
  return fromLatin1(nodePath.posix.join(d, n));
}

/** No options given: one shared, frozen object instead of a new one per call. */
const NO_OPTIONS = Object.freeze({});

export function toOptions<T extends object>(value: unknown, name = 'options'): Partial<T> {
  if (value === undefined || value === null) return NO_OPTIONS;
  if (typeof value !== 'object' || Array.isArray(value)) throw invalidArgType(name, 'of type object', value);
  return value as Partial<T>;
}

export function toBool(value: unknown, name: string, dflt: boolean): boolean {
  if (value === undefined) return dflt;
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value);
  return value;
}

/**
 * Milliseconds: a number >= 0, or undefined for "no limit" (also `Infinity`). Every
 * finite value is honoured as given, also beyond Node's 2^31-1 ms timer limit: the
 * waits arm their timers through lib/common/long-timer.ts (setLongTimeout / waitChunk).
 */
export function toTimeout(value: unknown, name = 'options.timeout'): number | undefined {
  if (value === undefined || value === Infinity) return undefined;
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!(value >= 0) || !Number.isFinite(value)) throw outOfRange(name, '>= 0 and finite (or Infinity)', value);
  return value;
}

export function toSignal(value: unknown, name = 'options.signal'): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw invalidArgType(name, 'an instance of AbortSignal', value);
  return value;
}

export function toFd(value: unknown, name = 'fd'): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff)
    throw outOfRange(name, '>= 0 && <= 2147483647', value);
  return value;
}

export function toInteger(value: unknown, name: string, min: number): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isSafeInteger(value) || value < min) throw outOfRange(name, `an integer >= ${min}`, value);
  return value;
}

export function toFunction<F>(value: unknown, name: string): F {
  if (typeof value !== 'function') throw invalidArgType(name, 'of type function', value);
  return value as F;
}

/** Common options of every waiting call. */
export interface WaitOptions {
  /** Wait for the lock (default `true`); `false` fails at once with `ELOCKED`. */
  wait?: boolean;
  /**
   * Give up after this many milliseconds with `ETIMEDOUT`: any number >= 0, really
   * waited for however large (beyond the 2^31-1 ms, about 24.8 days, that one Node
   * timer takes). `Infinity` or no value waits without limit; `0` only tries once.
   * Negative or `NaN`: RangeError.
   */
  timeout?: number;
  /** Abort the wait; rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Called when this call has to wait (not when the lock is free, nor with `wait:
   * false` or `timeout: 0`), with what is known of the holder, and again when a later
   * attempt finds another holder: the fallback backend looks at every poll; a kernel
   * wait (native path locks, descriptor locks) does not say when its holder changes,
   * so those tell again only when their wait ends without the lock (a lock file
   * removed or replaced under it). An exception it throws ends the call with that
   * exception (nothing held). Also published on `fslock:lock:wait`
   * (docs/diagnostics.md).
   */
  onWait?: (info: WaitInfo) => void;
}

export interface CheckedWait {
  wait: boolean;
  timeout: number | undefined;
  signal: AbortSignal | undefined;
  onWait: ((info: WaitInfo) => void) | undefined;
}

/** The checked wait options of a call that gave none (shared: nothing changes it). */
export const DEFAULT_WAIT: CheckedWait = Object.freeze({
  wait: true,
  timeout: undefined,
  signal: undefined,
  onWait: undefined,
});

export function toWait(o: Partial<WaitOptions>): CheckedWait {
  if (o.wait === undefined && o.timeout === undefined && o.signal === undefined && o.onWait === undefined)
    return DEFAULT_WAIT;
  return {
    wait: toBool(o.wait, 'options.wait', true),
    timeout: toTimeout(o.timeout),
    signal: toSignal(o.signal),
    onWait: o.onWait === undefined ? undefined : toFunction(o.onWait, 'options.onWait'),
  };
}

/** The longest name a directory entry may have on the filesystems fslock runs on (bytes). */
const NAME_MAX = 255;

/**
 * A name beside `path` for a file of fslock's own: `prefix` + the last part of `path` +
 * `suffix`, or, where that would be longer than NAME_MAX (a lock name of 232–255
 * bytes is legal), `prefix` + a hash of the last part + `suffix`: the same for every
 * process, so names that must be agreed on (a reclaim claim) still are.
 */
export function besideName(path: FsPath, prefix: string, suffix: string): FsPath {
  const base = typeof path === 'string' ? Buffer.from(nodePath.basename(path)) : Buffer.from(basenameOf(path));
  const name = Buffer.concat([Buffer.from(prefix), base, Buffer.from(suffix)]);
  if (name.length <= NAME_MAX) return joinName(dirnameOf(path), name);
  // node:crypto only here, for names this long: loading it costs every start-up.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  const hash = createHash('sha256').update(base).digest('hex').slice(0, 24);
  return joinName(dirnameOf(path), `${prefix}${hash}${suffix}`);
}
