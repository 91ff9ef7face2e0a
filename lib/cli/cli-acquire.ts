// `fslock LOCKFILE COMMAND`: taking the path lock, telling whom it waits for, and the
// exit status when the lock cannot be had (flock(1)'s, see exitFor).
import * as nodePath from 'node:path';
import { lockedError, timeoutError } from '../common/errors';
import { clearLongTimeout, setLongTimeout } from '../common/long-timer';
import { type Holder, type Lock, type WaitInfo, lock, lockHolder } from '../locks/locks';
import { describeHolder } from '../protocol/record';
import { type RunOptions, exitFor, tookLine } from './cli-args';

/**
 * Takes the lock, or resolves with the status to exit with. Waits of any length: the
 * -w timer is fslock's own (setLongTimeout), which aborts the wait and names the holder.
 * Both ways of giving up name the command's option (`-n`, `-w`), not the library's.
 * The library's `onWait` tells who holds the lock, when the wait starts and whenever the
 * holder changes: after a second of waiting fslock says so on stderr, and again when
 * the holder changes.
 */
export async function acquire(o: RunOptions, ac: AbortController): Promise<Lock | number> {
  const file = nodePath.resolve(o.file);
  let holder: Holder | undefined;
  let said = false;
  let tell: NodeJS.Timeout | undefined;
  const say = (): void => {
    const who = describeHolder(holder) ?? 'another process';
    process.stderr.write(
      `fslock: ${said ? 'still waiting' : 'waiting'} for ${o.file}, ${said ? 'now ' : ''}held by ${who}\n`,
    );
    said = true;
  };
  const onWait = (info: WaitInfo): void => {
    holder = info.holder;
    if (o.quiet) return;
    if (said) say();
    else tell ??= setTimeout(say, 1000);
  };
  const ms = o.timeout;
  const timer =
    ms === undefined || o.nonblock
      ? undefined
      : setLongTimeout(async () => {
          const h = holder ?? (await lockHolder(file).catch(() => undefined));
          ac.abort(timeoutError(file, ms, h, '-w'));
        }, ms);
  const started = process.hrtime.bigint();
  try {
    // The library's default keeps the lock file, as flock(1) does (native backend).
    const l = await lock(file, { shared: o.shared, wait: !o.nonblock, signal: ac.signal, onWait });
    if (o.verbose) process.stdout.write(tookLine(started));
    return l;
  } catch (e) {
    let err = e as NodeJS.ErrnoException;
    if (err.code === 'ELOCKED' && o.nonblock && !o.quiet) {
      // The library's message names `options.wait`; the user typed -n. The holder is
      // asked again (it may have gone meanwhile: then the message names nobody).
      const h = await lockHolder(file).catch(() => undefined);
      err = lockedError(file, h, '-n');
    }
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
