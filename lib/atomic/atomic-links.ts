// A final symlink is written through: the file it names (at the end of a chain of
// links) is replaced, in that file's own directory, and the link stays. Resolved here,
// once per write, only when the write found a link at the target (the native sequence
// looks with lstat in the same crossing; the node:fs one with one lstat).
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { displayPath, joinName, type FsPath } from '../common/args';
import { codeError } from '../common/errors';

/** Links followed before ELOOP, as the kernel's limit (MAXSYMLINKS: 40). */
const MAX_LINKS = 40;

const win32 = process.platform === 'win32';

/**
 * Windows' own limit on following: none here. POSIX: the rule of the kernel's
 * fs.protected_symlinks, which open(2) applies and a resolution by readlink(2) would
 * bypass: a link in a sticky, world-writable directory (/tmp) is followed only when its
 * owner is this process's user or the directory's owner. So a link another user planted
 * in /tmp never redirects a write to a file of ours. Applied whatever the sysctl says.
 */
function protectedLink(link: FsPath, st: fs.Stats, dir: fs.Stats): boolean {
  if (win32 || !process.geteuid) return false;
  const stickyOpen = (dir.mode & 0o1002) === 0o1002;
  return stickyOpen && st.uid !== process.geteuid() && st.uid !== dir.uid;
}

function refused(link: FsPath) {
  return codeError(
    'EACCES',
    'open',
    displayPath(link),
    undefined,
    "permission denied (a symlink that another user owns in a sticky world-writable directory is not followed, as the kernel's protected_symlinks rule)",
  );
}

function tooMany(link: FsPath) {
  return codeError('ELOOP', 'open', displayPath(link), undefined, 'too many symbolic links encountered');
}

/** Where a link's text points, from the (real) directory the link is in. */
function next(realDir: FsPath, text: FsPath): FsPath {
  if (typeof text === 'string') {
    // Windows may answer with the \\?\ form of an absolute path.
    const t = text.startsWith('\\\\?\\') ? text.slice(4) : text;
    return nodePath.resolve(realDir as string, t);
  }
  return joinName(text[0] === 0x2f ? '/' : realDir, text); // '/': absolute
}

/** The directory part of a path (bytes kept for Buffers). */
function dirOf(p: FsPath): FsPath {
  if (typeof p === 'string') return nodePath.dirname(p);
  const s = p.toString('latin1');
  return Buffer.from(nodePath.posix.dirname(s), 'latin1');
}

// The directory of `p` with its symlinks resolved, and `p`'s link text: as strings for
// string paths, as bytes for Buffer ones.
function realDirSync(p: FsPath): FsPath {
  const d = dirOf(p);
  return typeof d === 'string' ? fs.realpathSync.native(d) : fs.realpathSync.native(d, { encoding: 'buffer' });
}
function readLinkSync(p: FsPath): FsPath {
  return typeof p === 'string' ? fs.readlinkSync(p) : fs.readlinkSync(p, { encoding: 'buffer' });
}
function realDir(p: FsPath): Promise<FsPath> {
  const d = dirOf(p);
  return typeof d === 'string' ? fs.promises.realpath(d) : fs.promises.realpath(d, { encoding: 'buffer' });
}
function readLink(p: FsPath): Promise<FsPath> {
  return typeof p === 'string' ? fs.promises.readlink(p) : fs.promises.readlink(p, { encoding: 'buffer' });
}

/**
 * The file that `link` names at the end of its chain of symlinks: an absolute path whose
 * directory is real (its own symlinks resolved, so that `..` in a link means what the
 * kernel makes of it). A chain may end at a missing file (a dangling link): that path
 * is returned, and the write creates the file there, as node:fs writeFile does.
 */
export function resolveLinkSync(link: FsPath): FsPath {
  let p = link;
  for (let hops = 0; ; hops++) {
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return p;
      throw e;
    }
    if (!st.isSymbolicLink()) return p;
    if (hops >= MAX_LINKS) throw tooMany(link);
    const dir = realDirSync(p);
    if (protectedLink(p, st, fs.statSync(dir))) throw refused(p);
    p = next(dir, readLinkSync(p));
  }
}

/** {@link resolveLinkSync}, without blocking the event loop. */
export async function resolveLink(link: FsPath): Promise<FsPath> {
  let p = link;
  for (let hops = 0; ; hops++) {
    let st: fs.Stats;
    try {
      st = await fs.promises.lstat(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return p;
      throw e;
    }
    if (!st.isSymbolicLink()) return p;
    if (hops >= MAX_LINKS) throw tooMany(link);
    const dir = await realDir(p);
    if (protectedLink(p, st, await fs.promises.stat(dir))) throw refused(p);
    p = next(dir, await readLink(p));
  }
}
