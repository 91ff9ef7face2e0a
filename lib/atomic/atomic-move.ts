// moveAtomic: rename(2), and the no-replace rename (real, or emulated where the
// filesystem lacks it) that createUnique uses too.
import * as fs from 'node:fs';
import { toBool, toFsPath, toOptions, type FsPath, type PathLike } from '../common/args';
import { type FsLockError } from '../common/errors';
import { ops } from './atomic-ops';
import { code, report, retryableMove, backoff, type MoveOptions } from './atomic-run';
import { checkAccess, checkReadWrite } from '../common/permission';
import { sleep, sleepSync } from '../protocol/lock-backend';

// ---- moveAtomic ----------------------------------------------------------------------

/** The no-replace rename is missing on this filesystem (or OS): emulate it. */
function noReplaceMissing(e: unknown): boolean {
  const c = code(e);
  return (
    (c === 'EINVAL' || c === 'ENOSYS' || c === 'EOPNOTSUPP' || c === 'ENOTSUP') && (e as FsLockError).syscall !== 'open'
  );
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
export async function moveNoReplace(from: FsPath, to: FsPath, file = false): Promise<void> {
  if (ops.noReplace) {
    try {
      return await ops.rename(from, to, true);
    } catch (e) {
      if (!noReplaceMissing(e)) throw e;
    }
  }
  await emulateNoReplace(from, to, file);
}

export function moveNoReplaceSync(from: FsPath, to: FsPath, file = false): void {
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
  // What node:fs's rename checks: reading and writing `from`, writing `to`.
  checkReadWrite(from);
  checkAccess('fs.write', to);
  const f = toFsPath(from, 'from');
  const t = toFsPath(to, 'to');
  return [f, t, toBool(toOptions<MoveOptions>(options).overwrite, 'options.overwrite', true)];
}

/**
 * Renames `from` to `to` atomically. With `overwrite: false` it fails with `EEXIST`
 * instead of replacing, using a real no-replace rename (renameat2 RENAME_NOREPLACE on
 * Linux, renamex_np RENAME_EXCL on macOS, MoveFileExW on Windows), emulated with
 * link/mkdir where the filesystem lacks it. On Windows a rename that a reader or a
 * scanner holding `to` open refuses for a moment (a sharing violation) is retried for
 * up to 10 s, as writeFileAtomic's.
 */
export async function moveAtomic(from: PathLike, to: PathLike, options?: MoveOptions): Promise<void> {
  const [f, t, overwrite] = moveArgs(from, to, options);
  let since = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      return await (overwrite ? ops.rename(f, t, false) : moveNoReplace(f, t));
    } catch (e) {
      since ||= Date.now();
      if (!retryableMove(e, t, since)) throw report(e, f, t);
      await sleep(backoff(attempt), undefined, () => undefined);
    }
  }
}

/** Synchronous {@link moveAtomic}. */
export function moveAtomicSync(from: PathLike, to: PathLike, options?: MoveOptions): void {
  const [f, t, overwrite] = moveArgs(from, to, options);
  let since = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      if (overwrite) ops.renameSync(f, t, false);
      else moveNoReplaceSync(f, t);
      return;
    } catch (e) {
      since ||= Date.now();
      if (!retryableMove(e, t, since)) throw report(e, f, t);
      sleepSync(backoff(attempt));
    }
  }
}
