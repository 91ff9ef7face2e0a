'use strict';
// Nothing waits on itself, and a lock is its file (issue 22): a thread or an async
// context that would wait for its own lock is refused at once (EDEADLK), nests when it
// asks to (reentrant), or queues behind a holder that can still release; the same file
// by another name (symlinked directory, hard link) or as exact Buffer bytes is one lock.
const { test, suite } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { fslock, native, tmpdir, within, spawnFixture, rejectsWith, throwsWith, assertFree } = require('./helpers');

const posix = process.platform !== 'win32';
const tick = () => new Promise((r) => setImmediate(r));

suite(`nothing waits on itself (${fslock.backend})`, () => {
  test('lockSync while a lock() of this thread waits for another process: EDEADLK at once (native)', async (t) => {
    const file = path.join(tmpdir(t), 'p.lock');
    const other = spawnFixture(t, 'holder.js', [file, 'exclusive', '', '1000']);
    await other.next('granted');
    const waiting = fslock.lock(file);
    await tick();
    if (native) {
      // The waiter thread may be granted first; its grant can only be taken on this
      // thread, which lockSync would block: refused before it blocks anything.
      const e = throwsWith(() => fslock.lockSync(file, { timeout: 30_000 }), { code: 'EDEADLK', path: file });
      assert.match(e.message, /a lock\(\) call of this thread is waiting/);
      const l = await within(waiting);
      l.releaseSync();
    } else {
      // The fallback's waiting lock() polls from the event loop, which lockSync blocks:
      // lockSync waits for the other process like any waiter, and the lock() after it.
      const s = fslock.lockSync(file, { timeout: 30_000 });
      s.releaseSync();
      (await within(waiting)).releaseSync();
    }
    await other.next('released');
    assertFree(file);
  });

  test('lockSync shared while this thread holds it shared: granted (the fallback shares within a thread)', async (t) => {
    const file = path.join(tmpdir(t), 's.lock');
    const a = await fslock.lock(file, { shared: true });
    const b = within(Promise.resolve(fslock.lockSync(file, { shared: true, timeout: 10_000 })));
    const s = await b;
    assert.equal(s.shared, true);
    throwsWith(() => fslock.lockSync(file, { timeout: 10_000 }), { code: 'EDEADLK' });
    await a.release();
    // Still held (shared) by s: an exclusive request from another process must wait.
    const other = spawnFixture(t, 'holder.js', [file, 'exclusive', '200']);
    assert.equal((await other.next('failed')).code, 'ETIMEDOUT');
    s.releaseSync();
    assert.equal(await fslock.isLocked(file), false);
  });

  test('withLock nested in withLock of the same file: EDEADLK at once, saying so', async (t) => {
    const file = path.join(tmpdir(t), 'n.lock');
    const e = await rejectsWith(within(fslock.withLock(file, () => fslock.withLock(file, () => 'inner'))), {
      code: 'EDEADLK',
      path: file,
    });
    assert.match(e.message, /this async context/);
    assert.match(e.message, /reentrant/);
    // Deeper: through awaited helpers, a timer and a lockSync, the same.
    const helper = async () => {
      await new Promise((r) => setTimeout(r, 5));
      return fslock.lock(file);
    };
    await fslock.withLock(file, async () => {
      await rejectsWith(within(helper()), { code: 'EDEADLK' });
      await rejectsWith(
        within(new Promise((resolve, reject) => setTimeout(() => fslock.lock(file).then(resolve, reject), 1))),
        { code: 'EDEADLK' },
      );
      throwsWith(() => fslock.lockSync(file), { code: 'EDEADLK' });
      await rejectsWith(
        fslock.update(file.replace(/\.lock$/, ''), () => 'x'),
        { code: 'EDEADLK' },
      );
    });
    assertFree(file, 'nothing held after the refusals');
    // update() nested in update() of the same file.
    const data = path.join(tmpdir(t), 'data.json');
    await rejectsWith(within(fslock.update(data, () => fslock.update(data, () => 'inner'))), { code: 'EDEADLK' });
    assert.equal(fs.existsSync(data), false, 'nothing was written');
  });

  test('reentrant: true nests, sharing the lock until the last of them releases', async (t) => {
    const file = path.join(tmpdir(t), 'r.lock');
    let inner;
    const v = await fslock.withLock(file, async () => {
      inner = await fslock.lock(file, { reentrant: true });
      const deeper = await fslock.withLock(file, () => 7, { reentrant: true });
      const s = fslock.lockSync(file, { reentrant: true, shared: true });
      assert.equal(s.shared, false, 'covered by the exclusive lock it nests in');
      s.releaseSync();
      return deeper;
    });
    assert.equal(v, 7);
    // The outer withLock released first: the nested Lock still holds it.
    assert.equal(inner.released, false);
    const other = spawnFixture(t, 'holder.js', [file, 'exclusive', '200']);
    assert.equal((await other.next('failed')).code, 'ETIMEDOUT');
    await inner.release();
    assert.equal(await fslock.isLocked(file), false);
    // Exclusive nested in shared is an upgrade: refused, also with reentrant.
    await fslock.withLock(
      file,
      async () => {
        await rejectsWith(fslock.lock(file, { reentrant: true }), { code: 'EDEADLK' });
        const s = await fslock.lock(file, { reentrant: true, shared: true });
        await s.release();
      },
      { shared: true },
    );
    assertFree(file);
  });

  test('independent tasks of one thread queue; a task started inside the callback is part of its context', async (t) => {
    const file = path.join(tmpdir(t), 'q.lock');
    const order = [];
    await within(
      Promise.all([
        fslock.withLock(file, async () => {
          order.push('a in');
          await new Promise((r) => setTimeout(r, 30));
          order.push('a out');
        }),
        fslock.withLock(file, () => order.push('b')),
        fslock.lock(file).then((l) => (order.push('c'), l.release())),
      ]),
    );
    assert.deepEqual(order, ['a in', 'a out', 'b', 'c']);
    // A task started inside the callback and awaited after its release: before the
    // release it would lock inside the holder's context (refused); after, it is free.
    let early;
    let late;
    await fslock.withLock(file, () => {
      early = fslock.lock(file, { wait: false });
      late = new Promise((r) => setTimeout(r, 50)).then(() => fslock.lock(file));
      early.catch(() => {});
    });
    await rejectsWith(early, { code: 'EDEADLK' });
    const l = await within(late);
    await l.release();
  });

  test('a lock() outside any callback: a second lock() of the file queues behind it, and gets it on release', async (t) => {
    const file = path.join(tmpdir(t), 'b.lock');
    const first = await fslock.lock(file);
    let got = false;
    const seen = [];
    const second = fslock.lock(file, { onWait: (i) => seen.push(i) }).then((l) => ((got = true), l));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(got, false);
    assert.equal(seen.length, 1, 'onWait told once');
    assert.equal(seen[0].holder.pid, process.pid);
    await first.release();
    await (await within(second)).release();
  });
});

suite(`a lock is its file (${fslock.backend})`, () => {
  test('the same file through a symlinked directory: one lock in this thread and between processes', async (t) => {
    const dir = tmpdir(t);
    const real = path.join(dir, 'real');
    fs.mkdirSync(real);
    const via = path.join(dir, 'via');
    fs.symlinkSync(real, via, 'dir');
    const a = path.join(real, 'p.lock');
    const b = path.join(via, 'p.lock');
    const held = await fslock.lock(a);
    const e = throwsWith(() => fslock.lockSync(b, { timeout: 10_000 }), { code: 'EDEADLK', path: b });
    assert.match(e.message, /this thread/);
    await rejectsWith(fslock.lock(b, { wait: false }), { code: 'ELOCKED' });
    await held.release();
    await fslock.withLock(a, async () => {
      await rejectsWith(within(fslock.lock(b)), { code: 'EDEADLK' });
      const n = await fslock.lock(b, { reentrant: true });
      await n.release();
    });
    const other = spawnFixture(t, 'holder.js', [b]);
    await other.next('granted');
    await rejectsWith(fslock.lock(a, { wait: false }), { code: 'ELOCKED' });
    other.send({ type: 'release' });
    await other.next('released');
    assertFree(a);
  });

  test(
    'the same file through a hard link: one lock',
    { skip: !native && 'the fallback only locks fslock lock files' },
    async (t) => {
      const dir = tmpdir(t);
      const a = path.join(dir, 'a.lock');
      const b = path.join(dir, 'b.lock');
      (await fslock.lock(a)).releaseSync();
      fs.linkSync(a, b);
      const held = await fslock.lock(a);
      throwsWith(() => fslock.lockSync(b, { timeout: 10_000 }), { code: 'EDEADLK' });
      await rejectsWith(fslock.lock(b, { wait: false }), { code: 'ELOCKED' });
      await held.release();
    },
  );

  test('Buffer paths are used byte for byte', { skip: !posix && 'Windows names are UTF-16' }, async (t) => {
    const dir = tmpdir(t);
    const b = (name) => Buffer.concat([Buffer.from(dir + '/'), Buffer.from(name, 'latin1')]);
    const ff = await fslock.lock(b('k\xff.lock'));
    const fe = await fslock.lock(b('k\xfe.lock'), { wait: false }); // another file, another lock
    assert.equal(ff.path, `${dir}/k\ufffd.lock`, 'shown as node:fs shows such names');
    await rejectsWith(fslock.lock(b('k\xff.lock'), { wait: false }), { code: 'ELOCKED' });
    assert.equal(await fslock.isLocked(b('k\xff.lock')), true);
    const names = fs
      .readdirSync(dir, { encoding: 'buffer' })
      .map((n) => n.toString('latin1'))
      .sort();
    assert.deepEqual(names, ['k\xfe.lock', 'k\xff.lock'], 'no name with U+FFFD was created');
    await ff.release();
    await fe.release();
    assert.equal(await fslock.isLocked(b('k\xff.lock')), false);
    // An existing data file with such a name is the file locked (native), never a new one.
    fs.writeFileSync(b('data\xe9'), 'payload');
    if (native) {
      const l = await fslock.lock(b('data\xe9'));
      assert.equal(fs.readFileSync(b('data\xe9'), 'utf8'), 'payload');
      await l.release();
    } else {
      await rejectsWith(fslock.lock(b('data\xe9')), { code: 'ENOTSUP' });
    }
    assert.equal(fs.readdirSync(dir, { encoding: 'buffer' }).length, native ? 3 : 1, 'nothing created beside it');
  });
});
