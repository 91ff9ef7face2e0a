// The declarations use Node's types (Buffer, AbortSignal, URL...): they stand alone also under
// "types": [] (tsc --init of TypeScript 6 and 7). preserve: TypeScript 5.5+ drops the line otherwise.
/// <reference types="node" preserve="true" />
// fslock/write-file-atomic: the write-file-atomic API (v5+: promise or callback, and
// `.sync`) on fslock's atomic writes. Same options; differences (all in the stronger
// direction) are listed in docs/migrating.md.
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
  chown?: { uid: number; gid: number };
  /** Encoding of string data (default 'utf8'). */
  encoding?: BufferEncoding | null;
  /** Flush before the rename (default true; fslock also flushes the directory after). */
  fsync?: boolean;
  /** File mode (default: the existing file's, else 0o666 minus the umask). */
  mode?: number;
  /** Called with the temp file's path once it exists (may return a promise). */
  tmpfileCreated?: (tmpfile: string) => unknown;
}

/** The node-style callback of the callback form. */
export type Callback = (err: Error | null) => void;
/** What is written: a string, or the bytes of a Buffer, TypedArray or DataView. */
export type Data = string | ArrayBufferView;

function normalize(options: Options | BufferEncoding | undefined | null): Options {
  if (typeof options === 'string') return { encoding: options };
  return { ...options };
}

/** write-file-atomic writes through symlinks (it resolves the real path first). */
function realTarget(filename: string): string {
  try {
    return fs.realpathSync(filename);
  } catch {
    return nodePath.resolve(filename);
  }
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
 * The options for fslock's write. An explicit chown is done by name on the temp file,
 * tolerating what write-file-atomic tolerates (a non-root chown to another user is not an
 * error there). As in write-file-atomic, the mode then comes from the existing file
 * (`existingMode`), so that nothing copies the old owner over the explicit one.
 */
function split(o: Options, sync: boolean, existingMode: number | undefined) {
  const hooks: FsHooks = {};
  const { chown, tmpfileCreated } = o;
  let mode = o.mode;
  if (chown) {
    if (mode == null) mode = existingMode;
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
  const rest = { mode, fsync: o.fsync, encoding: o.encoding ?? undefined };
  return { hooks, rest, needsFs: !!hooks.onTemp };
}

function statQuiet(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined; // as write-file-atomic: the write itself will say what is wrong
  }
}

const modeOf = (st: fs.Stats | undefined) => (st ? st.mode & 0o7777 : undefined);

// Writes to one file from this process land in call order, as in write-file-atomic.
const queues = new Map<string, Promise<void>>();

function serialized(target: string, run: () => Promise<void>): Promise<void> {
  const prev = queues.get(target) ?? Promise.resolve();
  const next = prev.then(run, run);
  const tail = next.catch(() => undefined);
  queues.set(target, tail);
  void tail.then(() => {
    if (queues.get(target) === tail) queues.delete(target);
  });
  return next;
}

/**
 * `writeFileAtomic(filename, data, [options], [callback])`: a promise without a
 * callback; with one, `callback(err)` (and a promise of the callback's call).
 */
function writeFileAtomic(
  filename: string,
  data: Data,
  options?: Options | BufferEncoding | Callback,
  callback?: Callback,
): Promise<void> {
  if (typeof options === 'function') {
    callback = options;
    options = undefined;
  }
  const o = normalize(options);
  const promise = (async () => {
    const target = realTarget(filename);
    const d = toData(data);
    await serialized(target, async () => {
      const existing =
        o.chown && o.mode == null ? modeOf(await fs.promises.stat(target).catch(() => undefined)) : undefined;
      const { hooks, rest, needsFs } = split(o, false, existing);
      await (needsFs ? writeWithHooks(target, d, rest, hooks, false) : write(target, d, rest));
    });
  })();
  if (!callback) return promise;
  // As write-file-atomic (an async function): with a callback the returned promise
  // settles once the callback has been called, and the error goes to the callback only.
  const cb = callback;
  return promise.then(
    () => cb(null),
    (e: Error) => cb(e),
  );
}

/** `writeFileAtomic.sync(filename, data, [options])`. */
function writeFileAtomicSync(filename: string, data: Data, options?: Options | BufferEncoding): void {
  const o = normalize(options);
  const target = realTarget(filename);
  const existing = o.chown && o.mode == null ? modeOf(statQuiet(target)) : undefined;
  const { hooks, rest, needsFs } = split(o, true, existing);
  const d = toData(data);
  if (needsFs) writeWithHooks(target, d, rest, hooks, true);
  else writeSync(target, d, rest);
}

const api = Object.assign(writeFileAtomic, { sync: writeFileAtomicSync });
export default api;
export { writeFileAtomicSync as sync };
// `require('fslock/write-file-atomic')` is the function itself, like write-file-atomic.
module.exports = Object.assign(api, { default: api, sync: writeFileAtomicSync });
