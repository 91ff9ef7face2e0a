// Atomic files: every decision about a write (argument checks, which commit strategy a
// directory gets, what is retried, how errors are labelled) and the loop that runs a
// job through lib/atomic/atomic-ops.ts (native: one crossing per job) until it succeeds
// or fails for good. The public functions are in lib/atomic/atomic.ts,
// lib/atomic/atomic-unique.ts and lib/atomic/atomic-move.ts.
import * as fs from 'node:fs';
import { types } from 'node:util';
import { displayPath, dirnameOf, pathKey, toBool, toInteger, toOptions, toSignal, type FsPath } from '../common/args';
import { AtomicFlags, backendName } from '../native/binding';
import {
  abortReason,
  codeError,
  fsErrorCode,
  invalidArgType,
  invalidArgValue,
  type FsLockError,
} from '../common/errors';
import { FoundSymlink, ops, writeChunks, type AtomicJob } from './atomic-ops';
import { sweep, sweepAgain, sweepSync, tempPath } from './atomic-temp';
import { resolveLink, resolveLinkSync } from './atomic-links';
import { sleep, sleepSync } from '../protocol/lock-backend';
import { checkAccess } from '../common/permission';
import { explainDirError, explainDirErrorSync, makeParents, makeParentsSync } from '../common/dirs';
import { debug, debugOn, retried } from '../common/diagnostics';
import { writeEnded, writeFailed, writeStart } from './atomic-diag';
import type { LockOptions } from '../locks/locks';

/** Data of a write: text, or bytes of any ArrayBufferView. */
export type Data = string | ArrayBufferView;
/** The promise API also takes the data as (async) chunks, written one after another. */
export type DataSource = Data | Iterable<Data> | AsyncIterable<Data>;

export interface WriteOptions {
  /** Encoding of string data (default `'utf8'`). */
  encoding?: BufferEncoding;
  /**
   * Mode of the file: a number, or a string of octal digits as node:fs takes it
   * (`'0640'`, `'640'`). Default: the existing file's mode, or `0o666` minus the umask
   * for a new file. Given, it is set exactly (like `chmod`: the umask does not apply);
   * the existing file's owner, ACL and extended attributes are still carried over.
   */
  mode?: number | string;
  /** Make the content durable before it becomes visible, and the rename after (default `true`). */
  fsync?: boolean;
  /** Abort the write (promise API): the target is left untouched, the temp file removed. */
  signal?: AbortSignal;
  /**
   * `true` (default): a target that is a symlink is written through — the file it names
   * (at the end of the chain) is replaced, in that file's directory, and the link stays.
   * `false`: the link itself is replaced by the new file.
   */
  followSymlink?: boolean;
  /**
   * Create the target's directory, and its missing parents, when it does not exist
   * (like `mkdir -p`: mode `0o777` minus the umask). Default `false`: `ENOENT`, naming
   * the missing directory.
   */
  createParents?: boolean;
}

export interface UpdateOptions extends WriteOptions, Pick<LockOptions, 'onWait' | 'name'> {
  /** Give up waiting for `path + '.lock'` after this many milliseconds (`ETIMEDOUT`). */
  timeout?: number;
}

export interface MoveOptions {
  /** Replace an existing `to` (default `true`); `false` fails with `EEXIST` instead. */
  overwrite?: boolean;
}

// ---- arguments -----------------------------------------------------------------------

export interface Checked {
  mode: number;
  flags: number;
  encoding: BufferEncoding;
  signal: AbortSignal | undefined;
  /** createParents */
  parents: boolean;
  /** A synchronous call (it may block its thread to learn about a directory). */
  sync: boolean;
}

/** node:fs's modes: an integer, or a string of octal digits (parseFileMode). */
export function toMode(value: unknown, name: string): number {
  let mode: number;
  if (typeof value === 'string') {
    if (!/^[0-7]+$/.test(value))
      throw invalidArgValue(name, value, 'must be a 32-bit unsigned integer or an octal string');
    mode = parseInt(value, 8);
  } else mode = toInteger(value, name, 0);
  if (mode > 0o7777) throw invalidArgValue(name, mode, 'must be a file mode between 0 and 0o7777');
  return mode;
}

export function checkOptions(options: unknown, sync = false): Checked {
  const o = toOptions<WriteOptions>(options);
  let encoding: BufferEncoding = 'utf8';
  if (o.encoding !== undefined && o.encoding !== null) {
    if (typeof o.encoding !== 'string' || !Buffer.isEncoding(o.encoding)) {
      throw invalidArgValue('options.encoding', o.encoding, 'is invalid encoding');
    }
    encoding = o.encoding;
  }
  const explicitMode = o.mode !== undefined;
  const mode = explicitMode ? toMode(o.mode, 'options.mode') : 0o666;
  // The owner, the ACL and the attributes are the old file's whatever the mode.
  let flags =
    AtomicFlags.KeepOwner | AtomicFlags.KeepAttrs | AtomicFlags.RegularOnly | (explicitMode ? AtomicFlags.Chmod : 0);
  if (toBool(o.followSymlink, 'options.followSymlink', true)) flags |= AtomicFlags.NoSymlink;
  if (toBool(o.fsync, 'options.fsync', true)) flags |= AtomicFlags.Sync | AtomicFlags.SyncDir;
  const parents = toBool(o.createParents, 'options.createParents', false);
  return { mode, flags, encoding, signal: toSignal(o.signal), parents, sync };
}

/**
 * The bytes to write. A view on a SharedArrayBuffer is copied (as node:fs accepts it):
 * other threads may change its memory while the write runs on another thread, and
 * Node-API cannot hand such memory to native code.
 */
export function toBytes(data: unknown, encoding: BufferEncoding, name = 'data'): ArrayBufferView {
  if (typeof data === 'string') return Buffer.from(data, encoding);
  if (ArrayBuffer.isView(data)) {
    if (!types.isSharedArrayBuffer(data.buffer)) return data;
    return Buffer.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  throw invalidArgType(name, 'of type string or an instance of Buffer, TypedArray, or DataView', data);
}

export function isIterable(data: unknown): data is Iterable<Data> | AsyncIterable<Data> {
  return (
    data !== null &&
    typeof data === 'object' &&
    (typeof (data as Iterable<Data>)[Symbol.iterator] === 'function' ||
      typeof (data as AsyncIterable<Data>)[Symbol.asyncIterator] === 'function')
  );
}

export async function* bytesOf(chunks: Iterable<Data> | AsyncIterable<Data>, encoding: BufferEncoding) {
  for await (const chunk of chunks) yield toBytes(chunk, encoding, 'data chunk');
}

// ---- strategies ----------------------------------------------------------------------

/**
 * Linux, native: every write goes through an unnamed O_TMPFILE file, which a killed
 * writer cannot leave behind; it gets a name only for the instant of the commit.
 */
const tmpFiles = backendName === 'native' && process.platform === 'linux';

/** Directories whose filesystem refused O_TMPFILE (bounded: a cache, not a registry; pathKey). */
const noTmpFile = new Set<string>();

export function code(e: unknown): string | undefined {
  return fsErrorCode(e);
}

/** EEXIST from creating (or naming) the temp file: its name is taken, another name is tried. */
export function tempTaken(e: unknown, job: AtomicJob): boolean {
  if (code(e) !== 'EEXIST') return false;
  const syscall = (e as FsLockError).syscall;
  if (!(job.flags & AtomicFlags.TmpFile)) return syscall === 'open';
  return syscall === 'linkat' && !(job.flags & AtomicFlags.Link);
}

/** The filesystem has no O_TMPFILE or the linkat through /proc failed: use a named temp. */
function tmpFileUnusable(e: unknown, job: AtomicJob): boolean {
  if (!(job.flags & AtomicFlags.TmpFile)) return false;
  const { code: c, syscall } = e as FsLockError;
  if (syscall === 'open') return c === 'EOPNOTSUPP' || c === 'ENOTSUP' || c === 'EISDIR' || c === 'EINVAL';
  return syscall === 'linkat' && (c === 'ENOENT' || c === 'EXDEV' || c === 'EPERM');
}

/**
 * Local filesystems whose files have no flush operation, so close(2) never reports a
 * write error there (statfs f_type: tmpfs, ext2/3/4, xfs, btrfs, f2fs, bcachefs, ramfs).
 * Elsewhere (NFS, SMB, FUSE, overlay...) an unnamed file written without fsync is
 * checked by closing a duplicate descriptor before it gets a name.
 */
const FLUSH_FREE = new Set([0x01021994, 0xef53, 0x58465342, 0x9123683e, 0xf2f52010, 0xca451a4e, 0x858458f6]);
/** pathKey(dir) -> its filesystem is in FLUSH_FREE (bounded: a cache). */
const flushFreeDirs = new Map<string, boolean>();

/**
 * Whether `dir`'s filesystem has no flush operation. Unknown at first: the answer is
 * "no" (the safe one) while one asynchronous statfs, never blocking, finds out.
 */
function flushFree(dir: FsPath, sync: boolean): boolean {
  const key = pathKey(dir);
  const known = flushFreeDirs.get(key);
  if (known !== undefined) return known;
  if (flushFreeDirs.size >= 1000) flushFreeDirs.clear();
  if (sync) {
    // A synchronous call blocks its thread by contract: one statfs now, once per
    // directory (a loop of sync writes would never give the asynchronous one its turn).
    let free = false;
    try {
      free = FLUSH_FREE.has(fs.statfsSync(dir).type);
    } catch {
      // the write reports what is wrong with the directory
    }
    flushFreeDirs.set(key, free);
    return free;
  }
  flushFreeDirs.set(key, false);
  fs.statfs(dir, (err, st) => {
    if (!err) flushFreeDirs.set(key, FLUSH_FREE.has(st.type));
  });
  return false;
}

/**
 * linkat(AT_EMPTY_PATH) names an O_TMPFILE file without a /proc lookup (a cheaper call),
 * but needs CAP_DAC_READ_SEARCH before Linux 6.10: refused once, /proc/self/fd is used
 * from then on.
 */
let linkEmptyPath = true;
function emptyPathRefused(e: unknown, job: AtomicJob): boolean {
  const { code: c, syscall } = e as FsLockError;
  return !!(job.flags & AtomicFlags.LinkEmptyPath) && syscall === 'linkat' && (c === 'ENOENT' || c === 'EPERM');
}

/** FAT, some SMB and FUSE filesystems have no hard links: exclusive create then uses renameat2. */
function noHardLinks(e: unknown, job: AtomicJob): boolean {
  const c = code(e);
  return (
    !!(job.flags & AtomicFlags.Link) &&
    (e as FsLockError).syscall === 'link' &&
    (c === 'EPERM' || c === 'ENOTSUP' || c === 'EOPNOTSUPP' || c === 'ENOSYS' || c === 'EMLINK')
  );
}

/**
 * Windows: virus scanners, indexers and readers without FILE_SHARE_DELETE make a
 * replace fail for a moment with a sharing violation or access denied (write-file-atomic
 * #28, #227). Those are retried, only on the commit step, for up to 10 s from the first
 * such failure (graceful-fs allows 60 s): 4 processes rewriting and reading one entry
 * under Wine saw retries last over 2 s, the bound this had before.
 */
const RETRY_MS = process.platform === 'win32' ? 10_000 : 0;
function transient(e: unknown): boolean {
  const c = code(e);
  const syscall = (e as FsLockError).syscall;
  return RETRY_MS > 0 && syscall !== 'open' && (c === 'EBUSY' || c === 'EPERM' || c === 'EACCES');
}

/**
 * Access denied that no wait cures, on Windows: a directory as target, or a target with
 * the read-only attribute (Node reports it as a mode without write bits; MoveFileExW
 * never replaces such a file). Those fail at once instead of after the retries.
 */
function deniedForGood(p: FsPath): boolean {
  try {
    const st = fs.statSync(p);
    return st.isDirectory() || (st.mode & 0o222) === 0;
  } catch {
    return false;
  }
}

/** Re-labels an error with the caller's paths (a temp path means nothing to them). */
export function report(e: unknown, fsPath: FsPath, fsDest?: FsPath): Error {
  const err = e as FsLockError;
  if (!err || typeof err.code !== 'string' || typeof err.syscall !== 'string') return e as Error;
  const path = displayPath(fsPath);
  const dest = fsDest === undefined ? undefined : displayPath(fsDest);
  if (err.path === path && err.dest === dest) return err;
  const out = codeError(err.code, err.syscall, path, dest, err.message.replace(/^[A-Z0-9_]+: ([^,]*),.*$/s, '$1'));
  return out;
}

/** Flags that depend on the directory, chosen again when a job moves to another one. */
const PLACED = AtomicFlags.TmpFile | AtomicFlags.LinkEmptyPath | AtomicFlags.FlushBeforeLink | AtomicFlags.ChownAlways;

/**
 * `flags` with the strategy for `target`'s directory. Node's permission model is
 * checked here for every file a job creates or replaces (the target and the temp).
 */
function place(
  target: FsPath,
  flags: number,
  sync = false,
): { target: FsPath; temp: FsPath; dir: FsPath; flags: number } {
  const dir = dirnameOf(target);
  flags &= ~PLACED;
  // A local filesystem (the same list): copying the owner needs no round trip to ask
  // first whether it differs.
  const local = backendName === 'native' && flushFree(dir, sync);
  if (local) flags |= AtomicFlags.ChownAlways;
  if (tmpFiles && !noTmpFile.has(pathKey(dir))) {
    flags |= AtomicFlags.TmpFile | (linkEmptyPath ? AtomicFlags.LinkEmptyPath : 0);
    if (!(flags & AtomicFlags.Sync) && !local) flags |= AtomicFlags.FlushBeforeLink;
  }
  const temp = tempPath(dir, target);
  checkAccess('fs.write', target);
  checkAccess('fs.write', temp);
  return { target, temp, dir, flags };
}

/** `commit`: 0 (rename over the target) or AtomicFlags.Link (exclusive create). */
export function job(target: FsPath, data: ArrayBufferView, c: Checked, commit: number): AtomicJob {
  // A literal of the job's own shape (a spread of place()'s result cost V8 ~20 µs here).
  const p = place(target, c.flags | commit, c.sync);
  return { target: p.target, temp: p.temp, dir: p.dir, data, mode: c.mode, flags: p.flags };
}

/** The job moved to the file its symlink target names (`resolved`). */
function retarget(j: AtomicJob, resolved: FsPath): AtomicJob {
  return { ...j, ...place(resolved, j.flags) };
}

/** Links met in one write (a chain is resolved at once; more means someone keeps swapping). */
const MAX_RETARGETS = 40;

/**
 * The job after a failure that is not retried as it is: the file a symlink target
 * names (resolved once), or the same job once its missing directory was created
 * (`createParents`). Undefined when the failure is the answer.
 */
function recoverSync(j: AtomicJob, e: unknown, c: Pick<Checked, 'parents'>, retargets: number): AtomicJob | undefined {
  if (e instanceof FoundSymlink) {
    if (retargets >= MAX_RETARGETS) throw codeError('ELOOP', 'open', displayPath(j.target));
    return retarget(j, resolveLinkSync(j.target));
  }
  if (c.parents && makeParentsSync(e, j.target)) return { ...j, temp: tempPath(j.dir, j.target) };
  return undefined;
}

async function recover(
  j: AtomicJob,
  e: unknown,
  c: Pick<Checked, 'parents'>,
  retargets: number,
): Promise<AtomicJob | undefined> {
  if (e instanceof FoundSymlink) {
    if (retargets >= MAX_RETARGETS) throw codeError('ELOOP', 'open', displayPath(j.target));
    return retarget(j, await resolveLink(j.target));
  }
  if (c.parents && (await makeParents(e, j.target))) return { ...j, temp: tempPath(j.dir, j.target) };
  return undefined;
}

/** The error to report for a failed write of `j`, labelled with the caller's `target`. */
function failedSync(e: unknown, j: AtomicJob, target: FsPath): Error {
  return explainDirErrorSync(report(e, target), j.target) as Error;
}

async function failed(e: unknown, j: AtomicJob, target: FsPath): Promise<Error> {
  return (await explainDirError(report(e, target), j.target)) as Error;
}

/**
 * moveAtomic on Windows: a rename that failed for a moment (a sharing violation: a
 * reader or a scanner holds `to` open) is retried as a write's commit is, for up to
 * RETRY_MS since the first failure; never a target that no wait makes replaceable.
 */
export function retryableMove(e: unknown, to: FsPath, since: number): boolean {
  return transient(e) && Date.now() - since < RETRY_MS && !deniedForGood(to);
}

/** Jittered backoff, so that retrying writers do not collide again in step. */
export function backoff(attempt: number): number {
  return Math.min(10 * 2 ** attempt, 200) * (0.5 + Math.random());
}

/**
 * Next job after a failure, or undefined when the failure is the answer. `since`: when
 * the first transient failure of this write happened (0: none yet).
 */
function next(j: AtomicJob, e: unknown, attempt: number, since: number): AtomicJob | undefined {
  if (tempTaken(e, j) && attempt < 1000) {
    sweepAgain(j.dir);
    return { ...j, temp: tempPath(j.dir, j.target) };
  }
  if (emptyPathRefused(e, j)) {
    linkEmptyPath = false;
    return { ...j, flags: j.flags & ~AtomicFlags.LinkEmptyPath };
  }
  if (tmpFileUnusable(e, j)) {
    if (noTmpFile.size > 1000) noTmpFile.clear();
    noTmpFile.add(pathKey(j.dir));
    if (debugOn)
      debug("write '%s': no O_TMPFILE in its directory (%s): named temp files there", displayPath(j.target), code(e));
    return { ...j, flags: j.flags & ~(AtomicFlags.TmpFile | AtomicFlags.LinkEmptyPath) };
  }
  const temp = () => tempPath(j.dir, j.target);
  if (noHardLinks(e, j)) return { ...j, flags: (j.flags & ~AtomicFlags.Link) | AtomicFlags.NoReplace, temp: temp() };
  if (transient(e) && Date.now() - since < RETRY_MS && !deniedForGood(j.target)) return { ...j, temp: temp() };
  return undefined;
}

/**
 * Runs a job (retrying as {@link next} says), then sweeps its directory once per
 * process. Returns the job that succeeded (its temp is the one a write-only job made).
 */
export function runSync(first: AtomicJob, c: Pick<Checked, 'parents'>): AtomicJob {
  let last = first;
  try {
    return (last = runSyncOnce(first, c, (j) => (last = j)));
  } finally {
    sweepSync(last.dir);
  }
}

function runSyncOnce(first: AtomicJob, c: Pick<Checked, 'parents'>, moved: (j: AtomicJob) => void): AtomicJob {
  let since = 0;
  let retargets = 0;
  let parents = c.parents;
  const t0 = writeStart();
  for (let j: AtomicJob | undefined = first, attempt = 0; ; attempt++) {
    try {
      ops.writeSync(j);
      writeEnded(j, t0);
      return j;
    } catch (e) {
      if (transient(e)) since ||= Date.now();
      let again: AtomicJob | undefined = next(j, e, attempt, since);
      if (!again) {
        again = recoverSync(j, e, { parents }, retargets);
        if (again && again.target !== j.target) {
          moved(again);
          retargets++;
        } else if (again) parents = false; // a directory is created once
      }
      if (!again) throw writeFailed(j, t0, failedSync(e, j, first.target));
      if (transient(e)) retried('write', displayPath(first.target), 'busy', code(e));
      if (transient(e)) sleepSync(backoff(attempt));
      j = again;
    }
  }
}

/**
 * Without a signal, one crossing. With one, two: the temp file is written, the signal
 * checked, then the commit — so an abort never touches the target. A job that is
 * itself write-only (createUnique's, which commits on its own) stops after the first;
 * an unnamed temp linked at the target (exclusive create on Linux) has a single step.
 */
async function runOne(j: AtomicJob, signal: AbortSignal | undefined): Promise<void> {
  const oneStep = AtomicFlags.TmpFile | AtomicFlags.Link;
  if (!signal || (j.flags & oneStep) === oneStep) {
    signal?.throwIfAborted();
    return ops.write(j);
  }
  signal.throwIfAborted();
  await ops.write({ ...j, flags: j.flags | AtomicFlags.WriteOnly });
  if (j.flags & AtomicFlags.WriteOnly) return;
  if (signal.aborted) {
    await fs.promises.unlink(j.temp).catch(() => undefined);
    throw abortReason(signal);
  }
  try {
    await ops.write({ ...j, flags: j.flags | AtomicFlags.CommitOnly });
  } catch (e) {
    await fs.promises.unlink(j.temp).catch(() => undefined);
    throw e;
  }
}

/** {@link runSync}'s promise form. */
export async function run(first: AtomicJob, c: Pick<Checked, 'parents' | 'signal'>): Promise<AtomicJob> {
  let last = first;
  try {
    return (last = await runOnce(first, c, (j) => (last = j)));
  } finally {
    await sweep(last.dir);
  }
}

async function runOnce(
  first: AtomicJob,
  c: Pick<Checked, 'parents' | 'signal'>,
  moved: (j: AtomicJob) => void,
): Promise<AtomicJob> {
  const signal = c.signal;
  let since = 0;
  let retargets = 0;
  let parents = c.parents;
  const t0 = writeStart();
  for (let j: AtomicJob | undefined = first, attempt = 0; ; attempt++) {
    try {
      await runOne(j, signal);
      writeEnded(j, t0);
      return j;
    } catch (e) {
      if (signal?.aborted) throw abortReason(signal);
      if (transient(e)) since ||= Date.now();
      let again: AtomicJob | undefined = next(j, e, attempt, since);
      if (!again) {
        again = await recover(j, e, { parents }, retargets);
        if (again && again.target !== j.target) {
          moved(again);
          retargets++;
        } else if (again) parents = false;
      }
      if (!again) throw writeFailed(j, t0, await failed(e, j, first.target));
      if (transient(e)) retried('write', displayPath(first.target), 'busy', code(e));
      if (transient(e)) await sleep(backoff(attempt), signal, abortReason);
      j = again;
    }
  }
}

/** A job whose data is `data` (string, view or (async) iterable of chunks), written in turn. */
export async function runData(j: AtomicJob, data: unknown, c: Checked): Promise<AtomicJob> {
  if (typeof data === 'string' || ArrayBuffer.isView(data)) return run({ ...j, data: toBytes(data, c.encoding) }, c);
  return runChunks(j, data, c);
}

/**
 * Iterable data: written through node:fs, to a named temp file. Chunks can be consumed
 * once, so only what fails before the first chunk is read is retried: a taken temp
 * name, a symlink target (resolved), a missing directory (`createParents`).
 */
async function runChunks(first: AtomicJob, data: unknown, c: Checked): Promise<AtomicJob> {
  if (!isIterable(data))
    throw invalidArgType('data', 'of type string, an ArrayBufferView, or an (async) iterable', data);
  if (c.signal?.aborted) throw abortReason(c.signal);
  return runJs(named(first), c, (j) => writeChunks(j, bytesOf(data, c.encoding), c.signal), true);
}

/**
 * A job run by the node:fs sequence `write` (no O_TMPFILE), with {@link runOnce}'s
 * recoveries; `chunked`: its data are chunks (the write event gives no byte count).
 */
export async function runJs(
  first: AtomicJob,
  c: Pick<Checked, 'parents' | 'signal'>,
  write: (j: AtomicJob) => Promise<void>,
  chunked = false,
): Promise<AtomicJob> {
  let j = first;
  let retargets = 0;
  let parents = c.parents;
  const t0 = writeStart();
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await write(j);
        writeEnded(j, t0, undefined, chunked);
        return j;
      } catch (e) {
        if (c.signal?.aborted) throw abortReason(c.signal);
        let again: AtomicJob | undefined =
          tempTaken(e, j) && attempt < 1000 ? { ...j, temp: tempPath(j.dir, j.target) } : undefined;
        if (!again) {
          again = await recover(j, e, { parents }, retargets);
          if (again && again.target !== j.target) retargets++;
          else if (again) parents = false;
        }
        if (!again) throw writeFailed(j, t0, await failed(e, j, first.target), chunked);
        j = named(again);
      }
    }
  } finally {
    await sweep(j.dir);
  }
}

/** {@link runJs}, synchronously. */
export function runJsSync(first: AtomicJob, c: Pick<Checked, 'parents'>, write: (j: AtomicJob) => void): AtomicJob {
  let j = first;
  let retargets = 0;
  let parents = c.parents;
  const t0 = writeStart();
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        write(j);
        writeEnded(j, t0);
        return j;
      } catch (e) {
        let again: AtomicJob | undefined =
          tempTaken(e, j) && attempt < 1000 ? { ...j, temp: tempPath(j.dir, j.target) } : undefined;
        if (!again) {
          again = recoverSync(j, e, { parents }, retargets);
          if (again && again.target !== j.target) retargets++;
          else if (again) parents = false;
        }
        if (!again) throw writeFailed(j, t0, failedSync(e, j, first.target));
        j = named(again);
      }
    }
  } finally {
    sweepSync(j.dir);
  }
}

/** The job with a named temp file (the node:fs sequence has no O_TMPFILE). */
export function named(j: AtomicJob): AtomicJob {
  return { ...j, flags: j.flags & ~(AtomicFlags.TmpFile | AtomicFlags.LinkEmptyPath) };
}

/** Linux: an unnamed O_TMPFILE linked at the target; elsewhere a named temp + link(2). */
export const exclusiveCommit = AtomicFlags.Link;

export function exclusiveOptions(options: unknown, sync = false): Checked {
  const c = checkOptions(options, sync);
  // There is no existing file whose metadata to keep, and a link at the target is an
  // existing name (EEXIST), not a way to another file.
  const replaceOnly = AtomicFlags.KeepOwner | AtomicFlags.KeepAttrs | AtomicFlags.NoSymlink | AtomicFlags.RegularOnly;
  return { ...c, flags: c.flags & ~replaceOnly };
}
