// Atomic files: the public API. Decisions and the retry loop live in lib/atomic/atomic-run.ts,
// the sequences themselves in lib/atomic/atomic-ops.ts (native: one crossing per job), temp
// names and the removal of dead writers' temps in lib/atomic/atomic-temp.ts.
import * as fs from 'node:fs';
import {
  dirnameOf,
  displayPath,
  toFsPath,
  toFunction,
  toOptions,
  toTimeout,
  type FsPath,
  type PathLike,
} from '../common/args';
import { abortReason, codeError } from '../common/errors';
import { writeChunks, writeSyncJs, type AtomicJob } from './atomic-ops';
import { sweep, sweepSync, tempPath } from './atomic-temp';
import { onSharedFs } from '../common/fstype';
import { inScopeOf, lock } from '../locks/locks';
import {
  checkOptions,
  code,
  exclusiveCommit,
  exclusiveOptions,
  job,
  named,
  report,
  run,
  runData,
  runSync,
  tempTaken,
  toBytes,
  type Data,
  type DataSource,
  type UpdateOptions,
  type WriteOptions,
} from './atomic-run';

export type { Data, DataSource, WriteOptions, UpdateOptions, MoveOptions } from './atomic-run';
export { createUnique, createUniqueSync } from './atomic-unique';
export { moveAtomic, moveAtomicSync } from './atomic-move';

// ---- writeFileAtomic ---------------------------------------------------------------

/**
 * Replaces `path` with `data` atomically: readers in any process see the old content or
 * the new, never an empty, partial or missing file, also if this process is killed at
 * any instant. The data goes to a temp file in the same directory (`.name.<token>`),
 * is flushed (unless `fsync: false`), renamed over `path`, and the directory flushed.
 * On failure the temp file is removed and `path` holds its previous content.
 *
 * @param data string, any ArrayBufferView, or an (async) iterable of those chunks.
 */
export async function writeFileAtomic(path: PathLike, data: DataSource, options?: WriteOptions): Promise<void> {
  const target = toFsPath(path);
  const c = checkOptions(options);
  await runData(job(target, new Uint8Array(0), c, 0), data, c);
}

/** Synchronous {@link writeFileAtomic} (string or ArrayBufferView data). */
export function writeFileAtomicSync(path: PathLike, data: Data, options?: Omit<WriteOptions, 'signal'>): void {
  const target = toFsPath(path);
  const c = checkOptions(options);
  runSync(job(target, toBytes(data, c.encoding), c, 0));
}

// ---- createExclusive -----------------------------------------------------------------

/**
 * Creates `path` with `data`, failing with `EEXIST` if it exists. The file appears with
 * its whole content at once: there is no instant at which it exists empty or partial.
 */
export async function createExclusive(path: PathLike, data: DataSource, options?: WriteOptions): Promise<void> {
  const target = toFsPath(path);
  const c = exclusiveOptions(options);
  await runData(job(target, new Uint8Array(0), c, exclusiveCommit), data, c);
}

/** Synchronous {@link createExclusive}. */
export function createExclusiveSync(path: PathLike, data: Data, options?: Omit<WriteOptions, 'signal'>): void {
  const target = toFsPath(path);
  const c = exclusiveOptions(options);
  runSync(job(target, toBytes(data, c.encoding), c, exclusiveCommit));
}

// ---- update -------------------------------------------------------------------------

/** What `update`'s function returns: new content, or `undefined` to leave the file as is. */
export type Updater = (current: Buffer | undefined) => Data | undefined | Promise<Data | undefined>;

/**
 * Locked read-modify-write: holds `path + '.lock'`, reads `path` (`undefined` if it does
 * not exist), and writes what `fn` returns atomically (returning `undefined` leaves the
 * file as it was), then releases. Every process that changes `path` through `update`
 * sees the previous one's result: no update is ever lost.
 */
export async function update(path: PathLike, fn: Updater, options?: UpdateOptions): Promise<void> {
  const target = toFsPath(path);
  const f = toFunction<Updater>(fn, 'fn');
  const c = checkOptions(options);
  const o = toOptions<UpdateOptions>(options);
  const timeout = toTimeout(o.timeout);
  const lockPath = typeof target === 'string' ? `${target}.lock` : Buffer.concat([target, Buffer.from('.lock')]);
  const held = await lock(lockPath, { timeout, signal: c.signal, onWait: o.onWait, name: o.name });
  try {
    const current = await readCurrent(target);
    // fn runs in an async context that holds the lock: an update() or lock of the same
    // file inside it fails at once with EDEADLK instead of waiting for itself.
    const result = await inScopeOf(held, () => f(current));
    if (result === undefined) return;
    await run(job(target, toBytes(result, c.encoding, 'the value returned by fn'), c, 0), c.signal);
  } finally {
    await held.release();
  }
}

/**
 * The current content, or undefined when there is none. On NFS and FUSE filesystems a
 * file another machine replaced can still be found under its old entry for about a
 * second: reading it then fails with ESTALE (at open, read or close), and what was read
 * may be the old file. It is read again, by name, until it is the current one.
 */
async function readCurrent(target: FsPath): Promise<Buffer | undefined> {
  const shared = typeof target === 'string' && onSharedFs(target);
  for (let attempt = 0; ; attempt++) {
    let stale: unknown;
    try {
      const data = shared ? await readPastCaches(target) : await fs.promises.readFile(target);
      if (data !== REPLACED) return data;
      stale = codeError(
        'ESTALE',
        'read',
        displayPath(target),
        undefined,
        'the file kept being replaced while it was read',
      );
    } catch (e) {
      if (code(e) === 'ENOENT') return undefined;
      if (code(e) !== 'ESTALE') throw e;
      stale = e;
    }
    if (attempt >= 200) throw stale;
    // FUSE (GlusterFS): listing the directory (READDIRPLUS) replaces the stale entry at
    // once; NFS revalidates it on the next open.
    await fs.promises.readdir(dirnameOf(target)).catch(() => undefined);
    if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(attempt, 20)));
  }
}

/** What {@link readPastCaches} gives when the name denoted a file since replaced. */
const REPLACED = Symbol('replaced');

/**
 * Reads a file on a shared filesystem as it is on the server now. GlusterFS clients
 * serve a version another client has since replaced or rewritten from their caches
 * (open-behind, quick-read, kernel FUSE caches): in the suite's cross-client counter,
 * 3 of 120 increments were lost that way although no two critical sections overlapped.
 * fsync(2) makes the client open the file for real and fetch its attributes; fstat(2)
 * then drops content cached for an older version. ENOENT or ESTALE once the file is
 * open (the client opens lazily: fsync is the first call to reach the server), or from
 * close: the name denoted a replaced file, and the caller reads again.
 */
async function readPastCaches(target: string): Promise<Buffer | typeof REPLACED> {
  const fh = await fs.promises.open(target, 'r');
  const replaced = (e: unknown) => code(e) === 'ENOENT' || code(e) === 'ESTALE';
  let data: Buffer;
  try {
    await fh.sync().catch((e: unknown) => {
      if (replaced(e)) throw e; // other failures (EINVAL: no fsync here) change nothing
    });
    await fh.stat();
    data = await fh.readFile();
  } catch (e) {
    await fh.close().catch(() => undefined);
    if (replaced(e)) return REPLACED;
    throw e;
  }
  try {
    await fh.close();
  } catch (e) {
    if (replaced(e)) return REPLACED;
    throw e;
  }
  return data;
}

// ---- for the write-file-atomic drop-in --------------------------------------------------

/** Extra options of the write-file-atomic API, which need the node:fs sequence. */
export interface FsHooks {
  chown?: { uid: number; gid: number };
  onTemp?: (temp: string) => unknown;
}

/**
 * writeFileAtomic / writeFileAtomicSync with write-file-atomic's `chown` and
 * `tmpfileCreated`: those need the temp file's name and descriptor between steps, so
 * this runs the node:fs sequence (same guarantees, more crossings).
 * @internal
 */
export function writeWithHooks(
  path: PathLike,
  data: Data,
  options: WriteOptions | undefined,
  hooks: FsHooks,
  sync: true,
): void;
export function writeWithHooks(
  path: PathLike,
  data: Data,
  options: WriteOptions | undefined,
  hooks: FsHooks,
  sync: false,
): Promise<void>;
export function writeWithHooks(
  path: PathLike,
  data: Data,
  options: WriteOptions | undefined,
  hooks: FsHooks,
  sync: boolean,
): void | Promise<void> {
  const target = toFsPath(path);
  const c = checkOptions(options);
  const onTemp = hooks.onTemp;
  const j: AtomicJob = {
    ...named(job(target, toBytes(data, c.encoding), c, 0)),
    chown: hooks.chown,
    onTemp: onTemp && ((temp) => onTemp(displayPath(temp))),
  };
  if (sync) {
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          return writeSyncJs(attempt ? { ...j, temp: tempPath(j.dir, target) } : j);
        } catch (e) {
          if (!(tempTaken(e, j) && attempt < 1000)) throw report(e, target);
        }
      }
    } finally {
      sweepSync(j.dir);
    }
  }
  return (async () => {
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          return await writeChunks(attempt ? { ...j, temp: tempPath(j.dir, target) } : j, [j.data], c.signal);
        } catch (e) {
          if (c.signal?.aborted) throw abortReason(c.signal);
          if (!(tempTaken(e, j) && attempt < 1000)) throw report(e, target);
        }
      }
    } finally {
      await sweep(j.dir);
    }
  })();
}
