'use strict';
// Issue 14, item 4: a finite `timeout` really waits that long, however large — also
// past the 2^31-1 ms one Node timer takes (those fired after 1 ms with a
// TimeoutOverflowWarning) and past what a native timed wait takes (lockSync with 1e300
// gave up after 87 ms). Every API that takes `timeout`, both backends; the CLI's -w is
// in cli.test.js.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { fslock, native, tmpdir, within, spawnFixture, rejectsWith, throwsWith } = require('./helpers');

const longTimer = require(path.join(__dirname, '..', 'dist', 'cjs', 'common', 'long-timer.js'));

const HUGE = [2 ** 31, 2 ** 31 + 1, 30 * 24 * 3600e3, 2 ** 53, 1e300, Number.MAX_VALUE];
/** How long a huge-timeout wait must stay pending (the overflow fired within ~2 ms). */
const OBSERVE_MS = 400;

/** Collects process warnings of the given name while the test runs. */
function warnings(t, name = 'TimeoutOverflowWarning') {
  const seen = [];
  const on = (w) => w.name === name && seen.push(w);
  process.on('warning', on);
  t.after(() => process.off('warning', on));
  return seen;
}

/** Resolves with 'pending' if `p` has not settled after `ms`, else with its outcome. */
function stillPending(p, ms) {
  let timer;
  return Promise.race([
    p.then(
      (v) => ({ settled: 'resolved', v }),
      (e) => ({ settled: 'rejected', e }),
    ),
    new Promise((r) => (timer = setTimeout(() => r('pending'), ms))),
  ]).finally(() => clearTimeout(timer));
}

test('setLongTimeout: chains timers up to the deadline, never early; clear stops it', async () => {
  // A 20 ms chunk stands in for the 2^31-1 ms one: 160 ms take 8 links.
  const t0 = performance.now();
  const firedAt = await new Promise((resolve) => longTimer.setLongTimeout(() => resolve(performance.now()), 160, 20));
  assert.ok(firedAt - t0 >= 159, `fired after ${firedAt - t0} ms of 160`);
  let fired = false;
  const timer = longTimer.setLongTimeout(() => (fired = true), 120, 20);
  await new Promise((r) => setTimeout(r, 50));
  longTimer.clearLongTimeout(timer);
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(fired, false, 'a cleared chain fired');
  assert.equal(timer.current, undefined);
  // Infinity arms nothing; 0 fires on the next timer turn.
  assert.equal(longTimer.setLongTimeout(() => assert.fail('Infinity fired'), Infinity).current, undefined);
  await new Promise((resolve) => longTimer.setLongTimeout(resolve, 0));
});

test('setLongTimeout / waitChunk: no Node timer or native wait ever gets more than 2^31-1 ms', async (t) => {
  const seen = warnings(t);
  for (const ms of HUGE) {
    const timer = longTimer.setLongTimeout(() => assert.fail(`${ms} fired`), ms);
    assert.ok(timer.current, `${ms}: a timer is armed`);
    longTimer.clearLongTimeout(timer);
  }
  await new Promise((r) => setImmediate(r)); // warnings are emitted on nextTick
  assert.deepEqual(seen, []);
  assert.equal(longTimer.waitChunk(undefined), -1);
  assert.equal(longTimer.waitChunk(Infinity), -1);
  assert.equal(longTimer.waitChunk(1000 + 1e300, 1000), 2 ** 31 - 1);
  assert.equal(longTimer.waitChunk(1000 + 2 ** 31, 1000), 2 ** 31 - 1);
  assert.equal(longTimer.waitChunk(1500, 1000), 500);
  assert.equal(longTimer.waitChunk(900, 1000), 0);
});

test('lock() with timeouts of 2^31 ms and more waits (both backends, also when queued)', async (t) => {
  const seen = warnings(t);
  const dir = tmpdir(t);
  const file = path.join(dir, 'long.lock');
  const holder = spawnFixture(t, 'holder.js', [file, 'exclusive']);
  await holder.next('granted');
  // The first waits on the OS; the others queue behind it in this thread (their own
  // timers run from the queue).
  const waits = HUGE.map((timeout) => fslock.lock(file, { timeout }));
  const outcomes = await Promise.all(waits.map((p) => stillPending(p, OBSERVE_MS)));
  assert.deepEqual(
    outcomes,
    HUGE.map(() => 'pending'),
    'a huge timeout expired',
  );
  assert.deepEqual(
    seen.map((w) => w.message),
    [],
  );
  holder.send({ type: 'release' });
  for (const p of waits) {
    const l = await within(p, 60_000, 'a lock after the holder released');
    await l.release();
  }
});

test('lockSync with 1e300 and 2^31 ms waits (both backends)', async (t) => {
  const dir = tmpdir(t);
  const file = path.join(dir, 'sync.lock');
  for (const timeout of [1e300, 2 ** 31]) {
    const holder = spawnFixture(t, 'holder.js', [file, 'exclusive']);
    await holder.next('granted');
    // lockSync blocks its thread: it runs in a worker.
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const fslock = require('fslock');
       try {
         const l = fslock.lockSync(workerData.file, { timeout: workerData.timeout });
         l.releaseSync();
         parentPort.postMessage({ ok: true });
       } catch (e) { parentPort.postMessage({ ok: false, code: e.code, message: e.message }); }`,
      { eval: true, workerData: { file, timeout } },
    );
    t.after(() => worker.terminate());
    const result = new Promise((resolve) => worker.once('message', resolve));
    assert.equal(await stillPending(result, OBSERVE_MS), 'pending', `lockSync(${timeout}) gave up`);
    holder.send({ type: 'release' });
    assert.deepEqual(await within(result, 60_000, 'lockSync after the release'), { ok: true });
    await holder.exited();
  }
});

test('flock/lockRange with 2^32 ms and flockSync/lockRangeSync with 1e300 ms wait (native; fallback: ENOTSUP)', async (t) => {
  const dir = tmpdir(t);
  const file = path.join(dir, 'data');
  fs.writeFileSync(file, 'x'.repeat(100));
  const fd = fs.openSync(file, 'r+');
  t.after(() => fs.closeSync(fd));
  const timeout = 2 ** 32;
  const syncTimeout = 1e300;
  if (!native) {
    // No descriptor locks without the binding (README "Fallback backend").
    await rejectsWith(fslock.flock(fd, 'exclusive', { timeout }), { code: 'ENOTSUP' });
    await rejectsWith(fslock.lockRange(fd, { start: 0, length: 10, timeout }), { code: 'ENOTSUP' });
    throwsWith(() => fslock.flockSync(fd, 'exclusive', { timeout }), { code: 'ENOTSUP' });
    throwsWith(() => fslock.lockRangeSync(fd, { start: 0, length: 10, timeout }), { code: 'ENOTSUP' });
    return;
  }
  const seen = warnings(t);
  for (const kind of ['flock', 'range']) {
    const args = kind === 'flock' ? [file, 'flock', 'exclusive'] : [file, 'range', 'exclusive', '0', '10'];
    // Async form.
    let holder = spawnFixture(t, 'fd-holder.js', args);
    await holder.next('granted');
    const p =
      kind === 'flock'
        ? fslock.flock(fd, 'exclusive', { timeout })
        : fslock.lockRange(fd, { start: 0, length: 10, timeout });
    assert.equal(await stillPending(p, OBSERVE_MS), 'pending', `${kind} with 2^32 ms gave up`);
    holder.send({ type: 'release' });
    await within(p, 60_000, `${kind} after the release`);
    if (kind === 'flock') await fslock.flock(fd, 'unlock');
    else await fslock.unlockRange(fd, { start: 0, length: 10 });
    // Sync form, in a worker (it blocks its thread) on its own descriptor.
    holder = spawnFixture(t, 'fd-holder.js', args);
    await holder.next('granted');
    const worker = new Worker(
      `const { parentPort, workerData: w } = require('node:worker_threads');
       const fs = require('node:fs');
       const fslock = require('fslock');
       const fd = fs.openSync(w.file, 'r+');
       try {
         if (w.kind === 'flock') fslock.flockSync(fd, 'exclusive', { timeout: w.timeout });
         else fslock.lockRangeSync(fd, { start: 0, length: 10, timeout: w.timeout });
         parentPort.postMessage({ ok: true });
       } catch (e) { parentPort.postMessage({ ok: false, code: e.code, message: e.message }); }
       finally { fs.closeSync(fd); }`,
      { eval: true, workerData: { file, kind, timeout: syncTimeout } },
    );
    t.after(() => worker.terminate());
    const result = new Promise((resolve) => worker.once('message', resolve));
    assert.equal(await stillPending(result, OBSERVE_MS), 'pending', `${kind}Sync with 1e300 ms gave up`);
    holder.send({ type: 'release' });
    assert.deepEqual(await within(result, 60_000, `${kind}Sync after the release`), { ok: true });
  }
  assert.deepEqual(
    seen.map((w) => w.message),
    [],
  );
});

test('small timeouts still expire on time, with ETIMEDOUT (both backends)', async (t) => {
  const dir = tmpdir(t);
  const file = path.join(dir, 'short.lock');
  const holder = spawnFixture(t, 'holder.js', [file, 'exclusive']);
  await holder.next('granted');
  const t0 = Date.now();
  await rejectsWith(fslock.lock(file, { timeout: 150 }), { code: 'ETIMEDOUT' });
  assert.ok(Date.now() - t0 >= 145, `gave up after ${Date.now() - t0} ms of 150`);
  const t1 = Date.now();
  throwsWith(() => fslock.lockSync(file, { timeout: 150 }), { code: 'ETIMEDOUT' });
  assert.ok(Date.now() - t1 >= 145, `lockSync gave up after ${Date.now() - t1} ms of 150`);
  holder.send({ type: 'release' });
});
