'use strict';
// Windows locks against the other programs that lock the same file (issue 27), and
// descriptor locks over a descriptor's own ranges (issue 22). The other program is
// test/fixtures/win32-locker.c, built with mingw-w64 by scripts/test-windows.js, which
// takes its locks the way Rust's std File::lock (and so cargo and uv) and Python's
// filelock (msvcrt.locking) do. The range tests run on every platform: they state what
// POSIX does differently.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { fslock, native, tmpdir, rejectsWith, throwsWith, within, LIMIT } = require('./helpers');

const win32 = process.platform === 'win32';
const underWine = win32 && process.env.WINEPREFIX !== undefined;
const LOCKER = process.env.FSLOCK_WIN32_LOCKER;
const noLocker = !win32
  ? 'Windows only (npm run test:windows runs it under Wine)'
  : !native
    ? 'the fallback backend takes no kernel lock'
    : !LOCKER && !underWine && 'the locker program is built by npm run test:windows (mingw-w64)';

/**
 * Runs the locker on `file`: next() resolves with its next line ('granted', 'busy',
 * 'released'), release() ends its stdin (it unlocks, closes and exits).
 */
function locker(t, file, mode, how) {
  assert.ok(LOCKER, 'FSLOCK_WIN32_LOCKER is missing: run the Windows tests with npm run test:windows');
  const child = spawn(LOCKER, [file, mode, how], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = [];
  const waiters = [];
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d;
    for (let i; (i = buf.indexOf('\n')) >= 0;) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (waiters.length) waiters.shift()(line);
      else lines.push(line);
    }
  });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => child.exitCode === null && child.kill());
  return {
    next: () =>
      within(
        lines.length ? Promise.resolve(lines.shift()) : new Promise((r) => waiters.push(r)),
        LIMIT,
        `a line from the locker (${mode} ${how})`,
      ),
    release: async () => {
      child.stdin.end();
      assert.equal(await within(exited), 0);
    },
    exited: () => within(exited),
  };
}

test(
  "a whole-range LockFileEx holder (Rust's File::lock, cargo, uv) excludes fslock, and isLocked sees it",
  { skip: noLocker },
  async (t) => {
    const p = path.join(tmpdir(t), 'cargo.lock');
    const rust = locker(t, p, 'whole-ex', 'try');
    assert.equal(await rust.next(), 'granted');
    throwsWith(() => fslock.lockSync(p, { wait: false }), { code: 'ELOCKED' });
    throwsWith(() => fslock.lockSync(p, { shared: true, timeout: 200 }), { code: 'ETIMEDOUT' });
    await rejectsWith(fslock.lock(p, { wait: false }), { code: 'ELOCKED' });
    assert.equal(await fslock.isLocked(p), true);
    const waiting = fslock.lock(p);
    await rust.release();
    const l = await within(waiting);
    await l.release();
  },
);

test(
  'fslock excludes a whole-range LockFileEx locker, exclusive and shared, and hands over to its wait',
  { skip: noLocker },
  async (t) => {
    const p = path.join(tmpdir(t), 'uv.lock');
    const l = await fslock.lock(p);
    for (const mode of ['whole-ex', 'whole-sh']) {
      const other = locker(t, p, mode, 'try');
      assert.equal(await other.next(), 'busy', mode);
      assert.equal(await other.exited(), 2);
    }
    const waiter = locker(t, p, 'whole-ex', 'wait');
    const granted = waiter.next();
    await l.release();
    assert.equal(await granted, 'granted');
    await waiter.release();
    // Shared with shared: both hold.
    const s = await fslock.lock(p, { shared: true });
    const reader = locker(t, p, 'whole-sh', 'try');
    assert.equal(await reader.next(), 'granted');
    const s2 = fslock.lockSync(p, { shared: true, wait: false });
    throwsWith(() => fslock.lockSync(p, { wait: false }), { code: 'ELOCKED' });
    await reader.release();
    s2.releaseSync();
    await s.release();
  },
);

test(
  "Python filelock's lock (msvcrt.locking, one byte at offset 0) is not seen, either way",
  { skip: noLocker },
  async (t) => {
    // Path locks lock one byte at 2^62 (so that they never lock the file's data); filelock
    // locks byte 0. The two never meet: documented as "not seen" (README, Windows).
    const p = path.join(tmpdir(t), 'filelock.lock');
    const py = locker(t, p, 'byte0', 'try');
    assert.equal(await py.next(), 'granted');
    assert.equal(await fslock.isLocked(p), false);
    const l = fslock.lockSync(p, { wait: false });
    const py2 = locker(t, p, 'byte0', 'try');
    assert.equal(await py2.next(), 'busy', 'filelock still excludes itself');
    await py.release();
    const py3 = locker(t, p, 'byte0', 'try');
    assert.equal(await py3.next(), 'granted', 'while fslock holds the file');
    await py3.release();
    l.releaseSync();
  },
);

test(
  'a program holding the lock file open with FILE_SHARE_READ only: isLocked says locked, lock waits',
  { skip: noLocker },
  async (t) => {
    const p = path.join(tmpdir(t), 'indexed.lock');
    fs.writeFileSync(p, '');
    const scanner = locker(t, p, 'deny-write', 'try');
    assert.equal(await scanner.next(), 'granted');
    assert.equal(await fslock.isLocked(p), true);
    throwsWith(() => fslock.lockSync(p, { wait: false }), { code: 'ELOCKED' });
    const waiting = fslock.lock(p, { timeout: LIMIT });
    await scanner.release();
    await (await within(waiting)).release();
  },
);

// ---- a descriptor's own ranges ---------------------------------------------------

const noRanges = !native && 'descriptor locks need the native backend';

function openPair(t) {
  const file = path.join(tmpdir(t), 'data');
  fs.writeFileSync(file, 'x'.repeat(64));
  const a = fs.openSync(file, 'r+');
  const b = fs.openSync(file, 'r+');
  t.after(() => [a, b].forEach((fd) => fs.closeSync(fd)));
  return { file, a, b };
}

test(
  'lockRange over a range the same descriptor holds: Windows refuses at once (EDEADLK), POSIX converts or merges',
  { skip: noRanges, timeout: 120_000 },
  async (t) => {
    const { a, b } = openPair(t);
    fslock.lockRangeSync(a, { start: 0, length: 10 });
    fslock.lockRangeSync(a, { start: 20, length: 10, shared: true });
    const overlapping = [
      { start: 5, length: 10 }, // exclusive over its exclusive: LockFileEx would wait on itself
      { start: 0, length: 10, shared: true }, // shared over it: LockFileEx would stack, not convert
      { start: 25, length: 2 }, // exclusive over its shared: would wait on itself
      { start: 20, length: 10, shared: true }, // shared over its shared: would stack
    ];
    for (const r of overlapping) {
      if (win32) {
        // Issue 22: the first and third waited for themselves for ever.
        const e = throwsWith(() => fslock.lockRangeSync(a, r), { code: 'EDEADLK' });
        assert.match(e.message, /already holds a lock overlapping this range/);
        await rejectsWith(fslock.lockRange(a, { ...r, wait: false }), { code: 'EDEADLK' });
        await rejectsWith(fslock.lockRange(a, r), { code: 'EDEADLK' });
      } else {
        fslock.lockRangeSync(a, { ...r, wait: false });
      }
    }
    if (!win32) return;
    // Nothing changed: exclusive 0-10, shared 20-30; each goes with one exact unlock.
    throwsWith(() => fslock.lockRangeSync(b, { start: 9, length: 1, shared: true, wait: false }), { code: 'ELOCKED' });
    fslock.lockRangeSync(b, { start: 10, length: 1, wait: false });
    fslock.lockRangeSync(b, { start: 29, length: 1, shared: true, wait: false });
    fslock.unlockRangeSync(a, { start: 20, length: 10 });
    fslock.unlockRangeSync(b, { start: 29, length: 1 });
    fslock.lockRangeSync(b, { start: 20, length: 10, wait: false });
    // flock() and a range to the end share the whole-file byte: no wait on itself either.
    fslock.unlockRangeSync(a, { start: 0, length: 10 });
    fslock.lockRangeSync(a, { start: 100, length: 0 });
    throwsWith(() => fslock.flockSync(a, 'exclusive'), { code: 'EDEADLK' });
    fslock.unlockRangeSync(a, { start: 100, length: 0 });
    fslock.flockSync(a, 'exclusive');
    await rejectsWith(fslock.lockRange(a, { start: 100, length: 0 }), { code: 'EDEADLK' });
    fslock.flockSync(a, 'shared'); // a conversion of flock() itself still works
    throwsWith(() => fslock.flockSync(b, 'exclusive', { wait: false }), { code: 'ELOCKED' });
    fslock.flockSync(b, 'shared', { wait: false });
    fslock.flockSync(a, 'unlock');
  },
);

test(
  'unlockRange of a range not locked as given: an error on Windows (nothing unlocked), success on POSIX',
  { skip: noRanges },
  (t) => {
    const { a, b } = openPair(t);
    fslock.lockRangeSync(a, { start: 0, length: 10 });
    const parts = [
      { start: 0, length: 5 }, // part of a locked range
      { start: 20, length: 5 }, // never locked
      { start: 0, length: 20 }, // more than was locked
    ];
    for (const r of parts) {
      if (win32) {
        // Issue 22: this reported success although UnlockFileEx unlocked nothing.
        const e = throwsWith(() => fslock.unlockRangeSync(a, r), { code: 'ENOLCK', syscall: 'UnlockFileEx' });
        assert.match(e.message, /exactly as it was locked/);
      } else {
        fslock.unlockRangeSync(a, r);
      }
    }
    if (win32) {
      // The whole range is still locked; its exact unlock releases it.
      throwsWith(() => fslock.lockRangeSync(b, { start: 0, length: 1, wait: false }), { code: 'ELOCKED' });
      fslock.unlockRangeSync(a, { start: 0, length: 10 });
    }
    fslock.lockRangeSync(b, { start: 0, length: 10, wait: false });
  },
);

test(
  'a range released by closing its descriptor: the next descriptor of the same file locks it without a false EDEADLK',
  { skip: noRanges },
  (t) => {
    const { file, b } = openPair(t);
    for (const shared of [false, true, false, true]) {
      // Windows reuses handle values at once: the reopened fd often gets the same handle,
      // whose note of the closed fd's lock is stale.
      const fd = fs.openSync(file, 'r+');
      fslock.lockRangeSync(fd, { start: 0, length: 10, shared, wait: false });
      throwsWith(() => fslock.lockRangeSync(b, { start: 0, length: 1, wait: false }), { code: 'ELOCKED' });
      fs.closeSync(fd);
    }
    fslock.lockRangeSync(b, { start: 0, length: 10, wait: false });
  },
);
