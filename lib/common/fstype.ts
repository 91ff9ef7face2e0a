// Which filesystem a lock file lives on, and what that means for locks: on network and
// FUSE filesystems another machine may hold the lock file open, so lock files there are
// never removed (docs/protocol.md, "Shared filesystems").
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { type FsPath, dirnameOf, displayPath, pathKey } from './args';
import { debug, debugOn } from './diagnostics';

// statfs(2) f_type magics (linux/magic.h) of filesystems whose files other machines
// (or other kernels: FUSE daemons, virtiofs hosts) can reach.
const SHARED_MAGIC = new Set<number>([
  0x6969, // NFS
  0x517b, // SMB
  0xff534d42, // CIFS
  0xfe534d42, // SMB2
  0x65735546, // FUSE (GlusterFS, sshfs, virtiofs, …)
  0x00c36400, // Ceph
  0x01021997, // 9p (v9fs)
  0x0bd00bd0, // Lustre
  0x5346414f, // AFS
  0x6b414653, // kAFS
  0x7461636f, // OCFS2
  0x01161970, // GFS2
  0x73757245, // Coda
  0x564c, // NCP
]);

/** Filesystem types (mountinfo names) whose locks are known to reach every client. */
const CLUSTER_LOCKS =
  /^(nfs4?|cifs|smb3?|ceph|fuse\.glusterfs|glusterfs|lustre|gfs2|ocfs2|fuse\.ceph|fuse\.cephfs|9p)$/;
/** FUSE filesystems known to keep locks on the local kernel only. */
const LOCAL_LOCKS = /^fuse\.(sshfs|rclone|s3fs|gcsfuse)$/;
const LOCAL_TYPES =
  /^(ext[234]|xfs|btrfs|tmpfs|ramfs|f2fs|zfs|overlay|squashfs|vfat|exfat|ntfs3?|hfsplus|jfs|reiserfs|bcachefs|devtmpfs)$/;

const cache = new Map<string, boolean>();

/**
 * Whether the directory of lock file `path` is on a network or FUSE filesystem (Linux:
 * statfs; Windows: a UNC path). Cached per directory for the life of the process.
 */
export function onSharedFs(path: FsPath): boolean {
  const dir = typeof path === 'string' ? nodePath.dirname(path) : dirnameOf(path);
  const key = typeof dir === 'string' ? dir : pathKey(dir);
  let shared = cache.get(key);
  if (shared === undefined) {
    shared = probeShared(dir);
    if (cache.size > 4096) cache.clear();
    cache.set(key, shared);
  }
  return shared;
}

function probeShared(dir: FsPath): boolean {
  if (process.platform === 'win32') {
    const d = displayPath(dir);
    return /^\\\\(?![?.]\\)/.test(d) || /^\\\\\?\\UNC\\/i.test(d);
  }
  if (process.platform !== 'linux') return false; // macOS/BSD: statfs types are not stable numbers
  try {
    const t = fs.statfsSync(dir).type;
    const shared = SHARED_MAGIC.has(t) || SHARED_MAGIC.has(t >>> 0);
    if (debugOn && shared)
      debug(
        "'%s': shared filesystem (statfs type 0x%s): lock files kept, caches read past",
        displayPath(dir),
        (t >>> 0).toString(16),
      );
    return shared;
  } catch {
    return false; // the lock call reports what is wrong with the directory
  }
}

export interface Mount {
  /** Filesystem type as the mount table names it, e.g. 'ext4', 'nfs4', 'fuse.glusterfs'. */
  fsType: string;
  mountPoint: string;
  source: string;
  /** The filesystem's own options (mountinfo's super options), e.g. 'rw,vers=3,…,local_lock=all'. */
  options: string;
  /** Its superblock's device as mountinfo prints it ('major:minor', decimal): what /proc/locks names. */
  dev: string;
}

/** The mount holding `dir` (Linux: the longest mount point of /proc/self/mountinfo). */
export function mountOf(dir: string): Mount | undefined {
  if (process.platform !== 'linux') return undefined;
  let real: string;
  let text: string;
  try {
    real = fs.realpathSync(dir);
    text = fs.readFileSync('/proc/self/mountinfo', 'latin1');
  } catch {
    return undefined;
  }
  let best: Mount | undefined;
  for (const line of text.split('\n')) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superopts
    const [left, right] = line.split(' - ');
    if (!right) continue;
    const fields = left.split(' ');
    const mountPoint = unescape(fields[4] ?? '');
    const [fsType, source, options] = right.split(' ');
    const inside = real === mountPoint || real.startsWith(mountPoint.endsWith('/') ? mountPoint : `${mountPoint}/`);
    if (inside && (!best || mountPoint.length >= best.mountPoint.length))
      best = { fsType, mountPoint, source: unescape(source ?? ''), options: options ?? '', dev: fields[2] ?? '' };
  }
  return best;
}

function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Whether locks on this filesystem type exclude processes on other machines: true for
 * network and cluster filesystems whose lock manager spans clients, false for local
 * filesystems and FUSE filesystems known to lock locally only (sshfs), undefined when
 * fslock cannot know (any other FUSE filesystem). `options`: the mount's own options.
 */
export function crossHostLocks(fsType: string | undefined, shared: boolean, options = ''): boolean | undefined {
  if (fsType === undefined) return shared ? undefined : false;
  // NFS mounted with local_lock=all (what v3 `nolock` means; nfs(5)) keeps flock and
  // POSIX locks on the client. local_lock=flock or =posix keeps one kind local: the
  // other half of a path lock (flock(2) + OFD) still reaches the server.
  if (/^nfs/.test(fsType) && /(^|,)local_lock=all(,|$)/.test(options)) return false;
  if (CLUSTER_LOCKS.test(fsType)) return true;
  if (LOCAL_LOCKS.test(fsType) || LOCAL_TYPES.test(fsType)) return false;
  return shared ? undefined : false;
}
