// Atomic files: the public API and every decision about it (temp names, which commit
// strategy a directory gets, what is retried). The sequences themselves run in
// lib/atomic-ops.ts (native: one crossing per job).
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { types } from 'node:util';
import {
  basenameOf,
  dirnameOf,
  displayPath,
  joinName,
  pathKey,
  toBool,
  toFsPath,
  toFunction,
  toInteger,
  toOptions,
  toSignal,
  toTimeout,
  type FsPath,
  type PathLike,
} from './args';
import { AtomicFlags, backendName } from './binding';
import { abortReason, codeError, invalidArgType, invalidArgValue, type FsLockError } from './errors';
import { ops, writeChunks, writeSyncJs, type AtomicJob } from './atomic-ops';
import { sweep, sweepAgain, sweepSync, tempPath } from './atomic-temp';
import { sleep, sleepSync } from './lock-backend';
import { lock } from './locks';

/** Data of a write: text, or bytes of any ArrayBufferView. */
export type Data = string | ArrayBufferView;
/** The promise API also takes the data as (async) chunks, written one after another. */
export type DataSource = Data | Iterable<Data> | AsyncIterable<Data>;

export interface WriteOptions {
  /** Encoding of string data (default `'utf8'`). */
  encoding?: BufferEncoding;
  /**
   * Mode of the file. Default: the existing target's mode (and owner, when the process
   * may set it), or `0o666` minus the umask for a new file. Given, it is set exactly.
   */
  mode?: number;
  /** Make the content durable before it becomes visible, and the rename after (default `true`). */
  fsync?: boolean;
  /** Abort the write (promise API): the target is left untouched, the temp file removed. */
  signal?: AbortSignal;
}

export interface UpdateOptions extends WriteOptions {
  /** Give up waiting for `path + '.lock'` after this many milliseconds (`ETIMEDOUT`). */
  timeout?: number;
}

export interface MoveOptions {
  /** Replace an existing `to` (default `true`); `false` fails with `EEXIST` instead. */
  overwrite?: boolean;
}

// ---- arguments -----------------------------------------------------------------------

interface Checked {
  mode: number;
  flags: number;
  encoding: BufferEncoding;
  signal: AbortSignal | undefined;
}

function checkOptions(options: unknown): Checked {
  const o = toOptions<WriteOptions>(options);
  let encoding: BufferEncoding = 'utf8';
  if (o.encoding !== undefined && o.encoding !== null) {
    if (typeof o.encoding !== 'string' || !Buffer.isEncoding(o.encoding)) {
      throw invalidArgValue('options.encoding', o.encoding, 'is invalid encoding');
    }
    encoding = o.encoding;
  }
  const explicitMode = o.mode !== undefined;
  const mode = explicitMode ? toInteger(o.mode, 'options.mode', 0) : 0o666;
  if (mode > 0o7777) throw invalidArgValue('options.mode', mode, 'must be a file mode between 0 and 0o7777');
  let flags = explicitMode ? AtomicFlags.Chmod : AtomicFlags.KeepOwner;
  if (toBool(o.fsync, 'options.fsync', true)) flags |= AtomicFlags.Sync | AtomicFlags.SyncDir;
  return { mode, flags, encoding, signal: toSignal(o.signal) };
}

/**
 * The bytes to write. A view on a SharedArrayBuffer is copied (as node:fs accepts it):
 * other threads may change its memory while the write runs on another thread, and
 * Node-API cannot hand such memory to native code.
 */
function toBytes(data: unknown, encoding: BufferEncoding, name = 'data'): ArrayBufferView {
  if (typeof data === 'string') return Buffer.from(data, encoding);
  if (ArrayBuffer.isView(data)) {
    if (!types.isSharedArrayBuffer(data.buffer)) return data;
    return Buffer.from(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  throw invalidArgType(name, 'of type string or an instance of Buffer, TypedArray, or DataView', data);
}

function isIterable(data: unknown): data is Iterable<Data> | AsyncIterable<Data> {
  return (
    data !== null &&
    typeof data === 'object' &&
    (typeof (data as Iterable<Data>)[Symbol.iterator] === 'function' ||
      typeof (data as AsyncIterable<Data>)[Symbol.asyncIterator] === 'function')
  );
}

async function* bytesOf(chunks: Iterable<Data> | AsyncIterable<Data>, encoding: BufferEncoding) {
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

function code(e: unknown): string | undefined {
  return (e as FsLockError | undefined)?.code;
}

/** EEXIST from creating (or naming) the temp file: its name is taken, another name is tried. */
function tempTaken(e: unknown, job: AtomicJob): boolean {
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

/** FAT, some SMB and FUSE filesystems have no hard links: exclusive create then uses renameat2. */
function noHardLinks(e: unknown, job: AtomicJob): boolean {
  const c = code(e);
  return !!(job.flags & AtomicFlags.Link) && (e as FsLockError).syscall === 'link' &&
    (c === 'EPERM' || c === 'ENOTSUP' || c === 'EOPNOTSUPP' || c === 'ENOSYS' || c === 'EMLINK');
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
function report(e: unknown, fsPath: FsPath, fsDest?: FsPath): Error {
  const err = e as FsLockError;
  if (!err || typeof err.code !== 'string' || typeof err.syscall !== 'string') return e as Error;
  const path = displayPath(fsPath);
  const dest = fsDest === undefined ? undefined : displayPath(fsDest);
  if (err.path === path && err.dest === dest) return err;
  const out = codeError(err.code, err.syscall, path, dest, err.message.replace(/^[A-Z0-9_]+: ([^,]*),.*$/s, '$1'));
  return out;
}

/** `commit`: 0 (rename over the target) or AtomicFlags.Link (exclusive create). */
function job(target: FsPath, data: ArrayBufferView, c: Checked, commit: number): AtomicJob {
  const dir = dirnameOf(target);
  let flags = c.flags | commit;
  if (tmpFiles && !noTmpFile.has(pathKey(dir))) flags |= AtomicFlags.TmpFile;
  return { target, temp: tempPath(dir, target), dir, data, mode: c.mode, flags };
}

/** Jittered backoff, so that retrying writers do not collide again in step. */
function backoff(attempt: number): number {
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
  if (tmpFileUnusable(e, j)) {
    if (noTmpFile.size > 1000) noTmpFile.clear();
    noTmpFile.add(pathKey(j.dir));
    return { ...j, flags: j.flags & ~AtomicFlags.TmpFile };
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
function runSync(first: AtomicJob): AtomicJob {
  try {
    return runSyncOnce(first);
  } finally {
    sweepSync(first.dir);
  }
}

function runSyncOnce(first: AtomicJob): AtomicJob {
  let since = 0;
  for (let j: AtomicJob | undefined = first, attempt = 0; ; attempt++) {
    try {
      ops.writeSync(j);
      return j;
    } catch (e) {
      if (transient(e)) since ||= Date.now();
      const again: AtomicJob | undefined = next(j, e, attempt, since);
      if (!again) throw report(e, first.target);
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
async function run(first: AtomicJob, signal: AbortSignal | undefined): Promise<AtomicJob> {
  try {
    return await runOnce(first, signal);
  } finally {
    await sweep(first.dir);
  }
}

async function runOnce(first: AtomicJob, signal: AbortSignal | undefined): Promise<AtomicJob> {
  let since = 0;
  for (let j: AtomicJob | undefined = first, attempt = 0; ; attempt++) {
    try {
      await runOne(j, signal);
      return j;
    } catch (e) {
      if (signal?.aborted) throw abortReason(signal);
      if (transient(e)) since ||= Date.now();
      const again: AtomicJob | undefined = next(j, e, attempt, since);
      if (!again) throw report(e, first.target);
      if (transient(e)) await sleep(backoff(attempt), signal, abortReason);
      j = again;
    }
  }
}

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

/** A job whose data is `data` (string, view or (async) iterable of chunks), written in turn. */
async function runData(j: AtomicJob, data: unknown, c: Checked): Promise<AtomicJob> {
  if (typeof data === 'string' || ArrayBuffer.isView(data)) return run({ ...j, data: toBytes(data, c.encoding) }, c.signal);
  return runChunks(j, data, c);
}

async function runChunks(first: AtomicJob, data: unknown, c: Checked): Promise<AtomicJob> {
  if (!isIterable(data)) throw invalidArgType('data', 'of type string, an ArrayBufferView, or an (async) iterable', data);
  const target = first.target;
  if (c.signal?.aborted) throw abortReason(c.signal);
  // Chunks can be consumed once: a taken temp name is the only retry. They are written
  // through node:fs, to a named temp file.
  const j = named(first);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        const jt = { ...j, temp: attempt ? tempPath(j.dir, target) : j.temp };
        await writeChunks(jt, bytesOf(data, c.encoding), c.signal);
        return jt;
      } catch (e) {
        if (c.signal?.aborted) throw abortReason(c.signal);
        if (!(tempTaken(e, j) && attempt < 1000)) throw report(e, target);
      }
    }
  } finally {
    await sweep(j.dir);
  }
}

/** The job with a named temp file (the node:fs sequence has no O_TMPFILE). */
function named(j: AtomicJob): AtomicJob {
  return { ...j, flags: j.flags & ~AtomicFlags.TmpFile };
}

/** Synchronous {@link writeFileAtomic} (string or ArrayBufferView data). */
export function writeFileAtomicSync(path: PathLike, data: Data, options?: Omit<WriteOptions, 'signal'>): void {
  const target = toFsPath(path);
  const c = checkOptions(options);
  runSync(job(target, toBytes(data, c.encoding), c, 0));
}

// ---- createExclusive / createUnique ------------------------------------------------------

/** Linux: an unnamed O_TMPFILE linked at the target; elsewhere a named temp + link(2). */
const exclusiveCommit = AtomicFlags.Link;

function exclusiveOptions(options: unknown): Checked {
  const c = checkOptions(options);
  // There is no existing file whose mode to keep.
  return { ...c, flags: c.flags & ~AtomicFlags.KeepOwner };
}

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

const MAX_UNIQUE_ATTEMPTS = 10000;

/** Taken names in a row after which createUnique lists the directory. */
const LIST_AFTER = 8;

/**
 * The names createUnique tries, in order. After LIST_AFTER taken names in a row, one
 * listing of the directory lets it pass over the names that existed then without a
 * probe each: the same answer as probing them (each was taken when listed, before the
 * probe that succeeds), in one call instead of one per name. The no-replace rename
 * still decides every name it returns.
 */
class UniqueNames {
  private attempt = 0;
  private takenInARow = 0;
  private listing: Set<string> | undefined;
  private canList = true;

  constructor(
    private readonly dir: FsPath,
    private readonly fn: (attempt: number) => string,
  ) {}

  /** The last name was taken: true when a listing is due (pass it to {@link listed}). */
  taken(): boolean {
    return this.canList && ++this.takenInARow >= LIST_AFTER;
  }

  /** The directory's entries, or undefined where it cannot be listed (then: probe every name). */
  listed(names: Buffer[] | undefined): void {
    this.takenInARow = 0;
    if (names) this.listing = new Set(names.map((n) => n.toString('latin1')));
    else this.canList = false;
  }

  /** The next name to probe, or undefined after MAX_UNIQUE_ATTEMPTS names. */
  next(): FsPath | undefined {
    while (++this.attempt < MAX_UNIQUE_ATTEMPTS) {
      const target = uniqueName(this.dir, this.fn, this.attempt);
      if (!this.listing?.has(Buffer.from(basenameOf(target)).toString('latin1'))) return target;
    }
    return undefined;
  }
}

/** The directory's entries; undefined where it cannot be read (write-only directories). */
function listSync(dir: FsPath): Buffer[] | undefined {
  try {
    return fs.readdirSync(dir, { encoding: 'buffer' });
  } catch {
    return undefined;
  }
}

function uniqueName(dir: FsPath, name: (attempt: number) => string, attempt: number): FsPath {
  const n = name(attempt);
  if (typeof n !== 'string' || n.length === 0 || n.includes('\0') || n !== nodePath.basename(n) || n === '.' || n === '..') {
    throw invalidArgValue('name', n, `must return a non-empty file name without directory parts (attempt ${attempt})`);
  }
  return joinName(dir, n);
}

/** `iterable`: the promise API, which also takes chunks (written as they come). */
function uniqueSetup(dirArg: unknown, name: unknown, data: unknown, options: unknown, iterable: boolean) {
  const dir = toFsPath(dirArg, 'dir');
  const fn = toFunction<(attempt: number) => string>(name, 'name');
  const c = exclusiveOptions(options);
  const bytes = iterable && isIterable(data) && typeof data !== 'string' ? new Uint8Array(0) : toBytes(data, c.encoding);
  const j = job(uniqueName(dir, fn, 0), bytes, c, 0);
  // Written once, to a temp file that createUnique then moves itself.
  return { dir, fn, c, j: { ...j, flags: (j.flags & ~AtomicFlags.SyncDir) | AtomicFlags.WriteOnly } };
}

/**
 * The "timestamp-N" pattern without races: writes `data` once to a temp file, then
 * moves it with a no-replace rename to `dir/name(0)`, `dir/name(1)`, ... until a name is
 * free, and returns that path. No two callers ever get the same name, and the file
 * appears with its whole content. After 8 taken names in a row, one listing of `dir`
 * lets it pass over names that existed then without a rename each.
 *
 * @param name called with 0, 1, 2, ... for every attempt; returns a plain file name.
 * @returns the path created: a string, or a Buffer when `dir` is a Buffer whose bytes
 *   are not valid UTF-8 (its exact bytes, which a string cannot hold).
 */
export async function createUnique(
  dir: string | URL,
  name: (attempt: number) => string,
  data: DataSource,
  options?: WriteOptions,
): Promise<string>;
export async function createUnique(
  dir: PathLike,
  name: (attempt: number) => string,
  data: DataSource,
  options?: WriteOptions,
): Promise<string | Buffer>;
export async function createUnique(
  dir: PathLike,
  name: (attempt: number) => string,
  data: DataSource,
  options?: WriteOptions,
): Promise<FsPath> {
  const u = uniqueSetup(dir, name, data, options, true);
  const { temp } = await runData(u.j, data, u.c);
  const names = new UniqueNames(u.dir, u.fn);
  try {
    for (let target = u.j.target; ; ) {
      u.c.signal?.throwIfAborted();
      try {
        await moveNoReplace(temp, target, true);
      } catch (e) {
        if (code(e) !== 'EEXIST') throw report(e, target);
        if (names.taken()) names.listed(await fs.promises.readdir(u.dir, { encoding: 'buffer' }).catch(() => undefined));
        const after = names.next();
        if (after === undefined) throw report(e, target);
        target = after;
        continue;
      }
      if (u.c.flags & AtomicFlags.SyncDir) await ops.syncDir(u.dir);
      return target;
    }
  } catch (e) {
    await fs.promises.unlink(temp).catch(() => undefined);
    throw u.c.signal?.aborted ? abortReason(u.c.signal) : e;
  }
}

/** Synchronous {@link createUnique}. */
export function createUniqueSync(
  dir: string | URL,
  name: (attempt: number) => string,
  data: Data,
  options?: Omit<WriteOptions, 'signal'>,
): string;
export function createUniqueSync(
  dir: PathLike,
  name: (attempt: number) => string,
  data: Data,
  options?: Omit<WriteOptions, 'signal'>,
): string | Buffer;
export function createUniqueSync(
  dir: PathLike,
  name: (attempt: number) => string,
  data: Data,
  options?: Omit<WriteOptions, 'signal'>,
): FsPath {
  const u = uniqueSetup(dir, name, data, options, false);
  const { temp } = runSync(u.j);
  const names = new UniqueNames(u.dir, u.fn);
  try {
    for (let target = u.j.target; ; ) {
      try {
        moveNoReplaceSync(temp, target, true);
      } catch (e) {
        if (code(e) !== 'EEXIST') throw report(e, target);
        if (names.taken()) names.listed(listSync(u.dir));
        const after = names.next();
        if (after === undefined) throw report(e, target);
        target = after;
        continue;
      }
      if (u.c.flags & AtomicFlags.SyncDir) ops.syncDirSync(u.dir);
      return target;
    }
  } catch (e) {
    try {
      fs.unlinkSync(temp);
    } catch {
      // the temp file may be gone already
    }
    throw e;
  }
}

// ---- moveAtomic ----------------------------------------------------------------------

/** The no-replace rename is missing on this filesystem (or OS): emulate it. */
function noReplaceMissing(e: unknown): boolean {
  const c = code(e);
  return (c === 'EINVAL' || c === 'ENOSYS' || c === 'EOPNOTSUPP' || c === 'ENOTSUP') && (e as FsLockError).syscall !== 'open';
}

/*
 * Without renameat2(RENAME_NOREPLACE): a file is moved with link(2) (fails with EEXIST,
 * never replaces) and unlink of the old name; a directory by creating `to` empty with
 * mkdir(2) (fails with EEXIST) and renaming over that empty directory, which POSIX
 * rename(2) replaces atomically. A crash between the two steps leaves both names of the
 * file, or an empty directory at `to` — never a lost or replaced one.
 */
async function emulateNoReplace(from: FsPath, to: FsPath, file: boolean): Promise<void> {
  if (file || !(await fs.promises.lstat(from)).isDirectory()) {
    await fs.promises.link(from, to);
    // `file`: our own temp file (createUnique), now in place: its old name is ours to drop.
    if (file) await fs.promises.unlink(from).catch(() => undefined);
    else await fs.promises.unlink(from);
    return;
  }
  await fs.promises.mkdir(to);
  try {
    await fs.promises.rename(from, to);
  } catch (e) {
    await fs.promises.rmdir(to).catch(() => undefined);
    throw e;
  }
}

function emulateNoReplaceSync(from: FsPath, to: FsPath, file: boolean): void {
  if (file || !fs.lstatSync(from).isDirectory()) {
    fs.linkSync(from, to);
    try {
      fs.unlinkSync(from);
    } catch (e) {
      if (!file) throw e; // see emulateNoReplace
    }
    return;
  }
  fs.mkdirSync(to);
  try {
    fs.renameSync(from, to);
  } catch (e) {
    try {
      fs.rmdirSync(to);
    } catch {
      // someone else's content arrived: leave it
    }
    throw e;
  }
}

/** `file`: the caller knows `from` is a file (saves an lstat). */
async function moveNoReplace(from: FsPath, to: FsPath, file = false): Promise<void> {
  if (ops.noReplace) {
    try {
      return await ops.rename(from, to, true);
    } catch (e) {
      if (!noReplaceMissing(e)) throw e;
    }
  }
  await emulateNoReplace(from, to, file);
}

function moveNoReplaceSync(from: FsPath, to: FsPath, file = false): void {
  if (ops.noReplace) {
    try {
      return ops.renameSync(from, to, true);
    } catch (e) {
      if (!noReplaceMissing(e)) throw e;
    }
  }
  emulateNoReplaceSync(from, to, file);
}

function moveArgs(from: unknown, to: unknown, options: unknown): [FsPath, FsPath, boolean] {
  const f = toFsPath(from, 'from');
  const t = toFsPath(to, 'to');
  return [f, t, toBool(toOptions<MoveOptions>(options).overwrite, 'options.overwrite', true)];
}

/**
 * Renames `from` to `to` atomically. With `overwrite: false` it fails with `EEXIST`
 * instead of replacing, using a real no-replace rename (renameat2 RENAME_NOREPLACE on
 * Linux, renamex_np RENAME_EXCL on macOS, MoveFileExW on Windows), emulated with
 * link/mkdir where the filesystem lacks it.
 */
export async function moveAtomic(from: PathLike, to: PathLike, options?: MoveOptions): Promise<void> {
  const [f, t, overwrite] = moveArgs(from, to, options);
  try {
    await (overwrite ? ops.rename(f, t, false) : moveNoReplace(f, t));
  } catch (e) {
    throw report(e, f, t);
  }
}

/** Synchronous {@link moveAtomic}. */
export function moveAtomicSync(from: PathLike, to: PathLike, options?: MoveOptions): void {
  const [f, t, overwrite] = moveArgs(from, to, options);
  try {
    if (overwrite) ops.renameSync(f, t, false);
    else moveNoReplaceSync(f, t);
  } catch (e) {
    throw report(e, f, t);
  }
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
  const timeout = toTimeout(toOptions<UpdateOptions>(options).timeout);
  const lockPath = typeof target === 'string' ? `${target}.lock` : Buffer.concat([target, Buffer.from('.lock')]);
  const held = await lock(lockPath, { timeout, signal: c.signal });
  try {
    let current: Buffer | undefined;
    try {
      current = await fs.promises.readFile(target);
    } catch (e) {
      if (code(e) !== 'ENOENT') throw e;
    }
    const result = await f(current);
    if (result === undefined) return;
    await run(job(target, toBytes(result, c.encoding, 'the value returned by fn'), c, 0), c.signal);
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
 * this runs the node:fs sequence (same guarantees, more crossings).
 * @internal
 */
export function writeWithHooks(path: PathLike, data: Data, options: WriteOptions | undefined, hooks: FsHooks, sync: true): void;
export function writeWithHooks(path: PathLike, data: Data, options: WriteOptions | undefined, hooks: FsHooks, sync: false): Promise<void>;
export function writeWithHooks(path: PathLike, data: Data, options: WriteOptions | undefined, hooks: FsHooks, sync: boolean): void | Promise<void> {
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
