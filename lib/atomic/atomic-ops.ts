// The two backends of atomic files behind one interface. Native runs a whole job in one
// crossing (native/posix_atomic.cc); the fallback runs the same sequence on node:fs.
// Both throw errors that carry `code` and `syscall`; lib/atomic/atomic.ts decides what to
// do with them (retry another temp name, emulate a no-replace rename, report).
import * as fs from 'node:fs';
import { AtomicFlags, binding, type Binding } from '../native/binding';
import { codeError, osError, type FsLockError } from '../common/errors';
import { displayPath, type FsPath } from '../common/args';
import { permissionModel } from '../common/permission';

/**
 * The extended attributes a replace carries from the old file to the new one
 * (AtomicFlags.KeepAttrs; the entry format of os::AtomicWriteArgs::attrs). Linux:
 * `user.*` (the user's own), `trusted.*` (only a process with CAP_SYS_ADMIN sees or sets
 * them), `security.*` (SELinux and Smack labels) and the POSIX ACL
 * (`system.posix_acl_access`), but never `security.capability` (file capabilities: the
 * kernel removes them whenever a file is written, so that new content never runs with
 * the old content's privileges) nor `security.ima` / `security.evm` (a hash or
 * signature of the old content and metadata: on the new content it would be wrong, and
 * under IMA appraisal the file would no longer open). A default ACL belongs to
 * directories only, never to the files replaced here. macOS: every attribute (Finder
 * info, tags, quarantine…), as copyfile(3) copies them, plus the extended ACL.
 */
export const CARRIED_ATTRS =
  process.platform === 'darwin'
    ? '+'
    : [
        '+user.',
        '+trusted.',
        '+security.',
        '-security.capability',
        '-security.ima',
        '-security.evm',
        '+system.posix_acl_access',
      ].join('\0');

/**
 * The target is a symlink (AtomicFlags.NoSymlink): nothing was created; the caller
 * resolves it and writes to the file it names. Never reaches the user.
 */
export class FoundSymlink extends Error {
  constructor(readonly link: FsPath) {
    super('internal: the target is a symlink');
  }
}

/**
 * The target exists and is no regular file, directory or symlink: a device, a FIFO or
 * a socket (Windows: a DOS device name such as COM1 or AUX.txt). It is not replaced:
 * a rename would put a file where the device was (as root, over /dev/null), and on
 * Windows it is refused for good (not a sharing violation to wait out).
 */
export function notRegularError(target: FsPath): FsLockError {
  return codeError(
    'EINVAL',
    'open',
    displayPath(target),
    undefined,
    'not a regular file (a device, FIFO or socket): it is not replaced',
  );
}

/**
 * node:fs takes at most 2^31 - 1 bytes per write call (ERR_OUT_OF_RANGE beyond); a view
 * is written in pieces of 1 GiB.
 */
const CHUNK = 1 << 30;

export interface AtomicJob {
  target: FsPath;
  /** Temp file path (unused with AtomicFlags.TmpFile | AtomicFlags.Link). */
  temp: FsPath;
  dir: FsPath;
  data: ArrayBufferView;
  /** Creation mode (umask applies), or the exact mode with AtomicFlags.Chmod. */
  mode: number;
  flags: number;
  /** Owner to give the temp file (node:fs path only; the write-file-atomic drop-in). */
  chown?: { uid: number; gid: number };
  /** Told the temp file's name once it exists (node:fs path only; may return a promise). */
  onTemp?: (temp: FsPath) => unknown;
}

export interface AtomicOps {
  /** rename with noReplace is a real call (else it always fails with ENOSYS). */
  noReplace: boolean;
  writeSync(job: AtomicJob): void;
  write(job: AtomicJob): Promise<void>;
  renameSync(from: FsPath, to: FsPath, noReplace: boolean): void;
  rename(from: FsPath, to: FsPath, noReplace: boolean): Promise<void>;
  /** Flushes a directory's entries; best effort (errors are not reported). */
  syncDirSync(dir: FsPath): void;
  syncDir(dir: FsPath): Promise<void>;
}

// ---- native ----------------------------------------------------------------------

function nativeOps(b: Binding): AtomicOps {
  const settle =
    (resolve: () => void, reject: (e: Error) => void, path: FsPath, dest?: FsPath) => (r: number, syscall: string) =>
      r < 0
        ? reject(osError(r, syscall, displayPath(path), dest === undefined ? undefined : displayPath(dest)))
        : resolve();
  return {
    noReplace: true,
    writeSync(j) {
      const r = b.atomicWrite(j.target, j.temp, j.dir, j.data, j.mode, j.flags, attrsOf(j));
      if (r < 0) throw nativeError(b, r, b.lastSyscall(), j.target);
    },
    write(j) {
      return new Promise((resolve, reject) =>
        b.atomicWrite(j.target, j.temp, j.dir, j.data, j.mode, j.flags, attrsOf(j), (r, sc) =>
          r < 0 ? reject(nativeError(b, r, sc, j.target)) : resolve(),
        ),
      );
    },
    renameSync(from, to, noReplace) {
      const r = b.rename(from, to, noReplace);
      if (r < 0) throw osError(r, b.lastSyscall(), displayPath(from), displayPath(to));
    },
    rename(from, to, noReplace) {
      return new Promise((resolve, reject) => b.rename(from, to, noReplace, settle(resolve, reject, from, to)));
    },
    syncDirSync(dir) {
      b.syncDir(dir);
    },
    syncDir(dir) {
      return new Promise((resolve) => b.syncDir(dir, () => resolve()));
    },
  };
}

/** A native write's or copy's failure: a symlink to resolve, a target not to replace, an OS error. */
function nativeError(b: Binding, r: number, syscall: string, target: FsPath): Error {
  if (r === b.SYMLINK) return new FoundSymlink(target);
  if (r === b.NOT_REGULAR) return notRegularError(target);
  return osError(r, syscall, displayPath(target));
}

function attrsOf(j: AtomicJob): string | undefined {
  return j.flags & AtomicFlags.KeepAttrs ? CARRIED_ATTRS : undefined;
}

// ---- fallback (node:fs) ----------------------------------------------------------

/** node:fs has no renameat2: lib/atomic/atomic.ts emulates the no-replace rename. */
function noReplaceUnsupported(from: FsPath, to: FsPath): FsLockError {
  return codeError('ENOSYS', 'renameat2', displayPath(from), displayPath(to));
}

function ignore(fn: () => void): void {
  try {
    fn();
  } catch {
    // best effort: cleanup after a failure that is already being reported
  }
}

/** Flags under which the target is looked at before the write. */
const INSPECT = AtomicFlags.KeepOwner | AtomicFlags.KeepAttrs | AtomicFlags.NoSymlink | AtomicFlags.RegularOnly;

/** The target as the metadata copy sees it: undefined when missing or a link to replace. */
function inspected(st: fs.Stats | undefined, j: AtomicJob): fs.Stats | undefined {
  const special = st && (st.isFIFO() || st.isCharacterDevice() || st.isBlockDevice() || st.isSocket());
  if (special && j.flags & AtomicFlags.RegularOnly) throw notRegularError(j.target);
  if (!st?.isSymbolicLink()) return st;
  if (j.flags & AtomicFlags.NoSymlink) throw new FoundSymlink(j.target);
  return undefined; // the link itself is replaced: nothing of it is copied
}

function gone(e: unknown): undefined {
  if ((e as FsLockError).code === 'ENOENT') return undefined;
  throw e;
}

const chownDenied = (e: FsLockError) => {
  if (e.code !== 'EPERM') throw e;
};

/**
 * Node's permission model disables fchmod and fchown (they would reach files outside
 * the allowed paths through any descriptor): the temp file is then changed by its name,
 * which node:fs checks. It is this call's own new file, in the target's directory.
 */
const byName = permissionModel;

function chmodTempSync(fd: number, j: AtomicJob, mode: number): void {
  if (byName) fs.chmodSync(j.temp, mode);
  else fs.fchmodSync(fd, mode);
}

function chownTempSync(fd: number, j: AtomicJob, uid: number, gid: number): void {
  if (byName) fs.chownSync(j.temp, uid, gid);
  else fs.fchownSync(fd, uid, gid);
}

function chmodTemp(fh: fs.promises.FileHandle, j: AtomicJob, mode: number): Promise<void> {
  return byName ? fs.promises.chmod(j.temp, mode) : fh.chmod(mode);
}

function chownTemp(fh: fs.promises.FileHandle, j: AtomicJob, uid: number, gid: number): Promise<void> {
  return byName ? fs.promises.chown(j.temp, uid, gid) : fh.chown(uid, gid);
}

/**
 * fdatasync of the temp file. Node's permission model refuses fsync and fdatasync to
 * JavaScript (the sync forms since Node 20, every form in Node 24: ERR_ACCESS_DENIED):
 * there the node:fs sequence cannot flush, and the write is atomic but not durable
 * (README, "Node's permission model"). Any other failure is the write's.
 */
const flushRefused = (e: unknown) => {
  if (!(byName && (e as FsLockError).code === 'ERR_ACCESS_DENIED')) throw e;
};

function flushTempSync(fd: number): void {
  try {
    fs.fdatasyncSync(fd);
  } catch (e) {
    flushRefused(e);
  }
}

function flushTemp(fh: fs.promises.FileHandle): Promise<void> {
  return fh.datasync().catch(flushRefused);
}

/**
 * The old file's metadata onto the temp file of the node:fs sequence: with the native
 * binding os::CopyMeta (owner, mode, attributes and ACL: the same as a native write);
 * without it (the fallback backend), owner (EPERM tolerated) and mode only — node:fs
 * has no call for extended attributes or ACLs.
 */
function copyMetaSync(fd: number, j: AtomicJob): void {
  if (binding) {
    const r = binding.copyMeta(j.target, fd, j.mode, j.flags, attrsOf(j));
    if (r < 0) throw nativeError(binding, r, binding.lastSyscall(), j.target);
    return;
  }
  let st: fs.Stats | undefined;
  if (j.flags & INSPECT) {
    try {
      st = inspected(fs.lstatSync(j.target), j);
    } catch (e) {
      st = gone(e);
    }
  }
  if (st && j.flags & AtomicFlags.KeepOwner) {
    if (process.getuid && (st.uid !== process.getuid() || st.gid !== process.getgid!())) {
      try {
        chownTempSync(fd, j, st.uid, st.gid);
      } catch (e) {
        chownDenied(e as FsLockError);
      }
    }
    if (!(j.flags & AtomicFlags.Chmod)) chmodTempSync(fd, j, st.mode & 0o7777);
  }
  if (j.flags & AtomicFlags.Chmod) chmodTempSync(fd, j, j.mode);
}

async function copyMeta(fh: fs.promises.FileHandle, j: AtomicJob): Promise<void> {
  const b = binding;
  if (b) {
    const [r, sc] = await new Promise<[number, string]>((resolve) =>
      b.copyMeta(j.target, fh.fd, j.mode, j.flags, attrsOf(j), (res, syscall) => resolve([res, syscall])),
    );
    if (r < 0) throw nativeError(b, r, sc, j.target);
    return;
  }
  let st: fs.Stats | undefined;
  if (j.flags & INSPECT) st = inspected(await fs.promises.lstat(j.target).catch(gone), j);
  if (st && j.flags & AtomicFlags.KeepOwner) {
    if (process.getuid && (st.uid !== process.getuid() || st.gid !== process.getgid!())) {
      await chownTemp(fh, j, st.uid, st.gid).catch(chownDenied);
    }
    if (!(j.flags & AtomicFlags.Chmod)) await chmodTemp(fh, j, st.mode & 0o7777);
  }
  if (j.flags & AtomicFlags.Chmod) await chmodTemp(fh, j, j.mode);
}

/** fsync of a directory: Windows cannot open one (EISDIR/EPERM), where it is not needed. */
function syncDirSync(dir: FsPath): void {
  ignore(() => {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  });
}

async function syncDir(dir: FsPath): Promise<void> {
  const fh = await fs.promises.open(dir, 'r').catch(() => undefined);
  if (!fh) return;
  await fh.sync().catch(() => undefined);
  await fh.close();
}

function commitSync(j: AtomicJob): void {
  if (j.flags & AtomicFlags.Link) {
    fs.linkSync(j.temp, j.target);
    ignore(() => fs.unlinkSync(j.temp));
  } else if (j.flags & AtomicFlags.NoReplace) {
    throw noReplaceUnsupported(j.temp, j.target);
  } else {
    fs.renameSync(j.temp, j.target);
  }
}

async function commit(j: AtomicJob): Promise<void> {
  if (j.flags & AtomicFlags.Link) {
    await fs.promises.link(j.temp, j.target);
    await fs.promises.unlink(j.temp).catch(() => undefined);
  } else if (j.flags & AtomicFlags.NoReplace) {
    throw noReplaceUnsupported(j.temp, j.target);
  } else {
    await fs.promises.rename(j.temp, j.target);
  }
}

function creationMode(j: AtomicJob): number {
  return j.flags & AtomicFlags.Chmod ? 0o600 : j.mode;
}

/** The synchronous sequence on node:fs (the fallback's, and the drop-in's with hooks). */
export function writeSyncJs(j: AtomicJob): void {
  if (j.flags & AtomicFlags.TmpFile) throw codeError('EOPNOTSUPP', 'open', displayPath(j.dir));
  if (!(j.flags & AtomicFlags.CommitOnly)) {
    const fd = fs.openSync(j.temp, 'wx', creationMode(j)); // EEXIST: the temp name is taken
    try {
      copyMetaSync(fd, j);
      j.onTemp?.(j.temp); // after: an owner the hook gives (the drop-in's chown) wins
      if (j.chown) chownTempSync(fd, j, j.chown.uid, j.chown.gid);
      const bytes = new Uint8Array(j.data.buffer, j.data.byteOffset, j.data.byteLength);
      for (let off = 0; off < bytes.length;) off += fs.writeSync(fd, bytes, off, Math.min(bytes.length - off, CHUNK));
      if (j.flags & AtomicFlags.Sync) flushTempSync(fd);
    } catch (e) {
      ignore(() => fs.closeSync(fd));
      ignore(() => fs.unlinkSync(j.temp));
      throw e;
    }
    try {
      fs.closeSync(fd);
    } catch (e) {
      ignore(() => fs.unlinkSync(j.temp));
      throw e;
    }
    if (j.flags & AtomicFlags.WriteOnly) return;
  }
  try {
    commitSync(j);
  } catch (e) {
    if (!(j.flags & AtomicFlags.CommitOnly)) ignore(() => fs.unlinkSync(j.temp));
    throw e;
  }
  if (j.flags & AtomicFlags.SyncDir) syncDirSync(j.dir);
}

/**
 * The asynchronous sequence on node:fs, writing `chunks` in turn. Used by the fallback
 * for every job and by both backends for iterable data (checking `signal` between
 * chunks and before the commit).
 */
export async function writeChunks(
  j: AtomicJob,
  chunks: Iterable<ArrayBufferView> | AsyncIterable<ArrayBufferView>,
  signal?: AbortSignal,
): Promise<void> {
  if (j.flags & AtomicFlags.TmpFile) throw codeError('EOPNOTSUPP', 'open', displayPath(j.dir));
  if (!(j.flags & AtomicFlags.CommitOnly)) {
    const fh = await fs.promises.open(j.temp, 'wx', creationMode(j));
    try {
      await copyMeta(fh, j);
      await j.onTemp?.(j.temp); // after: an owner the hook gives (the drop-in's chown) wins
      if (j.chown) await chownTemp(fh, j, j.chown.uid, j.chown.gid);
      for await (const chunk of chunks) {
        signal?.throwIfAborted();
        const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        for (let off = 0; off < bytes.length;)
          off += (await fh.write(bytes, off, Math.min(bytes.length - off, CHUNK))).bytesWritten;
      }
      if (j.flags & AtomicFlags.Sync) await flushTemp(fh);
      await fh.close();
      signal?.throwIfAborted();
    } catch (e) {
      await fh.close().catch(() => undefined);
      await fs.promises.unlink(j.temp).catch(() => undefined);
      throw e;
    }
    if (j.flags & AtomicFlags.WriteOnly) return;
  }
  try {
    await commit(j);
  } catch (e) {
    if (!(j.flags & AtomicFlags.CommitOnly)) await fs.promises.unlink(j.temp).catch(() => undefined);
    throw e;
  }
  if (j.flags & AtomicFlags.SyncDir) await syncDir(j.dir);
}

const fallbackOps: AtomicOps = {
  noReplace: false,
  writeSync: writeSyncJs,
  write: (j) => writeChunks(j, [j.data]),
  renameSync(from, to, noReplace) {
    if (noReplace) throw noReplaceUnsupported(from, to);
    fs.renameSync(from, to);
  },
  async rename(from, to, noReplace) {
    if (noReplace) throw noReplaceUnsupported(from, to);
    await fs.promises.rename(from, to);
  },
  syncDirSync,
  syncDir,
};

export const ops: AtomicOps = binding ? nativeOps(binding) : fallbackOps;
