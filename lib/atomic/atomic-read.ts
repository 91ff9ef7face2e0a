// The read that pairs with writeFileAtomic: on local filesystems node:fs's readFile; on
// network and FUSE filesystems a read of the version the server holds now, through a
// descriptor closed here, again by name when the file was replaced meanwhile.
import * as fs from 'node:fs';
import { dirnameOf, displayPath, toFsPath, toOptions, toSignal, type FsPath, type PathLike } from '../common/args';
import { codeError, fsErrorCode, invalidArgValue } from '../common/errors';
import { onSharedFs } from '../common/fstype';
import { checkAccess } from '../common/permission';

export interface ReadOptions {
  /** Decode the content (`'utf8'`…) and return a string; default: a Buffer. */
  encoding?: BufferEncoding | null;
  /** Abort the read (promise API; between attempts on shared filesystems). */
  signal?: AbortSignal;
}

/** What {@link readPastCaches} gives when the name denoted a file since replaced. */
const REPLACED = Symbol('replaced');

/** Attempts before ESTALE is the answer (about 2 s of retries). */
const MAX_ATTEMPTS = 200;

const replaced = (e: unknown) => {
  const c = fsErrorCode(e);
  return c === 'ENOENT' || c === 'ESTALE';
};

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
async function readPastCaches(target: FsPath): Promise<Buffer | typeof REPLACED> {
  const fh = await fs.promises.open(target, 'r');
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

/** {@link readPastCaches}, synchronously (node:fs's readFileSync aborts Node 20 on ESTALE at close). */
function readPastCachesSync(target: FsPath): Buffer | typeof REPLACED {
  const fd = fs.openSync(target, 'r');
  const chunks: Buffer[] = [];
  try {
    try {
      fs.fsyncSync(fd);
    } catch (e) {
      if (replaced(e)) throw e;
    }
    let size = fs.fstatSync(fd).size;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.max(Math.min(size, 1 << 30), 8192));
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      size = 8192; // grown meanwhile: read on until the end
    }
  } catch (e) {
    try {
      fs.closeSync(fd);
    } catch {
      // the read's error is the one to report
    }
    if (replaced(e)) return REPLACED;
    throw e;
  }
  try {
    fs.closeSync(fd);
  } catch (e) {
    if (replaced(e)) return REPLACED;
    throw e;
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

function staleError(target: FsPath) {
  return codeError('ESTALE', 'read', displayPath(target), undefined, 'the file kept being replaced while it was read');
}

/**
 * The current content of `target`. On NFS and FUSE filesystems a file another machine
 * replaced can still be found under its old entry for about a second: reading it then
 * fails with ESTALE (at open, read or close), and what was read may be the old file.
 * It is read again, by name, until it is the current one. Errors are node:fs's
 * (ENOENT for a missing file).
 */
export async function readCurrent(target: FsPath, signal?: AbortSignal): Promise<Buffer> {
  if (!(typeof target === 'string' && onSharedFs(target))) return fs.promises.readFile(target, { signal });
  for (let attempt = 0; ; attempt++) {
    signal?.throwIfAborted();
    let stale: unknown;
    try {
      const data = await readPastCaches(target);
      if (data !== REPLACED) return data;
      stale = staleError(target);
    } catch (e) {
      if (fsErrorCode(e) !== 'ESTALE') throw e;
      stale = e;
    }
    if (attempt >= MAX_ATTEMPTS) throw stale;
    // FUSE (GlusterFS): listing the directory (READDIRPLUS) replaces the stale entry at
    // once; NFS revalidates it on the next open.
    await fs.promises.readdir(dirnameOf(target)).catch(() => undefined);
    if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(attempt, 20)));
  }
}

/** {@link readCurrent}, synchronously (its waits between attempts block the thread). */
export function readCurrentSync(target: FsPath): Buffer {
  if (!(typeof target === 'string' && onSharedFs(target))) return fs.readFileSync(target);
  for (let attempt = 0; ; attempt++) {
    let stale: unknown;
    try {
      const data = readPastCachesSync(target);
      if (data !== REPLACED) return data;
      stale = staleError(target);
    } catch (e) {
      if (fsErrorCode(e) !== 'ESTALE') throw e;
      stale = e;
    }
    if (attempt >= MAX_ATTEMPTS) throw stale;
    try {
      fs.readdirSync(dirnameOf(target));
    } catch {
      // the next open reports what is wrong
    }
    if (attempt > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.min(attempt, 20));
  }
}

function readArgs(path: unknown, options: unknown) {
  const o = typeof options === 'string' ? { encoding: options as BufferEncoding } : toOptions<ReadOptions>(options);
  let encoding: BufferEncoding | undefined;
  if (o.encoding !== undefined && o.encoding !== null) {
    if (typeof o.encoding !== 'string' || !Buffer.isEncoding(o.encoding))
      throw invalidArgValue('options.encoding', o.encoding, 'is invalid encoding');
    encoding = o.encoding;
  }
  checkAccess('fs.read', path);
  return { target: toFsPath(path), encoding, signal: toSignal(o.signal) };
}

/**
 * Reads a whole file, like `fs.promises.readFile`, and on network and FUSE filesystems
 * (NFS, SMB, GlusterFS…) as the server holds it now: another machine's
 * `writeFileAtomic` replaces the file, and a client's caches (about a second) can still
 * show the old one — or fail with `ESTALE`, which node:fs passes on (and Node 20's
 * `readFileSync` aborts the process on, at close). Here the file is opened, flushed
 * (`fsync`, which makes the client fetch the current version) and read through a
 * descriptor closed here, and read again by name when it turns out to be a replaced
 * one. With a lock held around it, a read-modify-write across machines loses nothing.
 * On local filesystems it is `fs.promises.readFile`.
 *
 * @param options an encoding, or `{ encoding?, signal? }`.
 * @returns a Buffer, or a string with an encoding.
 */
export async function readFile(
  path: PathLike,
  options: { encoding: BufferEncoding; signal?: AbortSignal } | BufferEncoding,
): Promise<string>;
export async function readFile(path: PathLike, options?: ReadOptions): Promise<Buffer>;
export async function readFile(path: PathLike, options?: ReadOptions | BufferEncoding): Promise<Buffer | string> {
  const a = readArgs(path, options);
  const data = await readCurrent(a.target, a.signal);
  return a.encoding ? data.toString(a.encoding) : data;
}

/** Synchronous {@link readFile}. */
export function readFileSync(path: PathLike, options: { encoding: BufferEncoding } | BufferEncoding): string;
export function readFileSync(path: PathLike, options?: Omit<ReadOptions, 'signal'>): Buffer;
export function readFileSync(path: PathLike, options?: Omit<ReadOptions, 'signal'> | BufferEncoding): Buffer | string {
  const a = readArgs(path, options);
  const data = readCurrentSync(a.target);
  return a.encoding ? data.toString(a.encoding) : data;
}
