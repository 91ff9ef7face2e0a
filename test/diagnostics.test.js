'use strict';
// diagnostics_channel (issue 24, docs/diagnostics.md): every channel's payload, in both
// backends — the fslock:lock TracingChannel (start, end, asyncStart, asyncEnd, error:
// path, mode, waited, holder), fslock:lock:wait, fslock:lock:release, fslock:lock:lost,
// fslock:write and fslock:retry — and lockHolder({ stale: true }) after a real SIGKILL.
// The zero cost without subscribers is shown by bench/locks.bench.js.
const { test, suite } = require('node:test');
const assert = require('node:assert/strict');
const dc = require('node:diagnostics_channel');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { fslock, native, tmpdir, within, spawnFixture, rejectsWith, throwsWith } = require('./helpers');

const HOST = os.hostname();
const me = path.basename(__filename);
const PHASES = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'];

/** Subscribes `fn` to `name` for the rest of the test. */
function on(t, name, fn) {
  dc.subscribe(name, fn);
  t.after(() => dc.unsubscribe(name, fn));
}

/** Records the fslock:lock trace events of one test: [[phase, context snapshot, context]]. */
function traceLocks(t) {
  const events = [];
  for (const phase of PHASES)
    on(t, `tracing:fslock:lock:${phase}`, (ctx) => events.push([phase, { ...ctx, result: undefined }, ctx]));
  return events;
}

/** A fixture process holding `file` (lock-op.js with `options`); resolves with it and its pid. */
async function holder(t, file, options = {}) {
  const h = spawnFixture(t, 'lock-op.js', ['lock', file, JSON.stringify({ hold: true, ...options })]);
  const { pid } = await h.next('started');
  await h.next('granted');
  return { h, pid };
}

test('channel names are exported, and stable', () => {
  assert.deepEqual(fslock.channels, {
    lock: 'fslock:lock',
    wait: 'fslock:lock:wait',
    release: 'fslock:lock:release',
    lost: 'fslock:lock:lost',
    write: 'fslock:write',
    retry: 'fslock:retry',
  });
  assert.ok(Object.isFrozen(fslock.channels));
});

suite(`fslock:lock, the TracingChannel of path locks (${fslock.backend})`, () => {
  test('lock() granted at once: start, end, asyncStart, asyncEnd with one context; result is the Lock', async (t) => {
    const file = path.join(tmpdir(t), 'a.lock');
    const events = traceLocks(t);
    const l = await fslock.lock(file);
    assert.deepEqual(
      events.map((e) => e[0]),
      ['start', 'end', 'asyncStart', 'asyncEnd'],
    );
    const ctx = events[0][2];
    for (const e of events) assert.equal(e[2], ctx, 'one context object for the whole call');
    assert.deepEqual(events[0][1], {
      path: file,
      mode: 'exclusive',
      sync: false,
      wait: true,
      waited: 0,
      holder: undefined,
      result: undefined,
    });
    assert.equal(ctx.result, l);
    assert.equal(ctx.waited, 0);
    await l.release();
  });

  test('lockSync(): start and end (sync: true); a shared lock says mode shared', async (t) => {
    const file = path.join(tmpdir(t), 'b.lock');
    const events = traceLocks(t);
    const l = fslock.lockSync(file, { shared: true });
    assert.deepEqual(
      events.map((e) => e[0]),
      ['start', 'end'],
    );
    assert.equal(events[0][2].sync, true);
    assert.equal(events[0][2].mode, 'shared');
    assert.equal(events[1][2].result, l);
    l.releaseSync();
  });

  test('a wait: the holder it waited for, and waited > 0 by asyncStart; the error channel for ETIMEDOUT and ELOCKED', async (t) => {
    const file = path.join(tmpdir(t), 'c.lock');
    const { h, pid } = await holder(t, file);
    const events = traceLocks(t);
    const e1 = await rejectsWith(fslock.lock(file, { wait: false }), { code: 'ELOCKED' });
    const err = events.find((e) => e[0] === 'error');
    assert.equal(err[2].error, e1);
    assert.equal(err[2].holder.pid, pid, 'the holder it found');
    assert.equal(err[2].waited, 0, 'wait: false does not wait');
    events.length = 0;
    const e2 = await rejectsWith(fslock.lock(file, { timeout: 50 }), { code: 'ETIMEDOUT' });
    const ctx = events[0][2];
    assert.equal(ctx.error, e2);
    assert.equal(ctx.holder.pid, pid);
    assert.equal(ctx.holder.record, true);
    assert.ok(ctx.waited > 0);
    assert.deepEqual(
      events.map((e) => e[0]),
      ['start', 'end', 'error', 'asyncStart', 'asyncEnd'],
    );
    events.length = 0;
    const waiting = fslock.lock(file);
    await within(
      new Promise((resolve) => {
        const poll = setInterval(() => events[0]?.[2].holder && (clearInterval(poll), resolve()), 5);
      }),
    );
    h.send({ type: 'release' });
    const l = await within(waiting);
    const start = events.find((e) => e[0] === 'asyncStart');
    assert.equal(start[2].holder.pid, pid);
    assert.ok(start[1].waited > 0, 'waited is set before asyncStart is published');
    assert.equal(start[2].result, l);
    await l.release();
  });

  test('argument errors are not traced (no path to tell)', async (t) => {
    const events = traceLocks(t);
    await rejectsWith(fslock.lock(42), { code: 'ERR_INVALID_ARG_TYPE' });
    throwsWith(() => fslock.lockSync('x.lock', { timeout: -1 }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.equal(events.length, 0);
  });
});

suite(`fslock:lock:wait, fslock:lock:release, fslock:lock:lost (${fslock.backend})`, () => {
  test('wait: the same WaitInfo onWait gets, also published for calls without onWait', async (t) => {
    const file = path.join(tmpdir(t), 'w.lock');
    const published = [];
    on(t, 'fslock:lock:wait', (m) => published.push(m));
    const until1 = (arr) =>
      within(
        new Promise((resolve) => {
          const poll = setInterval(() => arr.length && (clearInterval(poll), resolve()), 5);
        }),
      );
    let { h, pid } = await holder(t, file);
    const seen = [];
    const waiting = fslock.lock(file, { onWait: (i) => seen.push(i) });
    await until1(seen);
    assert.equal(published[0], seen[0], 'the same object');
    assert.equal(published[0].holder.pid, pid);
    h.send({ type: 'release' });
    await (await within(waiting)).release();
    ({ h, pid } = await holder(t, file));
    published.length = 0;
    const plain = fslock.lock(file, { shared: true });
    await until1(published);
    assert.deepEqual(Object.keys(published[0]).sort(), ['holder', 'path', 'shared', 'waited']);
    assert.equal(published[0].shared, true);
    assert.equal(published[0].holder.pid, pid);
    h.send({ type: 'release' });
    await (await within(plain)).release();
  });

  test('release: path, mode, held (ms) and lost, once per backend lock (nested Locks share one)', async (t) => {
    const file = path.join(tmpdir(t), 'r.lock');
    const released = [];
    on(t, 'fslock:lock:release', (m) => released.push(m));
    const l = await fslock.lock(file);
    await l.release();
    await l.release(); // idempotent: no second event
    assert.equal(released.length, 1);
    assert.equal(released[0].path, file);
    assert.equal(released[0].mode, 'exclusive');
    assert.equal(released[0].lost, false);
    assert.equal(typeof released[0].held, 'number');
    assert.ok(released[0].held >= 0);
    await fslock.withLock(file, async () => {
      const inner = await fslock.lock(file, { reentrant: true });
      await inner.release();
      assert.equal(released.length, 1, 'the nested Lock shares the held lock');
    });
    assert.equal(released.length, 2);
  });

  test('lost: the fallback holder whose lock file another process replaced (ELOCKLOST)', async (t) => {
    // The event fires where held.onLost is called: in this version, the fallback's lease
    // check (native kernel locks on local filesystems are never lost). A fallback child
    // reports it, so that both runs of the suite check the payload.
    const dir = tmpdir(t);
    const file = path.join(dir, 'lost.lock');
    const code = `
      const dc = require('node:diagnostics_channel');
      const fs = require('node:fs');
      const fslock = require('fslock');
      setInterval(() => {}, 1000); // the heartbeat timer is unref'd: stay alive until killed
      dc.subscribe('fslock:lock:lost', (m) => process.send({ type: 'lost', path: m.path, mode: m.mode, code: m.error.code, message: m.error.message }));
      fslock.lock(process.argv[1], { lease: 1000 }).then((l) => {
        // Another holder's file replaces ours (what a takeover after a lapsed lease does).
        fs.writeFileSync(process.argv[1] + '.x', '{"fslock":2}\\n');
        fs.renameSync(process.argv[1] + '.x', process.argv[1]);
        l.signal.addEventListener('abort', () => l.release().catch((e) => process.send({ type: 'release', code: e.code })));
      });`;
    const { spawn } = require('node:child_process');
    const child = spawn(process.execPath, ['-e', code, file], {
      cwd: path.join(__dirname, '..'),
      env: { ...process.env, FSLOCK_BACKEND: 'fallback' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    t.after(() => child.kill('SIGKILL'));
    const got = [];
    child.on('message', (m) => got.push(m));
    await within(
      new Promise((resolve) => child.on('message', () => got.length >= 2 && resolve())),
      60_000,
      'the lost event',
    );
    assert.deepEqual(got[0], {
      type: 'lost',
      path: file,
      mode: 'exclusive',
      code: 'ELOCKLOST',
      message: got[0].message,
    });
    assert.match(got[0].message, /^ELOCKLOST: /);
    assert.deepEqual(got[1], { type: 'release', code: 'ELOCKLOST' });
  });
});

suite(`fslock:write (${fslock.backend})`, () => {
  const strategy = native && process.platform === 'linux' ? 'tmpfile' : 'named';

  test('writeFileAtomic, its Sync form, createExclusive and update: path, bytes, strategy, commit, fsync, duration', async (t) => {
    const dir = tmpdir(t);
    const writes = [];
    on(t, 'fslock:write', (m) => writes.push(m));
    const a = path.join(dir, 'a.json');
    await fslock.writeFileAtomic(a, 'hello');
    fslock.writeFileAtomicSync(a, Buffer.from('hello, world'), { fsync: false });
    await fslock.createExclusive(path.join(dir, 'b'), 'x');
    await fslock.update(a, (cur) => `${cur}!`);
    assert.equal(writes.length, 4);
    const [w1, w2, w3, w4] = writes;
    assert.deepEqual(
      { ...w1, duration: 0 },
      { path: a, bytes: 5, strategy, commit: 'rename', fsync: true, duration: 0, error: undefined },
    );
    assert.ok(w1.duration >= 0 && Number.isFinite(w1.duration));
    assert.deepEqual([w2.bytes, w2.fsync, w2.commit], [12, false, 'rename']);
    assert.equal(w3.path, path.join(dir, 'b'));
    assert.notEqual(w3.commit, 'rename', 'an exclusive create never replaces');
    assert.deepEqual([w4.path, w4.bytes], [a, 13]);
  });

  test('chunks: bytes undefined; a failed write carries its error (createExclusive EEXIST)', async (t) => {
    const dir = tmpdir(t);
    const writes = [];
    on(t, 'fslock:write', (m) => writes.push(m));
    const c = path.join(dir, 'c');
    await fslock.writeFileAtomic(c, ['a', 'b', Buffer.from('c')]);
    assert.equal(writes[0].bytes, undefined);
    assert.equal(writes[0].strategy, 'named', 'chunks go through node:fs and a named temp');
    const e = await rejectsWith(fslock.createExclusive(c, 'again'), { code: 'EEXIST' });
    assert.equal(writes.length, 2);
    assert.equal(writes[1].error, e);
    assert.equal(writes[1].path, c);
  });
});

suite(`fslock:retry and stale holders (${fslock.backend})`, () => {
  test('a holder killed by SIGKILL: lockHolder() undefined, { stale: true } names it; the next locker takes over', async (t) => {
    const dir = tmpdir(t);
    const file = path.join(dir, 'k.lock');
    const { h, pid } = await holder(t, file, { keep: true });
    h.kill('SIGKILL');
    await h.exited();
    assert.equal(await fslock.isLocked(file), false);
    assert.equal(await fslock.lockHolder(file), undefined);
    const stale = await fslock.lockHolder(file, { stale: true });
    assert.equal(stale.pid, pid);
    assert.equal(stale.hostname, HOST);
    assert.equal(stale.stale, true);
    assert.equal(stale.name, 'lock-op.js');
    assert.equal(stale.record, true);
    assert.match(fs.readFileSync(file, 'utf8'), new RegExp(`"pid":${pid}`), 'cat LOCKFILE shows the dead holder');
    const retries = [];
    on(t, 'fslock:retry', (m) => retries.push(m));
    const l = await fslock.lock(file, { keep: true });
    if (native) assert.deepEqual(retries, [], 'native: the kernel lock was free; the record is replaced');
    else {
      // The fallback takes the file over from the dead holder's record.
      assert.equal(retries.length, 1);
      assert.deepEqual(
        { ...retries[0], holder: undefined },
        {
          path: file,
          op: 'lock',
          reason: 'reclaim',
          code: undefined,
          holder: undefined,
        },
      );
      assert.equal(retries[0].holder.pid, pid);
      assert.equal(retries[0].holder.name, 'lock-op.js');
    }
    const live = await fslock.lockHolder(file, { stale: true });
    assert.equal(live.pid, process.pid, 'a held lock: its holder, not the stale one');
    assert.equal(live.stale, undefined);
    assert.equal(live.name, me);
    await l.release();
    assert.equal(await fslock.lockHolder(file, { stale: true }), undefined, 'released cleanly: nothing stale');
  });

  test('native: a waiter that wakes on a lock file its holder removed (keep: false) retries: reason gone', async (t) => {
    if (!native) return t.skip('the fallback polls: it never holds a removed file (its gone retries are races)');
    const file = path.join(tmpdir(t), 'g.lock');
    const { h } = await holder(t, file, { keep: false });
    const retries = [];
    on(t, 'fslock:retry', (m) => retries.push(m));
    const seen = [];
    const waiting = fslock.lock(file, { keep: false, onWait: (i) => seen.push(i) });
    await within(
      new Promise((resolve) => {
        const poll = setInterval(() => seen.length && (clearInterval(poll), resolve()), 5);
      }),
    );
    h.send({ type: 'release' });
    const l = await within(waiting);
    assert.ok(retries.length >= 1, 'at least the retry after the wait');
    assert.deepEqual(retries[0], { path: file, op: 'lock', reason: 'gone', code: undefined, holder: undefined });
    await l.release();
  });
});
