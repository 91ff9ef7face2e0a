// One place builds every error, so native, fallback and argument errors all look
// like Node's own (lib/internal/errors.js uvException): `CODE: description, syscall
// 'path'` with code, errno, syscall and path.
import * as util from 'node:util';
import { hostname } from 'node:os';
import { extraErrno } from './errno-names';
import { holderPhrase } from './diagnostics';
import type { Holder } from './holder';

const thisHost = hostname();

export interface FsLockError extends Error {
  code: string;
  errno?: number;
  syscall?: string;
  path?: string;
  dest?: string;
}

const systemErrors: Map<number, [string, string]> = util.getSystemErrorMap();
let uvByName: Map<string, number> | undefined;

/** Names and descriptions of errnos libuv lacks, learned as they are met (ESTALE…). */
const extraByName = new Map<string, [number, string]>();

/** libuv's (negative) errno for an error name, as Node's fs errors carry it. */
export function uvErrno(code: string): number | undefined {
  if (!uvByName) {
    uvByName = new Map();
    for (const [errno, [name]] of systemErrors) uvByName.set(name, errno);
  }
  return uvByName.get(code) ?? extraByName.get(code)?.[0];
}

/** Node's description of an error code ('EBUSY' -> 'resource busy or locked'). */
export function describeCode(code: string): string {
  const errno = uvErrno(code);
  const entry = errno === undefined ? undefined : systemErrors.get(errno);
  return entry ? entry[1] : (extraByName.get(code)?.[1] ?? code.toLowerCase());
}

/**
 * Error for an OS failure given by its code name (`EAGAIN`), optionally with the
 * platform's own code for the message (Windows: the Win32 error number).
 */
export function codeError(code: string, syscall: string, path?: string, dest?: string, detail?: string): FsLockError {
  let message = `${code}: ${detail ?? describeCode(code)}, ${syscall}`;
  if (path !== undefined) message += ` '${path}'`;
  if (dest !== undefined) message += ` -> '${dest}'`;
  const err = new Error(message) as FsLockError;
  err.code = code;
  const errno = uvErrno(code);
  if (errno !== undefined) err.errno = errno;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  if (dest !== undefined) err.dest = dest;
  Error.captureStackTrace(err, codeError);
  return err;
}

/** The platform hook that names a negative native result (Windows adds its table). */
export type ErrorNamer = (result: number) => { code: string; detail?: string };

let namer: ErrorNamer = (result) => {
  const entry = systemErrors.get(result);
  if (entry) return { code: entry[0] };
  const extra = extraErrno(result);
  if (!extra) return { code: `Unknown system error ${result}` };
  extraByName.set(extra[0], [result, extra[1]]);
  return { code: extra[0], detail: extra[1] };
};

export function setErrorNamer(fn: ErrorNamer): void {
  namer = fn;
}

/** Error for a negative result of a native call (-errno on POSIX). */
export function osError(result: number, syscall: string, path?: string, dest?: string): FsLockError {
  const { code, detail } = namer(result);
  return codeError(code, syscall, path, dest, detail);
}

/** Name of a negative native result, e.g. 'EAGAIN'. */
export function errorCode(result: number): string {
  return namer(result).code;
}

/**
 * The code of an error thrown by node:fs, named where libuv has no name for it: Node
 * reports ESTALE (NFS, FUSE) as `Unknown system error -116`. The error is renamed in
 * place (code and message) so that it reaches callers named too.
 */
export function fsErrorCode(e: unknown): string | undefined {
  const err = e as (Error & { code?: string; errno?: unknown }) | undefined;
  if (!err || typeof err.code !== 'string') return undefined;
  if (err.code.startsWith('Unknown system error') && typeof err.errno === 'number') {
    const name = errorCode(err.errno);
    if (!name.startsWith('Unknown')) {
      err.message = err.message.replace(/^Unknown system error -?\d+: [^,]*/, `${name}: ${describeCode(name)}`);
      err.code = name;
    }
  }
  return err.code;
}

/** Who holds it, for the advice of ELOCKED and ETIMEDOUT: "pid 4121 (jest)", or undefined when unknown. */
function whoShort(h: Holder): string | undefined {
  return h.pid === undefined ? undefined : `pid ${h.pid}${h.name ? ` (${h.name})` : ''}`;
}

function isSelf(h: Holder): boolean {
  return h.pid === process.pid && h.hostname === thisHost;
}

/**
 * `ELOCKED`: the lock is held and the caller asked not to wait. `holder`: who holds it
 * (a Holder, or a description); `option`: what made the call give up (its name in
 * the message, e.g. `options.wait` "is false", or the command's `-n` "was given"; default `options.wait` when
 * the holder is known; without either the message is the bare "lock is held" that the
 * proper-lockfile entry point gives).
 */
export function lockedError(path: string, holder?: Holder | string, option?: string): FsLockError {
  // An option is false (`options.wait`); a command's flag (`-n`) was given.
  const bound = (o: string) => (o.startsWith('-') ? `${o} was given` : `${o} is false`);
  let detail: string;
  if (holder === undefined && option !== undefined)
    detail = `lock is held, and ${bound(option)}: try again later or wait for it (with a timeout)`;
  else if (holder === undefined || typeof holder === 'string') detail = `lock is held${holder ? ` by ${holder}` : ''}`;
  else {
    const why = `lock is held by ${holderPhrase(holder)}, and ${bound(option ?? 'options.wait')}`;
    const who = whoShort(holder);
    detail = isSelf(holder)
      ? `${why}: this process holds it (another Lock, thread or call of it); release that lock first`
      : `${why}: try again later or wait for it (with a timeout), or find out why ${who ?? 'its holder'} holds it`;
  }
  const err = codeError('ELOCKED', 'lock', path, undefined, detail);
  delete err.errno;
  return err;
}

/** `ETIMEDOUT`: the wait outlasted its `timeout` (`option` names it in the message). */
export function timeoutError(
  path: string | undefined,
  ms: number,
  holder?: Holder | string,
  option = 'options.timeout',
): FsLockError {
  let detail = `lock not acquired within ${ms} ms (${option})`;
  if (typeof holder === 'string') detail += `, held by ${holder}`;
  else if (holder === undefined) detail += `; raise ${option}, or find out who holds it`;
  else if (isSelf(holder))
    detail += `, held by ${holderPhrase(holder)}: this process waited for a lock it holds itself (another Lock, thread or call of it); release that lock first`;
  else {
    const who = whoShort(holder);
    detail += `, held by ${holderPhrase(holder)}; raise ${option}, or find out why ${who ?? 'its holder'} holds it`;
  }
  return codeError('ETIMEDOUT', 'lock', path, undefined, detail);
}

/** `ELOCKLOST`: the lock was taken by another host while this holder's lease lapsed. */
export function lockLostError(path: string): FsLockError {
  const err = codeError(
    'ELOCKLOST',
    'lock',
    path,
    undefined,
    'lock was lost: its lease lapsed (the holder was paused or cut off) and another process took it',
  );
  delete err.errno;
  return err;
}

const DEADLOCKS = {
  context:
    'held by this process, by this async context (a lock call nested in the withLock callback that holds it ' +
    'would wait for itself): pass { reentrant: true } to nest in it, or take the lock once, outside',
  upgrade:
    'held by this process, shared, by this async context: an exclusive lock nested in it would wait for ' +
    'itself (release the shared lock first)',
  thread:
    'held by this process, by this thread: a blocking call (lockSync, flockSync, lockRangeSync) would block ' +
    'the thread that must release it (release it first, or use the async form, which waits without blocking)',
  waiting:
    'a lock() call of this thread is waiting for it: a blocking call would block the thread that call needs ' +
    'to take its turn (await that call first, or use the async form)',
  descriptor:
    'held by this process, by this thread, through a descriptor lock (flock or lockRange) on another open ' +
    'of the same file: a blocking call would block the thread that must release it (unlock it first, or ' +
    'use the async form, which waits without blocking)',
  copy:
    'held by this process, by this async context, through another copy of fslock loaded in this process ' +
    '(two versions in node_modules): a lock call nested in it would wait for itself (take the lock once, ' +
    'outside, or dedupe fslock)',
};

/** `EDEADLK`: the call would wait for a lock only its own thread or context can release. */
export function deadlockError(path: string, why: keyof typeof DEADLOCKS, syscall = 'lock'): FsLockError {
  return codeError('EDEADLK', syscall, path, undefined, DEADLOCKS[why]);
}

/** `ENOTSUP`: the fallback backend cannot do this. */
export function notSupportedError(syscall: string, why: string): FsLockError {
  return codeError('ENOTSUP', syscall, undefined, undefined, why);
}

/**
 * The rejection of an aborted call. A reason given to `abort(reason)` is passed
 * through as is; the default one (a DOMException) becomes Node's own AbortError
 * (code ABORT_ERR, the reason as `cause`), as fs.readFile and timers/promises do.
 */
export function abortReason(signal: AbortSignal): unknown {
  const reason: unknown = signal.reason;
  const isDefault =
    reason === undefined ||
    (typeof DOMException !== 'undefined' && reason instanceof DOMException && reason.name === 'AbortError');
  if (!isDefault) return reason;
  const err = new Error('The operation was aborted', { cause: reason }) as FsLockError;
  err.name = 'AbortError';
  err.code = 'ABORT_ERR';
  Error.captureStackTrace(err, abortReason);
  return err;
}

// ---- argument errors (ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE)

function received(value: unknown): string {
  if (value == null) return ` Received ${value}`;
  if (typeof value === 'function') return ` Received function ${value.name || '<anonymous>'}`;
  if (typeof value === 'object') {
    const name = (value as object).constructor?.name;
    return name ? ` Received an instance of ${name}` : ` Received ${util.inspect(value, { depth: -1 })}`;
  }
  let shown = util.inspect(value, { colors: false });
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return ` Received type ${typeof value} (${shown})`;
}

function argError<T extends Error>(Ctor: new (m: string) => T, code: string, message: string): T & { code: string } {
  const err = new Ctor(message) as T & { code: string };
  err.code = code;
  Error.captureStackTrace(err, argError);
  return err;
}

/**
 * Node's wording (lib/internal/errors.js): `The "path" argument`, `The "options.mode"
 * property`; a name that is a description (`the value returned by fn`) is used as is.
 */
function subject(name: string): string {
  if (name.includes(' ')) return name.charAt(0).toUpperCase() + name.slice(1);
  return `The "${name}" ${name.includes('.') ? 'property' : 'argument'}`;
}

export function invalidArgType(name: string, expected: string, value: unknown): TypeError & { code: string } {
  return argError(TypeError, 'ERR_INVALID_ARG_TYPE', `${subject(name)} must be ${expected}.${received(value)}`);
}

export function invalidArgValue(name: string, value: unknown, reason: string): TypeError & { code: string } {
  let shown = util.inspect(value, { colors: false });
  if (shown.length > 128) shown = `${shown.slice(0, 128)}...`;
  const who = name.includes(' ') ? subject(name) : `The ${name.includes('.') ? 'property' : 'argument'} '${name}'`;
  return argError(TypeError, 'ERR_INVALID_ARG_VALUE', `${who} ${reason}. Received ${shown}`);
}

/** A value of the right type outside its range: RangeError, ERR_INVALID_ARG_VALUE (SPEC). */
export function outOfRange(name: string, range: string, value: unknown): RangeError & { code: string } {
  return argError(
    RangeError,
    'ERR_INVALID_ARG_VALUE',
    `The value of "${name}" is out of range. It must be ${range}. Received ${util.inspect(value)}`,
  );
}
