// capabilities(dir): what a directory's filesystem really supports, found by trying
// each primitive on scratch files in that directory (NFS, SMB, FUSE, overlay and WSL1
// filesystems answer differently from what the OS name suggests).
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { toPath, type PathLike } from '../common/args';
import { AtomicFlags, LockType, binding, backendName } from '../native/binding';
import { codeError, errorCode } from '../common/errors';
import { crossHostLocks, mountOf, onSharedFs } from '../common/fstype';

export interface Capabilities {
  /** The backend that would run here. */
  backend: 'native' | 'fallback';
  /**
   * The filesystem type as the mount table names it (Linux: /proc/self/mountinfo), e.g.
   * `'ext4'`, `'tmpfs'`, `'nfs4'`, `'fuse.glusterfs'`; undefined where fslock cannot tell.
   */
  fsType: string | undefined;
  /**
   * A network or FUSE filesystem (NFS, SMB/CIFS, FUSE, Ceph, Lustre, 9p…): other machines
   * may reach these files, so lock files here are never removed (docs/protocol.md).
   */
  shared: boolean;
  /**
   * Whether locks taken here exclude processes on other machines: true for network and
   * cluster filesystems whose lock manager spans clients (NFS, SMB, GlusterFS, CephFS…),
   * false for local filesystems and FUSE filesystems that lock locally only (sshfs),
   * undefined when fslock cannot know (another FUSE filesystem: test it).
   */
  crossHostLocks: boolean | undefined;
  /** Whole-file descriptor locks (`flock`) can be taken. */
  flock: boolean;
  /** Byte-range locks owned by the open file description (Linux `F_OFD_SETLK`). */
  ofdLocks: boolean;
  /** A no-replace rename (renameat2 RENAME_NOREPLACE, renamex_np, MoveFileExW). */
  noReplaceRename: boolean;
  /** Unnamed temp files (`O_TMPFILE`) that can be linked into place. */
  tmpfile: boolean;
  /** A directory can be opened and fsync'ed (its entries made durable). */
  dirFsync: boolean;
  /** Hard links (used by exclusive create without O_TMPFILE, and by the fallback). */
  hardLinks: boolean;
  /** rename() replaces a target that another handle holds open (POSIX semantics). */
  posixRename: boolean;
}

let seq = 0;

function tryIt(fn: () => boolean): boolean {
  try {
    return fn();
  } catch {
    return false;
  }
}

/**
 * Probes `dir` (which must exist and be writable): each answer comes from doing the
 * thing on scratch files named `.fslock-probe-*`, which are removed afterwards.
 * Throws the OS error when the directory cannot be written at all.
 */
export async function capabilities(dir: PathLike): Promise<Capabilities> {
  const d = toPath(dir, 'dir');
  const base = nodePath.join(d, `.fslock-probe-${process.pid}-${seq++}`);
  const a = `${base}-a`;
  const b = `${base}-b`;
  try {
    await fs.promises.writeFile(a, '', { flag: 'wx' });
  } catch (e) {
    // The probe file's name means nothing to the caller: say which directory is missing.
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw codeError(code, 'capabilities', d);
    throw e;
  }
  try {
    await fs.promises.writeFile(b, '', { flag: 'wx' });
    const fd = fs.openSync(a, 'r+');
    const n = binding;
    let caps: Capabilities;
    try {
      const shared = onSharedFs(nodePath.join(d, 'x'));
      const mount = mountOf(d);
      const fsType = mount?.fsType;
      caps = {
        backend: backendName,
        fsType,
        shared,
        crossHostLocks: crossHostLocks(fsType, shared, mount?.options),
        flock: !!n && tryIt(() => n.flock(fd, LockType.Exclusive) >= 0 && n.flock(fd, LockType.Unlock) >= 0),
        ofdLocks:
          !!n &&
          process.platform === 'linux' &&
          tryIt(() => n.lockRange(fd, LockType.Exclusive, 0, 1) >= 0 && n.lockRange(fd, LockType.Unlock, 0, 1) >= 0),
        // EEXIST is the answer of a filesystem that supports it; EINVAL of one that does not.
        noReplaceRename: !!n && tryIt(() => errorCode(n.rename(a, b, true)) === 'EEXIST'),
        tmpfile:
          !!n &&
          process.platform === 'linux' &&
          tryIt(
            () =>
              n.atomicWrite(`${base}-t`, '', d, new Uint8Array(0), 0o600, AtomicFlags.TmpFile | AtomicFlags.Link) >= 0,
          ),
        dirFsync: process.platform !== 'win32' && tryIt(() => (n ? n.syncDir(d) >= 0 : syncDirJs(d))),
        hardLinks: tryIt(() => {
          fs.linkSync(a, `${base}-l`);
          return true;
        }),
        posixRename: tryIt(() => {
          // Replace `b` while it is open: Windows without POSIX semantics refuses.
          const held = fs.openSync(b, 'r');
          try {
            fs.writeFileSync(`${base}-r`, 'x');
            fs.renameSync(`${base}-r`, b);
            return true;
          } finally {
            fs.closeSync(held);
          }
        }),
      };
    } finally {
      fs.closeSync(fd);
    }
    return caps;
  } finally {
    for (const s of ['a', 'b', 't', 'l', 'r']) await fs.promises.rm(`${base}-${s}`, { force: true });
  }
}

function syncDirJs(dir: string): boolean {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
    return true;
  } finally {
    fs.closeSync(fd);
  }
}
