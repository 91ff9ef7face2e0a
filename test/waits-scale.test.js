'use strict';
// Issue 15, "scale with the number of waits": many concurrent waits in one process
// work with a bounded number of threads (native/wait_pool.cc), and waits beyond the
// blocking threads are still granted when their holders release — also while every
// blocking thread waits on a lock that is not released (no deadlock). Timings are in
// bench/waits.bench.js; these tests assert correctness only.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { fslock, native, tmpdir, within, until, spawnFixture, openFds, rejectsWith } = require('./helpers');

const linux = process.platform === 'linux';
const threads = () => Number(/Threads:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);
// The binding's test hooks (native only): the process-wide thread budget.
const binding = native ? require(path.join(__dirname, '..', 'dist', 'cjs', 'native', 'binding.js')).binding : undefined;

test(
  '10,000 concurrent lock() waits on distinct held paths: all granted, threads bounded',
  { skip: !linux && 'reads /proc' },
  async (t) => {
    // The fallback polls from JavaScript (no threads at all); 10,000 JS pollers only
    // measure the machine, so it waits on fewer.
    const n = native ? 10_000 : 1_000;
    const dir = tmpdir(t);
    const holder = spawnFixture(t, 'many-holder.js', [dir, String(n)]);
    await holder.next('held', 120_000);
    const before = threads();
    let granted = 0;
    const waits = [];
    for (let i = 0; i < n; i++) waits.push(fslock.lock(path.join(dir, `p${i}.lock`)).then((l) => (granted++, l)));
    let most = threads();
    // Sample while every wait is pending (none can be granted: the holder holds all).
    for (let i = 0; i < 20; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      most = Math.max(most, threads());
    }
    assert.equal(granted, 0);
    t.diagnostic(`${fslock.backend}: ${n} waits, threads ${before} -> ${most}`);
    assert.ok(most <= 64, `at most 64 threads while ${n} waits are pending (saw ${most})`);
    holder.send({ type: 'release' });
    const locks = await within(Promise.all(waits), 120_000, `${n} grants`);
    assert.equal(granted, n);
    for (const l of locks) l.releaseSync();
  },
);

test(
  'waits beyond the blocking threads are polled, promoted, cancellable, and never deadlock',
  { skip: !native && 'the thread pool is native' },
  async (t) => {
    binding.waitLimits(2, 10, 200); // 2 blocking threads, then the poller; parked threads exit after 200 ms
    t.after(() => binding.waitLimits(32, 10, 2000));
    await until(() => binding.waitThreads() === 0, undefined, 'an idle pool');
    const dir = tmpdir(t);
    const n = 30;
    const holder = spawnFixture(t, 'many-holder.js', [dir, String(n)]);
    await holder.next('held');
    const fdsBefore = openFds();
    // Descriptor locks held here through A, waited for through B (another description).
    const files = [0, 1, 2, 3].map((i) => {
      const f = path.join(dir, `d${i}`);
      fs.writeFileSync(f, 'data');
      return { A: fs.openSync(f, 'r+'), B: fs.openSync(f, 'r+') };
    });
    t.after(() => files.forEach(({ A, B }) => (fs.closeSync(A), fs.closeSync(B))));
    for (const [i, { A }] of files.entries()) {
      if (i % 2) await fslock.lockRange(A, { start: 0, length: 4 });
      else await fslock.flock(A, 'exclusive');
    }
    const done = new Set();
    const track = (name, p) => p.then((v) => (done.add(name), v));
    // p0 and p1 take the two blocking threads; everything after them queues.
    const paths = [];
    for (let i = 0; i < n; i++) {
      paths.push(track(`p${i}`, fslock.lock(path.join(dir, `p${i}.lock`))));
      if (i === 1) await until(() => binding.waitThreads() >= 2, undefined, 'two blocking threads');
    }
    const fdWaits = files.map(({ B }, i) =>
      track(`d${i}`, i % 2 ? fslock.lockRange(B, { start: 0, length: 4 }) : fslock.flock(B, 'exclusive')),
    );
    // Queued waits end on timeout and abort like any other, holding nothing.
    const ac = new AbortController();
    const aborted = rejectsWith(fslock.lock(path.join(dir, 'p5.lock'), { signal: ac.signal }), { code: 'ABORT_ERR' });
    const timedOut = rejectsWith(fslock.lock(path.join(dir, 'p6.lock'), { timeout: 50 }), { code: 'ETIMEDOUT' });
    ac.abort();
    await within(Promise.all([aborted, timedOut]));
    assert.ok(binding.waitThreads() <= 3, `2 blocking threads and the poller (saw ${binding.waitThreads()})`);
    // Release everything but p0 and p1, in reverse: the queued waits are granted while
    // both blocking threads still wait.
    holder.send({ type: 'release', order: [...Array(n).keys()].slice(2).reverse() });
    await holder.next('released');
    await within(until(() => done.size === n - 2, undefined, 'queued path waits granted'));
    assert.ok(!done.has('p0') && !done.has('p1'));
    for (const [i, { A }] of files.entries()) {
      if (i % 2) await fslock.unlockRange(A, { start: 0, length: 4 });
      else await fslock.flock(A, 'unlock');
    }
    await within(Promise.all(fdWaits));
    holder.send({ type: 'release', order: [0, 1] });
    const locks = await within(Promise.all(paths));
    assert.equal(done.size, n + files.length);
    for (const l of locks) l.releaseSync();
    // Parked threads exit when idle: back to no pool thread, and no descriptor left.
    await until(() => binding.waitThreads() === 0, undefined, 'idle threads exit');
    for (const [i, { B }] of files.entries()) {
      if (i % 2) fslock.unlockRangeSync(B, { start: 0, length: 4 });
      else fslock.flockSync(B, 'unlock');
    }
    // (openFds() is null where no descriptor list is readable: Windows.)
    if (fdsBefore !== null)
      assert.equal(openFds(), fdsBefore + 2 * files.length, "only the test's own descriptors are open");
  },
);

/**
 * A fresh pids cgroup (v2, or v1's pids hierarchy) for one child process, removed at
 * the end; undefined (with the reason) where there is none to create.
 */
function pidsCgroup() {
  if (process.platform !== 'linux') return { reason: 'pids cgroups are Linux' };
  if (process.getuid() !== 0) return { reason: 'creating a cgroup needs root' };
  const name = `fslock-test-${process.pid}-${Date.now()}`;
  let dir;
  try {
    const v2 = '/sys/fs/cgroup';
    if (fs.existsSync(path.join(v2, 'cgroup.controllers'))) {
      if (!fs.readFileSync(path.join(v2, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('pids'))
        return { reason: 'cgroup v2 without the pids controller' };
      if (!fs.readFileSync(path.join(v2, 'cgroup.subtree_control'), 'utf8').includes('pids'))
        fs.writeFileSync(path.join(v2, 'cgroup.subtree_control'), '+pids');
      dir = path.join(v2, name);
    } else if (fs.existsSync('/sys/fs/cgroup/pids/cgroup.procs')) {
      dir = path.join('/sys/fs/cgroup/pids', name);
    } else {
      return { reason: 'no pids cgroup controller mounted' };
    }
    fs.mkdirSync(dir);
  } catch (e) {
    return { reason: `cannot create a pids cgroup: ${e.message}` };
  }
  const procs = () => fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').trim();
  const cg = {
    dir,
    add: (pid) => fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(pid)),
    setMax: (n) => fs.writeFileSync(path.join(dir, 'pids.max'), String(n)),
    current: () => Number(fs.readFileSync(path.join(dir, 'pids.current'), 'utf8')),
    async remove(child) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await until(() => procs() === '', undefined, 'the cgroup to empty');
      fs.rmdirSync(dir);
    },
  };
  return { cg };
}

test('a thread that cannot start rejects the wait with EAGAIN, holding nothing (real pids cgroup)', async (t) => {
  const { cg, reason } = pidsCgroup();
  if (!cg) return t.skip(reason);
  const dir = tmpdir(t);
  const n = 200;
  if (native) {
    // Another process (this one) holds dir/other: the child's flockSync must wait for it.
    const other = fs.openSync(path.join(dir, 'other'), 'w+');
    fslock.flockSync(other, 'exclusive');
    t.after(() => fs.closeSync(other));
  }
  const child = spawnFixture(t, 'wait-cgroup.js', [dir, String(n)]);
  t.after(() => cg.remove(child));
  await child.next('ready');
  cg.add(child.pid);
  if (native) {
    // Not one more thread: every wait fails, at once and cleanly.
    cg.setMax(cg.current());
    child.send({ type: 'go', release: false });
    const r = await child.next('result');
    t.diagnostic(`pids.max = ${cg.current()}: ${JSON.stringify(r.summary)}`);
    assert.deepEqual(r.summary, { EAGAIN: n + 1 });
    assert.equal(r.failed.errno, -require('node:os').constants.errno.EAGAIN);
    assert.equal(r.failed.syscall, 'pthread_create');
    assert.match(r.failed.path, /q\d+\.lock$/);
    assert.deepEqual(r.sync && [r.sync.code, r.sync.syscall], ['EAGAIN', 'pthread_create'], 'flockSync with a timeout');
    assert.equal(r.fdsAfter, r.fdsBefore, 'no descriptor left open');
  }
  // Three more threads: two blocking waits and the poller serve all 200 (fallback: no
  // threads at all).
  cg.setMax(cg.current() + 3);
  child.send({ type: 'go', release: true });
  const r = await child.next('result', 120_000);
  t.diagnostic(`pids.max = current + 3: ${JSON.stringify(r.summary)}`);
  assert.deepEqual(r.summary, { granted: n + (native ? 1 : 0) });
  assert.equal(r.fdsAfter, r.fdsBefore, 'no descriptor left open');
});
