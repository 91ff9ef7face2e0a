// `fslock LOCKFILE COMMAND`: taking the path lock, telling whom it waits for, and the
// exit status when the lock cannot be had (flock(1)'s, see exitFor).
import * as nodePath from 'node:path';
import { timeoutError } from '../common/errors';
import { clearLongTimeout, setLongTimeout } from '../common/long-timer';
import { type Lock, lock, lockHolder } from '../locks/locks';
import { describeHolder } from '../protocol/record';
import { type RunOptions, exitFor, tookLine } from './cli-args';

/**
 * Takes the lock, or resolves with the status to exit with. Waits of any length: the
 * -w timer is fslock's own (setLongTimeout), which aborts the wait.
 */
export async function acquire(o: RunOptions, ac: AbortController): Promise<Lock | number> {
  const file = nodePath.resolve(o.file);
  let tell: NodeJS.Timeout | undefined;
  if (!o.quiet && !o.nonblock) {
    tell = setTimeout(async () => {
      const h = await lockHolder(file).catch(() => undefined);
      const who = describeHolder(h) ?? 'another process';
      process.stderr.write(`fslock: waiting for ${o.file}, held by ${who}\n`);
    }, 1000);
  }
  const ms = o.timeout;
  const timer =
    ms === undefined || o.nonblock
      ? undefined
      : setLongTimeout(async () => {
          const h = await lockHolder(file).catch(() => undefined);
          ac.abort(timeoutError(file, ms, describeHolder(h)));
        }, ms);
  const started = process.hrtime.bigint();
  try {
    // The lock file stays after release, as flock(1)'s does (and cargo's and uv's):
    // a program that locks it without re-checking the path must never hold a removed
    // file while fslock's next holder holds a new one.
    const l = await lock(file, { shared: o.shared, wait: !o.nonblock, keep: true, signal: ac.signal });
    if (o.verbose) process.stdout.write(tookLine(started));
    return l;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ELOCKED' || err.code === 'ETIMEDOUT') {
      if (o.verbose)
        process.stderr.write(
          `fslock: ${err.code === 'ELOCKED' ? 'failed to get lock' : 'timeout while waiting to get lock'}\n`,
        );
      if (!o.quiet) process.stderr.write(`fslock: ${err.message}\n`);
      return o.conflictCode;
    }
    if (err.code === 'ABORT_ERR') return 1; // a signal: the caller exits 128+n
    process.stderr.write(`fslock: ${err.message}\n`);
    return exitFor(err);
  } finally {
    if (tell) clearTimeout(tell);
    clearLongTimeout(timer);
  }
}
