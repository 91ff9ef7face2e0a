// Atomic files: the public API. Decisions and the retry loop live in lib/atomic/atomic-run.ts,
// the sequences themselves in lib/atomic/atomic-ops.ts (native: one crossing per job), temp
// names and the removal of dead writers' temps in lib/atomic/atomic-temp.ts, symlinks in
// lib/atomic/atomic-links.ts, the read that pairs with them in lib/atomic/atomic-read.ts.
import { besideName, displayPath, toFsPath, toFunction, toOptions, toTimeout, type PathLike } from '../common/args';
import { fsErrorCode } from '../common/errors';
import { checkReadWrite } from '../common/permission';
import { writeChunks, writeSyncJs, type AtomicJob } from './atomic-ops';
import { resolveLink } from './atomic-links';
import { readCurrent } from './atomic-read';
import { inScopeOf, lock } from '../locks/locks';
import {
  checkOptions,
  exclusiveCommit,
  exclusiveOptions,
  job,
  named,
  run,
  runData,
  runJs,
  runJsSync,
  runSync,
  toBytes,
  type Data,
  type DataSource,
  type UpdateOptions,
  type WriteOptions,
} from './atomic-run';
import { AtomicFlags } from '../native/binding';

export type { Data, DataSource, WriteOptions, UpdateOptions, MoveOptions } from './atomic-run';
export { createUnique, createUniqueSync } from './atomic-unique';
export { moveAtomic, moveAtomicSync } from './atomic-move';
export { readFile, readFileSync, type ReadOptions } from './atomic-read';

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
  const c = checkOptions(options, true);
  runSync(job(target, toBytes(data, c.encoding), c, 0), c);
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
  const c = exclusiveOptions(options, true);
  runSync(job(target, toBytes(data, c.encoding), c, exclusiveCommit), c);
}

// ---- update -------------------------------------------------------------------------

/** What `update`'s function returns: new content, or `undefined` to leave the file as is. */
export type Updater = (current: Buffer | undefined) => Data | undefined | Promise<Data | undefined>;

/**
 * Locked read-modify-write: holds `path + '.lock'`, reads `path` (`undefined` if it does
 * not exist), and writes what `fn` returns atomically (returning `undefined` leaves the
 * file as it was), then releases. Every process that changes `path` through `update`
 * sees the previous one's result: no update is ever lost. A symlink at `path` is
 * resolved once, first: the file it names is read and replaced (the lock stays the one
 * of the name given). A name too long for `.lock` gets a shortened lock name
 * (`besideName`: a hash of the name, then `.lock`).
 */
export async function update(path: PathLike, fn: Updater, options?: UpdateOptions): Promise<void> {
  checkReadWrite(path);
  const given = toFsPath(path);
  const f = toFunction<Updater>(fn, 'fn');
  const c = checkOptions(options);
  const o = toOptions<UpdateOptions>(options);
  const timeout = toTimeout(o.timeout);
  const lockPath = besideName(given, '', '.lock');
  checkReadWrite(lockPath);
  const held = await lock(lockPath, {
    timeout,
    signal: c.signal,
    createParents: c.parents,
    onWait: o.onWait,
    name: o.name,
  });
  try {
    const target = c.flags & AtomicFlags.NoSymlink ? await resolveLink(given) : given;
    if (target !== given) checkReadWrite(target);
    let current: Buffer | undefined;
    try {
      current = await readCurrent(target);
    } catch (e) {
      if (fsErrorCode(e) !== 'ENOENT') throw e;
    }
    // fn runs in an async context that holds the lock: an update() or lock of the same
    // file inside it fails at once with EDEADLK instead of waiting for itself.
    const result = await inScopeOf(held, () => f(current));
    if (result === undefined) return;
    await run(job(target, toBytes(result, c.encoding, 'the value returned by fn'), c, 0), c);
  } finally {
    await held.release();
  }
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
 * this runs the node:fs sequence (same guarantees and metadata, more crossings).
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
  const c = checkOptions(options, sync);
  const onTemp = hooks.onTemp;
  const j: AtomicJob = {
    ...named(job(target, toBytes(data, c.encoding), c, 0)),
    chown: hooks.chown,
    onTemp: onTemp && ((temp) => onTemp(displayPath(temp))),
  };
  if (sync) {
    runJsSync(j, c, writeSyncJs);
    return;
  }
  return runJs(j, c, (jt) => writeChunks(jt, [jt.data], c.signal)).then(() => undefined);
}
