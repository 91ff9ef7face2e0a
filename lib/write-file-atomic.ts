// fslock/write-file-atomic: the write-file-atomic API (v5+: promise or callback, and
// `.sync`) on fslock's atomic writes. Same options; differences (all in the stronger
// direction) are listed in the README, "Migrating".
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { writeFileAtomic as write, writeFileAtomicSync as writeSync, writeWithHooks, type FsHooks } from './atomic';

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

type Callback = (err: Error | null) => void;
type Data = string | ArrayBufferView;

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

function split(o: Options) {
  const hooks: FsHooks = {};
  if (o.chown) hooks.chown = o.chown;
  if (o.tmpfileCreated) hooks.onTemp = o.tmpfileCreated;
  const rest = { mode: o.mode, fsync: o.fsync, encoding: o.encoding ?? undefined };
  return { hooks, rest, needsFs: !!(o.chown || o.tmpfileCreated) };
}

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
 * callback; with one, `callback(err)` and undefined.
 */
function writeFileAtomic(filename: string, data: Data, options?: Options | BufferEncoding | Callback, callback?: Callback): Promise<void> | undefined {
  if (typeof options === 'function') {
    callback = options;
    options = undefined;
  }
  const o = normalize(options);
  const promise = (async () => {
    const target = realTarget(filename);
    const { hooks, rest, needsFs } = split(o);
    await serialized(target, () => (needsFs ? writeWithHooks(target, data, rest, hooks, false) : write(target, data, rest)));
  })();
  if (!callback) return promise;
  const cb = callback;
  promise.then(
    () => cb(null),
    (e: Error) => cb(e),
  );
  return undefined;
}

/** `writeFileAtomic.sync(filename, data, [options])`. */
function writeFileAtomicSync(filename: string, data: Data, options?: Options | BufferEncoding): void {
  const o = normalize(options);
  const target = realTarget(filename);
  const { hooks, rest, needsFs } = split(o);
  if (needsFs) writeWithHooks(target, data, rest, hooks, true);
  else writeSync(target, data, rest);
}

const api = Object.assign(writeFileAtomic, { sync: writeFileAtomicSync });
export default api;
export { writeFileAtomicSync as sync };
// `require('fslock/write-file-atomic')` is the function itself, like write-file-atomic.
module.exports = Object.assign(api, { default: api, sync: writeFileAtomicSync });
