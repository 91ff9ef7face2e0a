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
import * as fs from 'node:fs';
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

/**
 * The locks held (not requested) on the file `dev`/`ino`, or undefined where the table
 * cannot be read (not Linux, no /proc). `ino` as the decimal string of the exact number.
 */
export function kernelLocks(dev: number, ino: string): KernelLock[] | undefined {
  if (process.platform !== 'linux') return undefined;
  let text: string;
  try {
    text = fs.readFileSync('/proc/locks', 'latin1');
  } catch {
    return undefined;
  }
  return locksIn(text, ` ${devText(dev)}:${ino} `);
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
