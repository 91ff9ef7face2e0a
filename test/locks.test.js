'use strict';
// Path-lock semantics within one process: conflicts, options, errors, cleanliness.
const { test, suite } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { fslock, native, tmpdir, within, openFds, rejectsWith, throwsWith, assertFree } = require('./helpers');

suite(`path locks (${fslock.backend})`, () => {
  test('exclusive excludes a second lock() in the same thread until released', async (t) => {
    const file = path.join(tmpdir(t), 'a.lock');
    const first = await fslock.lock(file);
    assert.equal(first.path, file);
    assert.equal(first.shared, false);
    assert.equal(first.released, false);
    let second;
    const waiting = fslock.lock(file).then((l) => (second = l));
    // A real conflict: a non-waiting attempt fails while the first is held.
    await rejectsWith(fslock.lock(file, { wait: false }), { code: 'ELOCKED', path: file });
    assert.equal(second, undefined);
    await first.release();
    assert.equal(first.released, true);
    await within(waiting);
    assert.equal(second.released, false);
    await second.release();
    assertFree(file);
  });

  test('shared locks coexist, and exclude an exclusive one', async (t) => {
    const file = path.join(tmpdir(t), 's.lock');
    const a = await fslock.lock(file, { shared: true });
    // The fallback has no compare-and-swap to count readers: it takes a shared lock
    // exclusively, and shares it within its thread only (another thread or process
    // waits: test/locks-process.test.js).
    const b = await fslock.lock(file, { shared: true, wait: false });
    assert.equal(b.shared, true);
    await rejectsWith(fslock.lock(file, { wait: false }), { code: 'ELOCKED' });
    await a.release();
    // One shared holder left: still excludes an exclusive request.
    await rejectsWith(fslock.lock(file, { wait: false }), { code: 'ELOCKED' });
    await b.release();
    const c = await fslock.lock(file, { wait: false });
    await c.release();
    assertFree(file);
  });

  test('the lock file names its holder; isLocked and lockHolder read it', async (t) => {
    const file = path.join(tmpdir(t), 'h.lock');
    assert.equal(await fslock.isLocked(file), false);
    assert.equal(await fslock.lockHolder(file), undefined);
    const before = Date.now();
    const l = await fslock.lock(file);
    assert.equal(await fslock.isLocked(file), true);
    const h = await fslock.lockHolder(file);
    assert.equal(h.pid, process.pid);
    assert.equal(h.hostname, require('node:os').hostname());
    assert.equal(h.shared, false);
    assert.ok(h.since.getTime() >= before - 1000 && h.since.getTime() <= Date.now() + 1000);
    const content = fs.readFileSync(file, 'utf8');
    assert.match(content, new RegExp(`"pid":${process.pid}`));
    // Probing takes nothing: a non-waiting lock from elsewhere still sees it held, and
    // once released the probe does not hold it either.
    await l.release();
    assert.equal(await fslock.isLocked(file), false);
    const again = await fslock.lock(file, { wait: false });
    await again.release();
  });

  test('wait:false, timeout and signal: right errors, nothing held, no fd leaked', async (t) => {
    const file = path.join(tmpdir(t), 'o.lock');
    const held = await fslock.lock(file);
    const fds = openFds();
    for (let i = 0; i < 20; i++) {
      await rejectsWith(fslock.lock(file, { wait: false }), { code: 'ELOCKED' });
      throwsWith(() => fslock.lockSync(file, { wait: false }), { code: 'ELOCKED' });
    }
    const e = await rejectsWith(fslock.lock(file, { timeout: 50 }), { code: 'ETIMEDOUT', path: file });
    assert.match(e.message, new RegExp(`pid ${process.pid}`), 'the error says who holds it');
    await rejectsWith(fslock.lock(file, { timeout: 0 }), { code: 'ETIMEDOUT' });
    throwsWith(() => fslock.lockSync(file, { timeout: 30, shared: true }), { code: 'EDEADLK' });

    const ac = new AbortController();
    const p = fslock.lock(file, { signal: ac.signal });
    setImmediate(() => ac.abort());
    await rejectsWith(p, { name: 'AbortError', code: 'ABORT_ERR' });
    const reason = new Error('custom reason');
    const ac2 = new AbortController();
    const p2 = fslock.lock(file, { signal: ac2.signal });
    ac2.abort(reason);
    await assert.rejects(p2, (err) => err === reason);
    await assert.rejects(fslock.lock(file, { signal: AbortSignal.abort() }), { name: 'AbortError' });
    assert.equal(openFds(), fds, 'failed attempts leave no descriptor open');
    await held.release();
    // The aborted and timed-out calls hold nothing: the lock is free.
    const l = await fslock.lock(file, { wait: false });
    await l.release();
    assertFree(file);
  });

  test('release is idempotent; dispose symbols release', async (t) => {
    const file = path.join(tmpdir(t), 'r.lock');
    const l = await fslock.lock(file);
    await l.release();
    await l.release();
    l.releaseSync();
    assert.equal(l.released, true);
    // Node 20 has the symbols but not the `using` syntax: call what `await using` calls.
    assert.equal(typeof Symbol.asyncDispose, 'symbol');
    const a = await fslock.lock(file);
    assert.equal(await fslock.isLocked(file), true);
    await a[Symbol.asyncDispose]();
    assert.equal(a.released, true);
    assert.equal(await fslock.isLocked(file), false);
    const b = fslock.lockSync(file);
    b[Symbol.dispose]();
    assert.equal(b.released, true);
    assert.equal(await fslock.isLocked(file), false);
  });

  test('withLock releases after fn settles, also on throw, and returns its value', async (t) => {
    const file = path.join(tmpdir(t), 'w.lock');
    const v = await fslock.withLock(file, async () => {
      assert.equal(await fslock.isLocked(file), true);
      return 42;
    });
    assert.equal(v, 42);
    assert.equal(await fslock.isLocked(file), false);
    await assert.rejects(
      fslock.withLock(file, () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(await fslock.isLocked(file), false);
    assertFree(file);
  });

  test('lockSync: EDEADLK instead of hanging on its own lock; timeout honoured', async (t) => {
    const file = path.join(tmpdir(t), 'd.lock');
    const l = fslock.lockSync(file);
    throwsWith(() => fslock.lockSync(file), { code: 'EDEADLK', path: file });
    throwsWith(() => fslock.lockSync(file, { shared: true }), { code: 'EDEADLK' });
    l.releaseSync();
    if (native) {
      const s = fslock.lockSync(file, { shared: true });
      const s2 = fslock.lockSync(file, { shared: true }); // shared + shared: no conflict
      throwsWith(() => fslock.lockSync(file), { code: 'EDEADLK' });
      s.releaseSync();
      s2.releaseSync();
    }
    const again = fslock.lockSync(file, { timeout: 1000 });
    again.releaseSync();
    assertFree(file);
  });

  test('64 waiters in one thread are served one at a time, in request order', async (t) => {
    const file = path.join(tmpdir(t), 'q.lock');
    const first = await fslock.lock(file);
    const order = [];
    let inside = 0;
    const waiters = Array.from({ length: 64 }, (_, i) =>
      fslock.lock(file).then(async (l) => {
        inside++;
        assert.equal(inside, 1, 'never two holders');
        order.push(i);
        await new Promise((r) => setImmediate(r));
        inside--;
        await l.release();
      }),
    );
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(order.length, 0);
    await first.release();
    await within(Promise.all(waiters));
    assert.deepEqual(order, [...Array(64).keys()]);
    assertFree(file);
  });

  test('a queued waiter that times out or aborts leaves the queue intact', async (t) => {
    const file = path.join(tmpdir(t), 'qa.lock');
    const first = await fslock.lock(file);
    const a = fslock.lock(file);
    const ac = new AbortController();
    const b = fslock.lock(file, { signal: ac.signal });
    const c = fslock.lock(file, { timeout: 30 });
    const d = fslock.lock(file);
    ac.abort();
    await rejectsWith(b, { code: 'ABORT_ERR' });
    await rejectsWith(c, { code: 'ETIMEDOUT' });
    await first.release();
    const la = await within(a);
    await la.release();
    const ld = await within(d);
    await ld.release();
    assertFree(file);
  });

  test('worker threads exclude each other', async (t) => {
    const { Worker } = require('node:worker_threads');
    const file = path.join(tmpdir(t), 'wt.lock');
    const held = await fslock.lock(file);
    const w = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const fslock = require('fslock');
       fslock.lock(workerData, { wait: false }).then(
         () => parentPort.postMessage('acquired'),
         (e) => { parentPort.postMessage(e.code);
           fslock.lock(workerData).then((l) => { parentPort.postMessage('waited'); return l.release(); })
             .then(() => parentPort.postMessage('done')); });`,
      { eval: true, workerData: file },
    );
    // One listener for the whole test: a message that arrives while nobody awaits it
    // (here 'done' right after 'waited') must not be dropped.
    const msgs = [];
    const arrived = [];
    w.on('message', (m) => {
      msgs.push(m);
      arrived.splice(0).forEach((f) => f());
    });
    const gotMsg = (want) =>
      within(
        new Promise((resolve) => {
          const check = () => (msgs.includes(want) ? resolve() : arrived.push(check));
          check();
        }),
      );
    await gotMsg('ELOCKED');
    await held.release();
    await gotMsg('waited');
    await gotMsg('done');
    await w.terminate();
  });

  test('a terminated worker releases the locks it held', async (t) => {
    const { Worker } = require('node:worker_threads');
    const file = path.join(tmpdir(t), 'wt2.lock');
    const w = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       require('fslock').lock(workerData).then(() => parentPort.postMessage('held'));
       setInterval(() => {}, 1000); // stays alive until terminated`,
      { eval: true, workerData: file },
    );
    await within(new Promise((resolve) => w.once('message', resolve)));
    await rejectsWith(fslock.lock(file, { wait: false }), { code: 'ELOCKED' });
    await w.terminate();
    if (native) {
      // The worker's environment closes its lock files on teardown.
      const l = await within(fslock.lock(file, { timeout: 30_000 }));
      await l.release();
    } else {
      // A fallback lock is a record naming this (still living) process: a terminated
      // worker cannot remove it, and nothing can tell it apart from a live holder.
      await rejectsWith(fslock.lock(file, { wait: false }), { code: 'ELOCKED' });
    }
  });
});
