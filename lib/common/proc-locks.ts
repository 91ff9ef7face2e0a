// The kernel's table of file locks on Linux (/proc/locks, proc(5)): the only way to see
// a flock(2) holder without taking its lock. F_OFD_GETLK sees POSIX and OFD locks but not
// flock(2) ones, and trying a flock(2) lock to see whether it is free would, for that
// instant, make another process's `wait: false` attempt fail. Both backends use it to
// tell that a program that leaves no record (flock(1), Python, cargo...) holds a file.
//
// Each line: `ID: KIND ADVISORY|MANDATORY READ|WRITE PID MAJ:MIN:INODE START END`, with
// `->` before KIND for a request still waiting. KIND is FLOCK, POSIX, OFDLCK (pid -1),
// LEASE... Locks of processes in another PID namespace are not listed (fs/locks.c,
// locks_show), so a holder in another container sharing the file is not seen here.
//
// MAJ:MIN is the superblock's device (i_sb->s_dev), which is what stat(2) reports on most
// filesystems but not on btrfs: there st_dev is the subvolume's own anonymous device. A
// st_dev that no mount carries is turned into the device of the mount the file is on
// (mountinfo prints s_dev): the mount of the open descriptor (/proc/self/fdinfo's
// mnt_id), else of the path. The inode numbers of a btrfs filesystem's subvolumes (and
// snapshots) overlap, and /proc/locks does not say which subvolume a lock is in: a lock
// on the same inode number in another subvolume of the same filesystem is reported too
// (docs/path-locks.md). Other filesystems' locks never are.
import * as fs from 'node:fs';
import { type FsPath } from './args';
import { mountOf } from './fstype';
import { cleanName } from './holder-name';

export interface KernelLock {
  kind: 'flock' | 'posix' | 'ofd';
  shared: boolean;
  /** The holder's pid in our PID namespace; undefined for OFD locks (the kernel shows -1). */
  pid: number | undefined;
  /** First byte locked (0 for flock). */
  start: number;
  /** Last byte locked; Infinity for "to the end of the file, however far it grows" (EOF). */
  end: number;
}

const KINDS: Record<string, KernelLock['kind']> = { FLOCK: 'flock', POSIX: 'posix', OFDLCK: 'ofd' };

/** "maj:min" of a dev_t as /proc/locks prints it (%02x:%02x, glibc's major()/minor()). */
function devText(dev: number): string {
  const d = BigInt(dev);
  const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn);
  const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn);
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}`;
}

/** "maj:min" of mountinfo's decimal "major:minor", as /proc/locks prints it. */
function hexDev(decimal: string): string | undefined {
  const m = /^(\d+):(\d+)$/.exec(decimal);
  return m ? `${Number(m[1]).toString(16).padStart(2, '0')}:${Number(m[2]).toString(16).padStart(2, '0')}` : undefined;
}

/** Where the file is: its path, or a descriptor open on it (exact: its mount is known). */
export interface FileAt {
  fd?: number;
  path?: FsPath;
}

/**
 * The superblock's device for a file whose st_dev is `dev` (hex "maj:min"), or undefined
 * when `dev` is a mount's device itself or no mount can be found.
 */
function superDev(dev: string, at: FileAt): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'latin1');
  } catch {
    return undefined;
  }
  // id parent major:minor root mountpoint ...
  const mounts = text.split('\n').map((line) => line.split(' ', 3));
  if (mounts.some((f) => f[2] !== undefined && hexDev(f[2]) === dev)) return undefined;
  if (at.fd !== undefined) {
    try {
      const id = /^mnt_id:\s*(\d+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${at.fd}`, 'latin1'))?.[1];
      const m = mounts.find((f) => f[0] === id);
      if (m?.[2] !== undefined) return hexDev(m[2]);
    } catch {
      // No fdinfo: by the path, if there is one.
    }
  }
  if (typeof at.path !== 'string') return undefined;
  const mount = mountOf(at.path);
  return mount && hexDev(mount.dev);
}

/**
 * The locks held (not requested) on the file `dev`/`ino` (its stat(2) identity, found at
 * `at`), or undefined where the table cannot be read (not Linux, no /proc). `ino` as the
 * decimal string of the exact number.
 */
export function kernelLocks(dev: number, ino: string, at: FileAt = {}): KernelLock[] | undefined {
  if (process.platform !== 'linux') return undefined;
  let text: string;
  try {
    text = fs.readFileSync('/proc/locks', 'latin1');
  } catch {
    return undefined;
  }
  // Only when the inode number is listed, and not under st_dev, is the mount table read
  // (`:INO ` occurs only as the end of a MAJ:MIN:INO field): the common cases (no lock on
  // it, or listed under st_dev) scan the table once.
  let sdev = devText(dev);
  if (text.includes(`:${ino} `) && !text.includes(` ${sdev}:${ino} `)) sdev = superDev(sdev, at) ?? sdev;
  return locksIn(text, ` ${sdev}:${ino} `);
}

/** The held locks on the file named by `id` (" maj:min:ino ") in lines of /proc/locks' form. */
function locksIn(text: string, id: string): KernelLock[] {
  const found: KernelLock[] = [];
  for (let i = text.indexOf(id); i >= 0; i = text.indexOf(id, i + id.length)) {
    const start = text.lastIndexOf('\n', i) + 1;
    // /proc/PID/fdinfo lines start with "lock:\t".
    const f = text
      .slice(start, i)
      .replace(/^lock:\s*/, '')
      .trim()
      .split(/\s+/);
    // [ "ID:", KIND, ADVISORY, MODE, PID ], or with "->" after the id for a waiter.
    if (f[1] === '->' || f.length !== 5) continue;
    const kind = KINDS[f[1]];
    if (!kind) continue;
    const pid = Number(f[4]);
    const eol = text.indexOf('\n', i);
    const [from, to] = text
      .slice(i + id.length, eol < 0 ? undefined : eol)
      .trim()
      .split(/\s+/);
    found.push({
      kind,
      shared: f[3] === 'READ',
      pid: Number.isSafeInteger(pid) && pid > 0 ? pid : undefined,
      start: Number(from) || 0,
      end: to === 'EOF' || to === undefined ? Infinity : Number(to),
    });
  }
  return found;
}

/**
 * The OFD locks that descriptors of this process other than `fd` hold on the file
 * `dev`/`ino` (the kernel's table shows OFD holders with pid -1; /proc/self/fdinfo
 * lists each descriptor's own locks). Linux only; at most 4096 descriptors are read.
 */
export function ownOfdLocks(dev: number, ino: string, fd: number): KernelLock[] {
  if (process.platform !== 'linux') return [];
  let fds: string[];
  try {
    fds = fs.readdirSync('/proc/self/fdinfo');
  } catch {
    return [];
  }
  const found: KernelLock[] = [];
  for (const name of fds.slice(0, 4096)) {
    if (name === String(fd)) continue;
    let text: string;
    try {
      text = fs.readFileSync(`/proc/self/fdinfo/${name}`, 'latin1');
    } catch {
      continue;
    }
    for (const k of locksIn(text, ` ${devText(dev)}:${ino} `))
      if (k.kind === 'ofd') found.push({ ...k, pid: process.pid });
  }
  return found;
}

/** The command name of a local process (/proc/PID/comm: at most 15 bytes), if readable. */
export function commandName(pid: number): string | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    // Any process sets its own (prctl PR_SET_NAME): shown only if it is a plain name.
    return cleanName(fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
  } catch {
    return undefined;
  }
}

/**
 * Whether the open file behind this process's descriptor `fd` holds a lock (Linux:
 * /proc/self/fdinfo lists the flock(2) and OFD locks of that open file as "lock:"
 * lines, proc(5)); undefined where that cannot be read (not Linux, no /proc).
 */
export function fdHoldsLock(fd: number): boolean | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    return /^lock:/m.test(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'));
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? false : undefined;
  }
}
