// The declarations use Node's types (Buffer, AbortSignal, URL...): they stand alone also under
// "types": [] (tsc --init of TypeScript 6 and 7). preserve: TypeScript 5.5+ drops the line otherwise.
/// <reference types="node" preserve="true" />
// fslock/write-file-atomic: the write-file-atomic API (v5+: promise or callback, and
// `.sync`) on fslock's atomic writes. Same options, read the way write-file-atomic reads
// them (test/write-file-atomic-compat.test.js checks each on disk against the original);
// differences (all in the stronger direction) are listed in docs/migrating.md.
/**
 * The write-file-atomic API (a promise or a callback, and `.sync`; the module itself is
 * the function) on fslock's atomic writes. See docs/migrating.md.
 * @module fslock/write-file-atomic
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import {
  writeFileAtomic as write,
  writeFileAtomicSync as writeSync,
  writeWithHooks,
  type FsHooks,
} from './atomic/atomic';

export interface Options {
  /** Owner of the written file (default: the existing file's owner, where permitted). */
  chown?: { uid: number; gid: number } | null;
  /** Encoding of string data (default 'utf8'). */
  encoding?: BufferEncoding | null;
  /** Flush before the rename (default true; fslock also flushes the directory after). */
  fsync?: boolean;
  /**
   * File mode: a number or an octal string (`'0640'`). Default: the existing file's,
   * else 0o666 minus the umask. `null`, `undefined` and `false` mean "not given" (and in
   * `.sync`, as in write-file-atomic, any falsy value: `0`, `''`).
   */
  mode?: number | string | null | false;
  /** Called with the temp file's path once it exists (may return a promise). */
  tmpfileCreated?: (tmpfile: string) => unknown;
}

/**
 * The callback of the callback form: called as write-file-atomic calls it, with
 * `undefined` on success or the error. Declared with method bivariance so that callbacks
 * typed `(err?: Error) => void` (write-file-atomic's) and `(err: Error | null) => void`
 * (Node's habit, and this module's earlier type) both fit.
 */
export type Callback = { bivarianceHack(err?: Error | null): unknown }['bivarianceHack'];
/** What is written: a string, or the bytes of a Buffer, TypedArray or DataView. */
export type Data = string | ArrayBufferView;

function normalize(options: Options | BufferEncoding | undefined | null): Options {
  if (typeof options === 'string') return { encoding: options };
  return { ...options };
}

/** write-file-atomic writes views as they are and anything else as `String(data)` (null/undefined: empty). */
function toData(data: unknown): Data {
  if (ArrayBuffer.isView(data)) return data;
  return data == null ? '' : String(data);
}

/** write-file-atomic's isChownErrOk: ENOSYS always, EINVAL/EPERM when not root. */
function chownErrOk(e: NodeJS.ErrnoException): boolean {
  if (e.code === 'ENOSYS') return true;
  const root = !!process.getuid && process.getuid() === 0;
  return !root && (e.code === 'EINVAL' || e.code === 'EPERM');
}

/**
 * The mode as write-file-atomic takes it: `null`/`undefined` are "not given" (the old
 * file's mode is kept), and so is `false` (write-file-atomic's promise form throws on
 * it, its `.sync` keeps the mode); `.sync` also takes any other falsy value that way
 * (`!options.mode`). Anything else goes to fslock, which reads numbers and octal
 * strings as node:fs does.
 */
function modeOf(o: Options, sync: boolean): number | string | undefined {
  const m = o.mode;
  if (m == null || m === false || (sync && !m)) return undefined;
  // A whole st_mode (write-file-atomic's promise form stores stats.mode into the options
  // object it is given, so callers who reuse one pass it back): chmod(2) keeps the
  // permission bits of it.
  return typeof m === 'number' && Number.isSafeInteger(m) && m > 0o7777 ? m & 0o7777 : m;
}

/**
 * fslock's options and hooks for write-file-atomic's. fslock carries the existing
 * file's owner, mode, ACL and attributes itself (also with a `mode`: only the mode
 * changes, as in write-file-atomic, where the owner is copied unless `chown` is given).
 * An explicit `chown` is done by name on the temp file once fslock has copied the old
 * owner, tolerating what write-file-atomic tolerates (a non-root chown to another user
 * is not an error there).
 */
function split(o: Options, sync: boolean) {
  const hooks: FsHooks = {};
  const { chown, tmpfileCreated } = o;
  if (chown) {
    hooks.onTemp = sync
      ? (tmp) => {
          tmpfileCreated?.(tmp);
          try {
            fs.chownSync(tmp, chown.uid, chown.gid);
          } catch (e) {
            if (!chownErrOk(e as NodeJS.ErrnoException)) throw e;
          }
        }
      : async (tmp) => {
          await tmpfileCreated?.(tmp);
          await fs.promises.chown(tmp, chown.uid, chown.gid).catch((e: NodeJS.ErrnoException) => {
            if (!chownErrOk(e)) throw e;
          });
        };
  } else if (tmpfileCreated) hooks.onTemp = tmpfileCreated;
  // write-file-atomic: String(options.encoding || 'utf8'), fsync unless `false`.
  const rest = {
    mode: modeOf(o, sync),
    fsync: o.fsync !== false,
    encoding: (o.encoding || 'utf8') as BufferEncoding,
  };
  return { hooks, rest, needsFs: !!hooks.onTemp };
}

// Writes to one file from this process land in call order, as in write-file-atomic
// (whose queue is keyed by path.resolve(filename), not by the file a link names).
const queues = new Map<string, Promise<void>>();

function serialized(key: string, run: () => Promise<void>): Promise<void> {
  const prev = queues.get(key) ?? Promise.resolve();
  const next = prev.then(run, run);
  const tail = next.catch(() => undefined);
  queues.set(key, tail);
  void tail.then(() => {
    if (queues.get(key) === tail) queues.delete(key);
  });
  return next;
}

async function writeAsync(filename: string, data: unknown, o: Options): Promise<void> {
  const key = nodePath.resolve(filename);
  const d = toData(data);
  await serialized(key, async () => {
    // A final symlink is written through by fslock (resolved once, never a link another
    // user planted in a sticky directory: write-file-atomic's realpath follows those).
    const { hooks, rest, needsFs } = split(o, false);
    await (needsFs ? writeWithHooks(filename, d, rest, hooks, false) : write(filename, d, rest));
  });
}

/**
 * `writeFileAtomic(filename, data, [options], [callback])`: a promise without a
 * callback; with one, `callback()` on success or `callback(err)`, and a promise of what
 * the callback returns — exactly as write-file-atomic (an async function) does, down to
 * calling the callback again with the error when it throws.
 */
async function writeFileAtomic(
  filename: string,
  data: Data,
  options?: Options | BufferEncoding | Callback | null,
  callback?: Callback,
): Promise<unknown> {
  if (options instanceof Function) {
    callback = options;
    options = undefined;
  }
  const promise = writeAsync(filename, data, normalize(options));
  if (callback) {
    try {
      await promise;
      return callback(undefined); // write-file-atomic: callback(result), result undefined
    } catch (err) {
      return callback(err as Error);
    }
  }
  return promise;
}

/** `writeFileAtomic.sync(filename, data, [options])`. */
function writeFileAtomicSync(filename: string, data: Data, options?: Options | BufferEncoding | null): void {
  const o = normalize(options);
  const { hooks, rest, needsFs } = split(o, true);
  const d = toData(data);
  if (needsFs) writeWithHooks(filename, d, rest, hooks, true);
  else writeSync(filename, d, rest);
}

const api = Object.assign(writeFileAtomic, { sync: writeFileAtomicSync });
export default api;
export { writeFileAtomicSync as sync };
// `require('fslock/write-file-atomic')` is the function itself, like write-file-atomic.
module.exports = Object.assign(api, { default: api, sync: writeFileAtomicSync });
