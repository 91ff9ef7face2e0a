'use strict';
// Issue 14 item 1: a worker that ends (terminated, or calling process.exit()) while its
// lock(), flock() or lockRange() waits, and process.exit() on the main thread with waits
// pending, never abort the process, and leave nothing held or open behind.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { Worker } = require('node:worker_threads');
const { fslock, native, tmpdir, within, until, stress, openFds } = require('./helpers');

/** Runs a fixture to its end: { code, signal, stdout, stderr }. */
function runFixture(name, args, ms = 600_000) {
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', name), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return within(
    new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))),
    ms,
    `fixture ${name}`,
  ).finally(() => child.exitCode === null && child.kill('SIGKILL'));
}

test('workers terminated or exiting while they wait: no abort, nothing left held or open', async (t) => {
  const cycles = stress ? 2000 : 60;
  const r = await runFixture('wait-cycles.js', [String(cycles), tmpdir(t)]);
  assert.deepEqual([r.code, r.signal], [0, null], `fixture ended with ${r.code}/${r.signal}: ${r.stderr}`);
  const res = JSON.parse(r.stdout.trim().split('\n').pop());
  t.diagnostic(`${fslock.backend}: ${JSON.stringify(res)}`);
  assert.equal(res.cycles, cycles);
  assert.equal(res.fdsAfter, res.fdsBefore, 'descriptors opened for the waits were all closed');
  // (Counts come from /proc: null on Windows.)
  assert.ok(res.maxThreads === null || res.maxThreads <= 64, `threads stayed bounded (${res.maxThreads})`);
});

test("process.exit() on the main thread with its own and workers' waits pending", async (t) => {
  const dir = tmpdir(t);
  for (let i = 0; i < (stress ? 60 : 9); i++) {
    const r = await runFixture('wait-exit.js', [dir, String(i % 3)]);
    assert.deepEqual([r.code, r.signal], [0, null], `variant ${i % 3}: ended with ${r.code}/${r.signal}: ${r.stderr}`);
  }
});

test('process.exit() while workers keep starting waits: never an abort', async (t) => {
  // A worker's call into the binding can meet its environment being torn down; an error
  // node-addon-api cannot throw then aborted the process (26 of 200 runs before the fix).
  const dir = tmpdir(t);
  const runs = stress ? 300 : 40;
  for (let i = 0; i < runs; i++) {
    const r = await runFixture('wait-exit-race.js', [dir]);
    assert.deepEqual([r.code, r.signal], [0, null], `run ${i}: ended with ${r.code}/${r.signal}: ${r.stderr}`);
  }
});

test(
  'a lock granted while its worker could not hear of it is undone when the worker ends',
  { skip: !native && 'descriptor locks and kernel path locks are native' },
  async (t) => {
    const dir = tmpdir(t);
    const lockPath = path.join(dir, 'u.lock');
    const data = path.join(dir, 'data');
    fs.writeFileSync(data, 'x'.repeat(64));
    const RANGE = { start: 10, length: 5 };
    const A = fs.openSync(data, 'r+');
    t.after(() => fs.closeSync(A));
    const fdsBefore = openFds();
    // Takes the lock through a third descriptor and gives it back; false once held by another.
    const free = async (C) => {
      try {
        await fslock.flock(C, 'exclusive', { wait: false });
      } catch (e) {
        if (e.code === 'ELOCKED') return false;
        throw e;
      }
      await fslock.flock(C, 'unlock');
      return true;
    };
    const rangeFree = async (C) => {
      try {
        await fslock.lockRange(C, { ...RANGE, wait: false });
      } catch (e) {
        if (e.code === 'ELOCKED') return false;
        throw e;
      }
      await fslock.unlockRange(C, RANGE);
      return true;
    };
    for (let i = 0; i < (stress ? 50 : 5); i++) {
      const held = await fslock.lock(lockPath);
      await fslock.flock(A, 'exclusive');
      await fslock.lockRange(A, RANGE);
      const B = fs.openSync(data, 'r+');
      const C = fs.openSync(data, 'r+');
      const flag = new Int32Array(new SharedArrayBuffer(16));
      const w = new Worker(path.join(__dirname, 'fixtures', 'wait-worker.js'), {
        workerData: { lockPath, fd: B, flag, exitAfter: -1 },
      });
      await within(new Promise((resolve) => w.once('message', resolve)));
      w.postMessage('spin'); // its thread is busy from now on: no result reaches its JS
      await until(() => Atomics.load(flag, 3) === 1);
      await held.release();
      await fslock.flock(A, 'unlock');
      await fslock.unlockRange(A, RANGE);
      // The pool threads take B's locks for the worker. (Its path-lock wait is granted on
      // the inode that release() just unlinked: invisible at the path, closed at teardown.)
      await until(async () => !(await free(C)) && !(await rangeFree(C)), undefined, 'grants to the worker');
      assert.deepEqual([...flag.slice(0, 3)], [0, 0, 0], 'the spinning worker saw none of them');
      await w.terminate();
      // B is still open: only an undo can have freed its description's locks.
      assert.ok(await free(C), 'flock granted to the ended worker was undone');
      assert.ok(await rangeFree(C), 'range granted to the ended worker was undone');
      (await fslock.lock(lockPath, { wait: false })).releaseSync();
      fs.closeSync(B);
      fs.closeSync(C);
    }
    assert.equal(openFds(), fdsBefore, 'no descriptor left open');
  },
);

test(
  'a wait callback that throws is an uncaught exception; the other results still arrive',
  { skip: !native && 'binding-level' },
  async (t) => {
    const r = await runFixture('wait-throw.js', [tmpdir(t)], 60_000);
    assert.deepEqual([r.code, r.signal], [0, null], r.stderr);
    // All three callbacks ran, each exception reached 'uncaughtException', and nothing
    // kept the event loop alive afterwards (the fixture exited by itself).
    assert.deepEqual(JSON.parse(r.stdout), { called: ['0:0', '1:0', '2:0'], caught: ['cb 0', 'cb 1', 'cb 2'] });
  },
);
