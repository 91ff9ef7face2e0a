'use strict';
// The edges of never waiting on yourself (issue 22), found by a review of the path-lock
// core: nested and shared locks settling after the hold they nest in was released, a
// withLock callback's task after its Lock went, lockSync beside a waiting lock(), onWait
// of a queued call, descriptor and path locks of one thread, and two copies of fslock in
// one process. Each failed on the code it was written against; every wait is bounded.
const { test, suite } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { fslock, native, tmpdir, within, until, spawnFixture, nobodyPackage } = require('./helpers');

const root = path.join(__dirname, '..');
const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/** Another process tries the lock without waiting: 'granted' or the error code. */
function otherTries(file, options = {}) {
  const code = `require('fslock').lock(process.argv[1], JSON.parse(process.argv[2]))
    .then((l) => { console.log('granted'); return l.release(); }, (e) => console.log(e.code))`;
  return execFileSync(process.execPath, ['-e', code, file, JSON.stringify({ ...options, wait: false })], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  }).trim();
}

/** What a user's descriptor opened after a release went through: size and whether it still works. */
function victimAfter(dir, release) {
  const file = path.join(dir, 'user-data.json');
  const fd = fs.openSync(file, 'w+');
  fs.writeSync(fd, 'x'.repeat(200));
  try {
    release();
  } catch {
    // ELOCKLOST and the like: what matters here is what happened to the user's file.
  }
  const problems = [];
  try {
    fs.fstatSync(fd);
    fs.closeSync(fd);
  } catch (e) {
    problems.push(`the user's own descriptor was closed by the release (${e.code})`);
  }
  const size = fs.statSync(file).size;
  if (size !== 200) problems.push(`the user's own file was cut from 200 to ${size} bytes by the release`);
  return problems;
}

/**
 * What a lockSync(file) of this thread answers ('granted' or its error code) in the turn
 * right after node:fs's asynchronous `call` (link or rename, made by a waiting lock())
 * put `target` in place. The real call runs; the wrapper only catches that turn.
 */
function lockSyncAfter(t, call, target, file) {
  const real = fs[call];
  t.after(() => (fs[call] = real));
  return new Promise((resolve) => {
    fs[call] = function (from, to, cb) {
      return real.call(this, from, to, (err) => {
        cb(err);
        if (err || String(to) !== target) return;
        fs[call] = real;
        setImmediate(() => {
          try {
            fslock.lockSync(file, { timeout: 10_000 }).releaseSync();
            resolve('granted');
          } catch (e) {
            resolve(e.code);
          }
        });
      });
    };
  });
}

suite(`never waiting on yourself: the edges (${fslock.backend})`, () => {
  test('a reentrant lock() that settles after the last Lock of its hold was released holds nothing, and its release closes (native: truncates) a file of the user', async (t) => {
    const dir = tmpdir(t);
    const file = path.join(dir, 'n.lock');
    let inner;
    let pending;
    // The callback's lock is released with withLock; `inner` keeps the hold (count 1) and
    // tasks started in the callback stay in its context. Such a task asks to nest, then
    // releases `inner` in the same synchronous run, before the nested call settles.
    await within(
      new Promise((resolve, reject) => {
        fslock
          .withLock(file, async () => {
            inner = await fslock.lock(file, { reentrant: true });
            setTimeout(() => {
              pending = fslock.lock(file, { reentrant: true });
              inner.releaseSync();
              resolve();
            }, 20);
          })
          .catch(reject);
      }),
    );
    let nestedLock;
    try {
      nestedLock = await within(pending);
    } catch (e) {
      // Refusing (or waiting and getting the file again) would be sound: only a Lock that
      // holds nothing is wrong.
      assert.ok(e.code === 'EDEADLK', `unexpected ${e.code}: ${e.message}`);
      return;
    }
    const problems = [];
    if (!nestedLock.released) {
      const other = otherTries(file);
      if (other !== 'ELOCKED') problems.push(`another process got '${other}' while the nested Lock holds the file`);
    }
    problems.push(...victimAfter(dir, () => nestedLock.releaseSync()));
    assert.deepEqual(problems, []);
  });

  test('a shared lock() started while this thread holds the file shared, settling after that Lock was released, holds the file', async (t) => {
    // Fallback: the second call nests in the first call's hold (LockCall.busy throws
    // Nest), and nested() counts it in a later microtask, after the release dropped it.
    const dir = tmpdir(t);
    const file = path.join(dir, 's.lock');
    const a = await within(fslock.lock(file, { shared: true }));
    const pending = fslock.lock(file, { shared: true });
    await a.release();
    const b = await within(pending);
    const problems = [];
    const other = otherTries(file);
    if (other !== 'ELOCKED') problems.push(`another process got '${other}' (exclusive) while b holds the file shared`);
    problems.push(...victimAfter(dir, () => b.releaseSync()));
    assert.deepEqual(problems, []);
  });

  test('a task of a withLock(shared) callback that locks the file after the callback released is an ordinary lock, not EDEADLK', async (t) => {
    // docs/path-locks.md, Nesting: "a task started in the callback that locks p after the
    // callback's lock was released: an ordinary lock: granted or waits". Fallback: the
    // callback's lock shared the hold of an independent Lock (`a`), and the scope still
    // finds that hold alive.
    const file = path.join(tmpdir(t), 'e.lock');
    const a = await within(fslock.lock(file, { shared: true }));
    let later;
    await within(
      fslock.withLock(
        file,
        () => {
          later = delay(50).then(() => fslock.lock(file, { timeout: 30_000 }));
        },
        { shared: true },
      ),
    );
    await delay(100); // the task has asked (and is waiting, or was refused) by now
    await a.release();
    const l = await within(later); // EDEADLK here is the defect
    assert.equal(l.shared, false);
    l.releaseSync();
  });

  test('lockSync shared while a shared lock() of this thread waits in the kernel: granted after the other holder, not EDEADLK', async (t) => {
    // Both requests are shared: the waiter thread's grant does not block lockSync's, so
    // nothing can wait on itself; lockSync could wait behind the other process, which can
    // release. (locks.ts LockCall.busy refuses whenever kernelWaiting(key), in any mode.)
    const file = path.join(tmpdir(t), 'ss.lock');
    const other = spawnFixture(t, 'holder.js', [file, 'exclusive', '', '1000']);
    await other.next('granted');
    const waiting = fslock.lock(file, { shared: true });
    await new Promise((r) => setImmediate(r));
    let s;
    try {
      s = fslock.lockSync(file, { shared: true, timeout: 60_000 });
    } finally {
      (await within(waiting)).releaseSync();
    }
    assert.equal(s.shared, true);
    s.releaseSync();
    await other.next('released');
  });

  test(
    'lockSync in the turn after a waiting lock() of this thread put its record in the file, before its grant: EDEADLK, not a wait on itself',
    {
      skip:
        native &&
        "the fallback's window: its polls run as asynchronous fs calls (native grants in one synchronous run)",
    },
    async (t) => {
      // A waiting lock() of the fallback polls on the threadpool: after its link(2) put
      // its record at the path, the temp's unlink ran as one more asynchronous call
      // before the grant, and a lockSync of this thread in between blocked on its own
      // record until its timeout (the self-wait stress hung so).
      const file = path.join(tmpdir(t), 'g.lock');
      const other = spawnFixture(t, 'holder.js', [file, 'exclusive']);
      await other.next('granted');
      const waiting = fslock.lock(file);
      const caught = lockSyncAfter(t, 'link', file, file);
      other.send({ type: 'release' });
      const got = await within(caught);
      (await within(waiting)).releaseSync();
      assert.equal(got, 'EDEADLK');
    },
  );

  for (const [call, what] of [
    ['link', 'its reclaim claim'],
    ['rename', 'its record'],
  ])
    test(
      `lockSync in the turn after a waiting lock() of this thread, taking over a kept lock file, put ${what} there: EDEADLK, not a wait on itself`,
      { skip: native && 'the fallback takes a kept file over (reclaim); native locks it' },
      async (t) => {
        // keep: true leaves the file with no live record, which the next holder takes over:
        // a claim file (link), then its record file renamed over the lock file. A lockSync
        // of this thread that found either one blocked on it (the claim: as a file 'gone'
        // again and again) until its timeout.
        const file = path.join(tmpdir(t), 'k.lock');
        const target = call === 'link' ? `${file}.reclaim` : file;
        const a = fslock.lockSync(file, { keep: true });
        const waiting = fslock.lock(file, { keep: true });
        const caught = lockSyncAfter(t, call, target, file);
        a.releaseSync();
        const got = await within(caught);
        (await within(waiting)).releaseSync();
        assert.equal(got, 'EDEADLK');
      },
    );

  test('onWait of a lock() queued behind an earlier lock() of this thread is told while it waits, with the real holder', async (t) => {
    // WaitOptions.onWait: "Called when this call has to wait ... with what is known of the
    // holder". A call queued in this thread's FIFO waits without being told; it is told
    // only once the call ahead holds the file, with this process as the holder and
    // `waited: 0`.
    const file = path.join(tmpdir(t), 'q.lock');
    const other = spawnFixture(t, 'holder.js', [file, 'exclusive']);
    const { pid } = await other.next('started');
    await other.next('granted');
    const calls = [];
    const first = fslock.lock(file);
    const second = fslock.lock(file, { onWait: (info) => calls.push(info) });
    try {
      await until(() => calls.length > 0, 3_000, 'onWait of the queued call while another process holds the file');
      assert.equal(calls[0].holder?.pid, pid, 'the holder is the other process');
    } finally {
      other.send({ type: 'release' });
      (await within(first)).releaseSync();
      (await within(second)).releaseSync();
    }
  });

  test(
    'lockSync of a file this thread holds by a descriptor lock, and flockSync/lockRangeSync of a file it holds by a path lock: EDEADLK, not a wait on itself',
    { skip: !native && 'descriptor locks need the native backend' },
    async (t) => {
      // docs/path-locks.md, lockSync: "Throws EDEADLK at once, instead of hanging, when the
      // file (by any name) is held by this same thread". A flock(fd) of this thread is not
      // in path-state's holds, nor is a path lock known to the descriptor calls: each sync
      // call blocks the thread on its own lock (without `timeout`: forever).
      const file = path.join(tmpdir(t), 'd.lock');
      const problems = [];
      const refused = (what, fn) => {
        const t0 = Date.now();
        try {
          fn();
          problems.push(`${what}: granted while this thread holds the file`);
        } catch (e) {
          if (e.code !== 'EDEADLK') problems.push(`${what}: ${e.code} after ${Date.now() - t0} ms`);
        }
      };
      const fd = fs.openSync(file, 'w+');
      t.after(() => fs.closeSync(fd));
      await within(fslock.flock(fd, 'exclusive'));
      refused('lockSync under flock(fd)', () => fslock.lockSync(file, { timeout: 3_000 }).releaseSync());
      await within(fslock.flock(fd, 'unlock'));
      const l = await within(fslock.lock(file));
      const fd2 = fs.openSync(file, 'r+');
      t.after(() => fs.closeSync(fd2));
      refused('flockSync under lock()', () => fslock.flockSync(fd2, 'exclusive', { timeout: 3_000 }));
      refused('lockRangeSync under lock()', () => fslock.lockRangeSync(fd2, { start: 0, length: 1, timeout: 3_000 }));
      l.releaseSync();
      assert.deepEqual(problems, []);
    },
  );

  test('two copies of fslock in one process (two versions in node_modules): a nested lock is refused, not a wait on itself', async (t) => {
    // npm installs a package twice when two dependencies want different versions. Each
    // copy keeps this thread's holds, kernel waits and async contexts in module state
    // (lib/locks/path-state.ts), so neither sees what the other holds.
    const other = require(path.join(nobodyPackage(), 'node_modules', 'fslock'));
    assert.notEqual(other, fslock, 'a second copy (control)');
    const file = path.join(tmpdir(t), 'c.lock');
    const problems = [];
    await within(
      fslock.withLock(file, async () => {
        for (const [what, fn] of [
          ['lockSync', async () => other.lockSync(file, { timeout: 3_000 }).releaseSync()],
          ['withLock', () => other.withLock(file, () => {}, { timeout: 3_000 })],
        ]) {
          const t0 = Date.now();
          try {
            await fn();
            problems.push(`the other copy's ${what} was granted inside this copy's withLock`);
          } catch (e) {
            if (e.code !== 'EDEADLK') problems.push(`the other copy's ${what}: ${e.code} after ${Date.now() - t0} ms`);
          }
        }
      }),
    );
    assert.deepEqual(problems, []);
  });
});
