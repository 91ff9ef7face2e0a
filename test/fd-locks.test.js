'use strict';
// Descriptor locks: flock(2) whole-file locks and Linux OFD byte ranges. The fallback
// backend cannot lock descriptors and says so with ENOTSUP (README "Fallback backend").
const { test, suite } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { fslock, native, tmpdir, within, spawnFixture, rejectsWith, throwsWith } = require('./helpers');

function openPair(t) {
  const file = path.join(tmpdir(t), 'data');
  fs.writeFileSync(file, 'x'.repeat(100));
  const a = fs.openSync(file, 'r+');
  const b = fs.openSync(file, 'r+');
  t.after(() => {
    for (const fd of [a, b]) {
      try {
        fs.closeSync(fd);
      } catch {}
    }
  });
  return { file, a, b };
}

if (!native) {
  test('fallback: descriptor locks fail with ENOTSUP instead of pretending', async (t) => {
    const { a } = openPair(t);
    await rejectsWith(fslock.flock(a, 'exclusive'), { code: 'ENOTSUP' });
    throwsWith(() => fslock.flockSync(a, 'shared'), { code: 'ENOTSUP' });
    await rejectsWith(fslock.lockRange(a, { start: 0, length: 1 }), { code: 'ENOTSUP' });
    throwsWith(() => fslock.lockRangeSync(a, { start: 0, length: 1 }), { code: 'ENOTSUP' });
    throwsWith(() => fslock.unlockRangeSync(a, { start: 0, length: 1 }), { code: 'ENOTSUP' });
  });
} else {
  suite('descriptor locks (native)', () => {
    test('flock: two descriptions conflict, shared ones coexist, unlock frees', async (t) => {
      const { a, b } = openPair(t);
      await fslock.flock(a, 'exclusive');
      await rejectsWith(fslock.flock(b, 'shared', { wait: false }), { code: 'ELOCKED' });
      throwsWith(() => fslock.flockSync(b, 'exclusive', { wait: false }), { code: 'ELOCKED' });
      await fslock.flock(a, 'shared'); // conversion on the same fd
      await fslock.flock(b, 'shared', { wait: false });
      await rejectsWith(fslock.flock(a, 'exclusive', { wait: false }), { code: 'ELOCKED' });
      await fslock.flock(b, 'unlock');
      await fslock.flock(a, 'exclusive', { wait: false });
      fslock.flockSync(a, 'unlock');
      fslock.flockSync(b, 'exclusive');
      fslock.flockSync(b, 'unlock');
    });

    test('flock: a blocked wait is granted on release, and timeout/abort interrupt it', async (t) => {
      const { a, b } = openPair(t);
      fslock.flockSync(a, 'exclusive');
      await rejectsWith(fslock.flock(b, 'exclusive', { timeout: 50 }), { code: 'ETIMEDOUT' });
      // a is this thread's: blocking the thread for it would wait for itself.
      throwsWith(() => fslock.flockSync(b, 'exclusive', { timeout: 50 }), { code: 'EDEADLK', syscall: 'flock' });
      const ac = new AbortController();
      const aborted = fslock.flock(b, 'exclusive', { signal: ac.signal });
      setTimeout(() => ac.abort(), 20);
      await rejectsWith(aborted, { code: 'ABORT_ERR' });
      // The interrupted calls hold nothing: b can still be refused, then granted.
      await rejectsWith(fslock.flock(b, 'exclusive', { wait: false }), { code: 'ELOCKED' });
      const waiting = fslock.flock(b, 'exclusive');
      setTimeout(() => fslock.flockSync(a, 'unlock'), 20);
      await within(waiting);
      await rejectsWith(fslock.flock(a, 'shared', { wait: false }), { code: 'ELOCKED' });
    });

    test('Sync forms: a wait for another process honours timeout; one for this thread is refused, then granted once it unlocks', async (t) => {
      const { file, a, b } = openPair(t);
      for (const kind of ['flock', 'range']) {
        const holder = spawnFixture(t, 'fd-holder.js', [file, kind, 'exclusive', '0', '1']);
        await holder.next('granted');
        const take = (fd) =>
          kind === 'flock'
            ? fslock.flockSync(fd, 'exclusive', { timeout: 50 })
            : fslock.lockRangeSync(fd, { start: 0, length: 1, timeout: 50 });
        throwsWith(() => take(a), { code: 'ETIMEDOUT' });
        holder.send({ type: 'release' });
        await holder.next('released');
        take(a);
        throwsWith(() => take(b), { code: 'EDEADLK' });
        if (kind === 'flock') fslock.flockSync(a, 'unlock');
        else fslock.unlockRangeSync(a, { start: 0, length: 1 });
        take(b);
        if (kind === 'flock') fslock.flockSync(b, 'unlock');
        else fslock.unlockRangeSync(b, { start: 0, length: 1 });
      }
    });

    test('flock: another process waits, and SIGKILL of the holder releases', async (t) => {
      const { file, a } = openPair(t);
      const holder = spawnFixture(t, 'fd-holder.js', [file, 'flock', 'exclusive']);
      await holder.next('granted');
      await rejectsWith(fslock.flock(a, 'shared', { wait: false }), { code: 'ELOCKED' });
      const waiting = fslock.flock(a, 'shared');
      holder.kill('SIGKILL');
      await within(waiting);
      fslock.flockSync(a, 'unlock');
    });

    test('ranges: overlapping conflict, disjoint coexist, shared coexist', async (t) => {
      const { a, b } = openPair(t);
      await fslock.lockRange(a, { start: 0, length: 10 });
      await fslock.lockRange(b, { start: 10, length: 10 }); // disjoint
      await rejectsWith(fslock.lockRange(b, { start: 5, length: 2, wait: false }), { code: 'ELOCKED' });
      await fslock.unlockRange(a, { start: 0, length: 10 });
      await fslock.lockRange(b, { start: 5, length: 2, wait: false });
      await fslock.lockRange(a, { start: 50, length: 10, shared: true });
      fslock.lockRangeSync(b, { start: 55, length: 2, shared: true, wait: false });
      throwsWith(() => fslock.lockRangeSync(b, { start: 50, length: 1, wait: false }), { code: 'ELOCKED' });
      // length 0: from start to the end of the file, however far it grows.
      fslock.lockRangeSync(a, { start: 200, length: 0 });
      throwsWith(() => fslock.lockRangeSync(b, { start: 1_000_000, length: 1, wait: false }), { code: 'ELOCKED' });
      fslock.lockRangeSync(b, { start: 150, length: 50, wait: false }); // ends right before 200
    });

    test('ranges are OFD locks: closing another fd of the same file keeps them', async (t) => {
      const { file, a } = openPair(t);
      await fslock.lockRange(a, { start: 0, length: 4 });
      // With classic POSIX locks this close would drop the lock held through `a`.
      fs.closeSync(fs.openSync(file, 'r'));
      const probe = spawnFixture(t, 'fd-holder.js', [file, 'range-nowait', 'exclusive', '2', '1']);
      assert.equal((await probe.next('failed')).code, 'ELOCKED', 'another process is still excluded');
      fslock.unlockRangeSync(a, { start: 0, length: 4 });
      const child = spawnFixture(t, 'fd-holder.js', [file, 'range-nowait', 'exclusive', '2', '1']);
      await child.next('granted');
    });

    test('ranges: blocking wait, timeout and abort', async (t) => {
      const { a, b } = openPair(t);
      fslock.lockRangeSync(a, { start: 0, length: 1 });
      await rejectsWith(fslock.lockRange(b, { start: 0, length: 1, timeout: 30 }), { code: 'ETIMEDOUT' });
      throwsWith(() => fslock.lockRangeSync(b, { start: 0, length: 1, timeout: 30 }), {
        code: 'EDEADLK',
        syscall: 'fcntl',
      });
      await rejectsWith(fslock.lockRange(b, { start: 0, length: 1, signal: AbortSignal.timeout(30) }), {
        name: 'TimeoutError',
      });
      const waiting = fslock.lockRange(b, { start: 0, length: 1 });
      setTimeout(() => fslock.unlockRangeSync(a, { start: 0, length: 1 }), 20);
      await within(waiting);
    });
  });
}
