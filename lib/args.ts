// Argument checks shared by every public function: bad input fails before anything
// touches the disk, with Node's own codes.
import * as nodePath from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalidArgType, invalidArgValue, outOfRange } from './errors';

export type PathLike = string | Buffer | URL;

/** A path argument as an absolute string (string, Buffer or file: URL; no NUL bytes). */
export function toPath(value: unknown, name = 'path'): string {
  let p: string;
  if (typeof value === 'string') p = value;
  else if (Buffer.isBuffer(value)) p = value.toString('utf8');
  else if (value instanceof URL) {
    if (value.protocol !== 'file:') throw invalidArgValue(name, value.href, 'must be a file: URL');
    p = fileURLToPath(value);
  } else throw invalidArgType(name, 'of type string or an instance of Buffer or URL', value);
  if (p.includes('\0')) throw invalidArgValue(name, p, 'must be a string, Uint8Array, or URL without null bytes');
  if (p.length === 0) throw invalidArgValue(name, p, 'must be a non-empty path');
  // Resolved once: release() must remove this file even if the process chdir()s.
  return nodePath.resolve(p);
}

export function toOptions<T extends object>(value: unknown, name = 'options'): Partial<T> {
  if (value === undefined || value === null) return {};
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
 * waits arm their timers through lib/long-timer.ts (setLongTimeout / waitChunk).
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
  if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) throw outOfRange(name, '>= 0 && <= 2147483647', value);
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
}

export interface CheckedWait {
  wait: boolean;
  timeout: number | undefined;
  signal: AbortSignal | undefined;
}

export function toWait(o: Partial<WaitOptions>): CheckedWait {
  return { wait: toBool(o.wait, 'options.wait', true), timeout: toTimeout(o.timeout), signal: toSignal(o.signal) };
}
