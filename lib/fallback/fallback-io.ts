// How the fallback's protocol steps reach the filesystem. Each step is written once, as
// a generator that yields the calls it needs (`yield* open(...)`) and gets their
// results back, or their errors thrown where it yielded; a driver makes the calls:
// - runSync: node:fs's synchronous calls (lockSync, releaseSync, and the first attempt
//   of lock(), which runs inside the caller's call);
// - runAsync: node:fs's callback calls on libuv's threadpool (close in a worker thread
//   excepted: callAsync), one at a time, for
//   everything that runs on a timer (the heartbeat, and every poll of a waiting lock()
//   after its first sleep). A hung mount then holds one pool thread for the one call
//   it hangs in, and the event loop runs on;
// - runUntilSleep: synchronously until the step's first sleep, then as runAsync.
// So the protocol is the same steps in the same order whichever way it runs.
import * as fs from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import type { FsPath } from '../common/args';
import { sleep, sleepSync } from '../protocol/lock-backend';
import { READ_MAX } from '../protocol/record';

/** One filesystem call (or a sleep) a step asks its driver to make. */
type Call =
  | { k: 'open'; path: FsPath; flags: number; mode: number | undefined }
  | { k: 'close' | 'fstat' | 'fsync'; fd: number }
  | { k: 'lstat' | 'unlink' | 'readdir'; path: FsPath }
  | { k: 'link' | 'rename'; from: FsPath; to: FsPath }
  | { k: 'read'; fd: number; size: number }
  | { k: 'write'; fd: number; text: string }
  | { k: 'fchmod' | 'ftruncate'; fd: number; n: number }
  | { k: 'futimes'; fd: number; time: Date }
  | { k: 'sleep'; ms: number; signal: AbortSignal | undefined; reasonOf: (s: AbortSignal) => unknown };

/** A protocol step: yields calls, returns T. */
export type Step<T> = Generator<Call, T, unknown>;

export function* open(path: FsPath, flags: number, mode?: number): Step<number> {
  return (yield { k: 'open', path, flags, mode }) as number;
}
export function* close(fd: number): Step<void> {
  yield { k: 'close', fd };
}
export function* fstat(fd: number): Step<fs.Stats> {
  return (yield { k: 'fstat', fd }) as fs.Stats;
}
export function* fsync(fd: number): Step<void> {
  yield { k: 'fsync', fd };
}
export function* lstat(path: FsPath): Step<fs.Stats> {
  return (yield { k: 'lstat', path }) as fs.Stats;
}
export function* unlink(path: FsPath): Step<void> {
  yield { k: 'unlink', path };
}
/** Lists a directory (for what listing it does to a client's cache: the names are dropped). */
export function* readdir(path: FsPath): Step<void> {
  yield { k: 'readdir', path };
}
export function* link(from: FsPath, to: FsPath): Step<void> {
  yield { k: 'link', from, to };
}
export function* rename(from: FsPath, to: FsPath): Step<void> {
  yield { k: 'rename', from, to };
}
/** The first `size` bytes (at most READ_MAX) of `fd`, from offset 0, as UTF-8. */
export function* read(fd: number, size: number): Step<string> {
  return (yield { k: 'read', fd, size }) as string;
}
export function* write(fd: number, text: string): Step<void> {
  yield { k: 'write', fd, text };
}
export function* fchmod(fd: number, mode: number): Step<void> {
  yield { k: 'fchmod', fd, n: mode };
}
export function* ftruncate(fd: number, length: number): Step<void> {
  yield { k: 'ftruncate', fd, n: length };
}
/** Sets atime and mtime. */
export function* futimes(fd: number, time: Date): Step<void> {
  yield { k: 'futimes', fd, time };
}
/** Waits `ms` (a blocking sleep in runSync); rejects with the signal's reason when it aborts. */
export function* pause(ms: number, signal?: AbortSignal, reasonOf?: (s: AbortSignal) => unknown): Step<void> {
  yield { k: 'sleep', ms, signal, reasonOf: reasonOf ?? ((s) => s.reason) };
}

function buffer(size: number): Buffer {
  return Buffer.alloc(Math.min(size, READ_MAX));
}

function callSync(c: Call): unknown {
  switch (c.k) {
    case 'open':
      return fs.openSync(c.path, c.flags, c.mode);
    case 'close':
      return fs.closeSync(c.fd);
    case 'fstat':
      return fs.fstatSync(c.fd);
    case 'fsync':
      return fs.fsyncSync(c.fd);
    case 'lstat':
      return fs.lstatSync(c.path);
    case 'unlink':
      return fs.unlinkSync(c.path);
    case 'readdir':
      return void fs.readdirSync(c.path);
    case 'link':
      return fs.linkSync(c.from, c.to);
    case 'rename':
      return fs.renameSync(c.from, c.to);
    case 'read': {
      const buf = buffer(c.size);
      const n = buf.length ? fs.readSync(c.fd, buf, 0, buf.length, 0) : 0;
      return buf.toString('utf8', 0, n);
    }
    case 'write':
      return void fs.writeSync(c.fd, c.text);
    case 'fchmod':
      return fs.fchmodSync(c.fd, c.n);
    case 'ftruncate':
      return fs.ftruncateSync(c.fd, c.n);
    case 'futimes':
      return fs.futimesSync(c.fd, c.time, c.time);
    case 'sleep':
      return sleepSync(c.ms);
  }
}

type Done = (err: unknown, out?: unknown) => void;

/** close(2) now; its error, or null. */
function closeNow(fd: number): unknown {
  try {
    fs.closeSync(fd);
    return null;
  } catch (e) {
    return e;
  }
}

/** Starts `c` on the threadpool (or a timer); `done` is called once, never synchronously. */
function callAsync(c: Call, done: Done): void {
  const plain = (err: unknown) => done(err);
  switch (c.k) {
    case 'open':
      return fs.open(c.path, c.flags, c.mode, done);
    case 'close':
      // In a worker, synchronously: fs.close() takes the descriptor out of the set Node
      // closes when the worker goes (trackUnmanagedFds) at once, and a close still queued
      // on the pool when the worker is terminated is cancelled; the descriptor then stays
      // open for the life of the process (of 200 terminated workers looping openSync +
      // fs.close: 18 leaked one on Node 20, 36 on 22, 48 on 24; 0 with closeSync). The
      // main thread is never torn down with its process living.
      if (!isMainThread) return void setImmediate(plain, closeNow(c.fd));
      return fs.close(c.fd, plain);
    case 'fstat':
      return fs.fstat(c.fd, done);
    case 'fsync':
      return fs.fsync(c.fd, plain);
    case 'lstat':
      return fs.lstat(c.path, done);
    case 'unlink':
      return fs.unlink(c.path, plain);
    case 'readdir':
      return fs.readdir(c.path, plain);
    case 'link':
      return fs.link(c.from, c.to, plain);
    case 'rename':
      return fs.rename(c.from, c.to, plain);
    case 'read': {
      const buf = buffer(c.size);
      if (!buf.length) return void setImmediate(done, null, '');
      return fs.read(c.fd, buf, 0, buf.length, 0, (err, n) => done(err, err ? undefined : buf.toString('utf8', 0, n)));
    }
    case 'write':
      return fs.write(c.fd, c.text, plain);
    case 'fchmod':
      return fs.fchmod(c.fd, c.n, plain);
    case 'ftruncate':
      return fs.ftruncate(c.fd, c.n, plain);
    case 'futimes':
      return fs.futimes(c.fd, c.time, c.time, plain);
    case 'sleep':
      return void sleep(c.ms, c.signal, c.reasonOf).then(
        () => done(null),
        (e: unknown) => done(e ?? new Error('aborted')),
      );
  }
}

/**
 * Runs `step` with one call at a time on the threadpool; `first` is a call it already
 * yielded. Whatever the step throws rejects the promise: nothing is thrown from a
 * callback into the process.
 */
export function runAsync<T>(step: Step<T>, first?: IteratorResult<Call, T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const go = (r: IteratorResult<Call, T>): void => {
      if (r.done) return resolve(r.value);
      try {
        callAsync(r.value, advance);
      } catch (e) {
        advance(e); // an argument Node refused before starting the call
      }
    };
    const advance: Done = (err, out) => {
      let r: IteratorResult<Call, T>;
      try {
        r = err ? step.throw(err) : step.next(out);
      } catch (e) {
        return reject(e);
      }
      go(r);
    };
    if (first) go(first);
    else advance(null);
  });
}

/**
 * Runs `step` with synchronous calls; with `untilSleep`, only until its first sleep, and
 * from there on as runAsync.
 */
function runFrom<T>(step: Step<T>, untilSleep: boolean): T | Promise<T> {
  let r = step.next();
  while (!r.done) {
    if (untilSleep && r.value.k === 'sleep') return runAsync(step, r);
    let out: unknown;
    try {
      out = callSync(r.value);
    } catch (e) {
      r = step.throw(e);
      continue;
    }
    r = step.next(out);
  }
  return r.value;
}

/** Runs `step` with synchronous calls (sleeps block the thread). */
export function runSync<T>(step: Step<T>): T {
  return runFrom(step, false) as T;
}

/** Runs `step` synchronously until it first sleeps, then as runAsync. */
export function runUntilSleep<T>(step: Step<T>): T | Promise<T> {
  return runFrom(step, true);
}
