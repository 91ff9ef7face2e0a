// `fslock [-s|-x|-u] [-n|-w SECONDS] FD`: flock(1)'s descriptor form. Locks the open
// file description behind a descriptor fslock inherited from its caller, so the lock
// lives with the caller's descriptor after fslock exits:
//
//   ( fslock -n 9 || exit 1; ...critical section... ) 9>/var/lock/job.lock
//
// Linux: flock(2), then an open-file-description lock (F_OFD_SETLK, whole file) on
// the same descriptor when it refers to a regular file opened in a mode that allows
// it (a write lock needs it open for writing, a read lock for reading), the pair that
// fslock's path locks take (flock first), so that flock(2) users and POSIX record-lock
// users (lockf, Java) are excluded too. Both belong to the open file description, as
// the descriptor form needs: a classic fcntl lock would end with fslock's process.
// Elsewhere flock(2) alone (macOS and BSD have no OFD locks). Windows: not supported,
// a LockFileEx lock ends with the process that took it.
import * as fs from 'node:fs';
import { lockedError, timeoutError } from '../common/errors';
import type { Holder } from '../common/holder';
import type { FlockMode } from '../locks/fd-locks';
import { type FdOptions, EX_DATAERR, exitFor, tookLine } from './cli-args';
import { onInterrupt, signalNumber } from './cli-signals';

/**
 * Whether `fd` can be the descriptor fslock's caller meant. Node marks
 * every inherited descriptor close-on-exec at start-up (uv_disable_stdio_inheritance),
 * so that does not tell an inherited descriptor from one Node opened on a number the
 * caller left free; the file type does: Node's own descriptors are an epoll or kqueue,
 * eventfds, pipes and /dev/null, never a regular file or a directory, which are what
 * scripts lock. (flock(1) would also lock a FIFO or a device.)
 */
function lockable(st: fs.Stats): boolean {
  return st.isFile() || st.isDirectory();
}

/** The file behind `fd`, for messages (Linux), or undefined. */
function pathOf(fd: number): string | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
}

export async function lockFd(o: FdOptions): Promise<number> {
  const fd = o.fd;
  const fail = (message: string, code = EX_DATAERR): number => {
    process.stderr.write(`fslock: ${fd}: ${message}\n`);
    return code;
  };
  if (process.platform === 'win32')
    return fail(
      'ENOTSUP: the descriptor form is not supported on Windows (a LockFileEx lock ends with the process that took it)',
    );
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fdLocks = require('../locks/fd-locks') as typeof import('../locks/fd-locks');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  if ((require('../native/binding') as typeof import('../native/binding')).backendName !== 'native')
    return fail('ENOTSUP: descriptor locks need the native backend (fslock.backend is "fallback")');
  let st: fs.Stats;
  try {
    st = fs.fstatSync(fd);
  } catch (e) {
    return fail((e as Error).message);
  }
  if (!lockable(st)) return fail('EBADF: bad file descriptor (not a regular file or directory the caller opened)');
  const ofd = process.platform === 'linux' && st.isFile();
  const range = { start: 0, length: 0 };

  if (o.unlock) {
    try {
      fdLocks.flockSync(fd, 'unlock');
      if (ofd) fdLocks.unlockRangeSync(fd, range);
      return 0;
    } catch (e) {
      return fail((e as Error).message, exitFor(e as NodeJS.ErrnoException));
    }
  }

  const mode: FlockMode = o.shared ? 'shared' : 'exclusive';
  const ac = new AbortController();
  const interruptedBy = onInterrupt(ac);
  const deadline = o.timeout === undefined ? undefined : Date.now() + o.timeout;
  // Who held the lock when the wait began (the library's onWait), for the -w message.
  let holder: Holder | undefined;
  const wait = () => ({
    wait: !o.nonblock,
    timeout: deadline === undefined ? undefined : Math.max(0, deadline - Date.now()),
    signal: ac.signal,
    onWait: (info: { holder: Holder | undefined }) => (holder = info.holder ?? holder),
  });
  const started = process.hrtime.bigint();
  let flocked = false;
  let ofdTaken = false;
  try {
    await fdLocks.flock(fd, mode, wait());
    flocked = true;
    if (ofd) {
      try {
        await fdLocks.lockRange(fd, { ...range, shared: o.shared, ...wait() });
        ofdTaken = true;
      } catch (e) {
        // EBADF after flock(2) succeeded on the same descriptor: its access mode does
        // not allow this lock type (fcntl(2)); it stays a flock(2) lock only.
        if ((e as NodeJS.ErrnoException).code !== 'EBADF') throw e;
      }
    }
  } catch (e) {
    // A failed or interrupted call leaves the descriptor unlocked (as a failed flock(2)
    // conversion from shared to exclusive does).
    try {
      if (flocked) fdLocks.flockSync(fd, 'unlock');
      if (ofd) fdLocks.unlockRangeSync(fd, range);
    } catch {
      // Unlocking a descriptor that locked fine cannot fail; the first error is the one to tell.
    }
    const signal = interruptedBy();
    if (signal) return 128 + signalNumber(signal);
    let err = e as NodeJS.ErrnoException;
    // The library's messages name options.wait and options.timeout (of one of the two
    // calls, which share the -w deadline): the user typed -n or -w SECONDS.
    if (err.code === 'ELOCKED') err = lockedError(`fd ${fd}`, undefined, '-n');
    else if (err.code === 'ETIMEDOUT' && o.timeout !== undefined)
      err = timeoutError(`fd ${fd}`, o.timeout, holder, '-w');
    if (err.code === 'ELOCKED' || err.code === 'ETIMEDOUT') {
      if (o.verbose)
        process.stderr.write(
          `fslock: ${err.code === 'ELOCKED' ? 'failed to get lock' : 'timeout while waiting to get lock'}\n`,
        );
      const file = pathOf(fd);
      if (!o.quiet) process.stderr.write(`fslock: ${err.message}${file ? ` (${file})` : ''}\n`);
      return o.conflictCode;
    }
    return fail(err.message, exitFor(err));
  }
  if (o.verbose) {
    process.stdout.write(tookLine(started));
    if (ofd && !ofdTaken)
      process.stdout.write(
        `fslock: ${fd}: flock(2) lock only: an OFD ${mode} lock needs the descriptor open for ${o.shared ? 'reading' : 'writing'}\n`,
      );
  }
  return 0;
}
