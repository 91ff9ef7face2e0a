'use strict';
// The wait callback (issue 24): `onWait` is told once when a call has to wait, with who
// holds the lock — an fslock holder in another process (its record: pid, host, since,
// name), a program that left no record (flock(1): the kernel's pid and command), this
// process ("this process") — and never when the lock is free or the call does not wait
// (wait: false). On lock, lockSync, withLock, update, flock and lockRange. Descriptor
// locks are native only (the fallback refuses them with ENOTSUP: test/fd-locks.test.js).
const { test, suite } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { fslock, native, tmpdir, within, until, spawnFixture, rejectsWith, throwsWith } = require('./helpers');

const linux = process.platform === 'linux';
const HOST = os.hostname();
const haveFlock = linux && spawnSync('flock', ['--version'], { stdio: 'ignore' }).status === 0;
const me = path.basename(__filename);

/** A fixture process holding `file` (fslock path lock), and its pid. */
async function holder(t, file, ...args) {
  const h = spawnFixture(t, 'holder.js', [file, ...args]);
  const { pid } = await h.next('granted');
  return { h, pid };
}

/** util-linux flock(1) holding `file` until released (stdin closed). */
async function flockHolder(t, file, mode = '-x') {
  const child = spawn('flock', [mode, file, 'sh', '-c', 'echo held; cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  t.after(() => child.kill('SIGKILL'));
  await within(
    new Promise((resolve, reject) => {
      child.stdout.on('data', (d) => String(d).includes('held') && resolve());
      child.on('exit', (code) => reject(new Error(`flock(1) exited with ${code}`)));
    }),
    60_000,
    'flock(1) holding',
  );
  return {
    pid: child.pid,
    release: () => {
      child.stdin.end();
      return new Promise((r) => child.once('exit', r));
    },
  };
}

/** Whether every thread of `pid` is stopped (Linux: /proc; elsewhere ps(1)'s state). */
function stopped(pid) {
  if (!linux) return /^T/.test(spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).stdout);
  // The state follows the command's closing parenthesis: "pid (comm) T ...".
  return fs.readdirSync(`/proc/${pid}/task`).every((tid) => {
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      return true; // a thread that ended since the listing
    }
    return 'Tt'.includes(stat[stat.lastIndexOf(')') + 2]);
  });
}

/** Resolves once `arr` has `n` entries (polled: the callback runs on this thread). */
async function told(arr, n = 1) {
  const end = Date.now() + 60_000;
  while (arr.length < n) {
    if (Date.now() > end) throw new Error(`onWait not called ${n} time(s) within 60 s`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

suite(`onWait on path locks (${fslock.backend})`, () => {
  test('an fslock holder in another process: told once, with its record (pid, host, since, name)', async (t) => {
    const file = path.join(tmpdir(t), 'a.lock');
    const { h, pid } = await holder(t, file);
    const seen = [];
    const before = Date.now();
    const waiting = fslock.lock(file, { onWait: (i) => seen.push(i) });
    await told(seen);
    const [info] = seen;
    assert.equal(info.path, file);
    assert.equal(info.shared, false);
    assert.equal(info.waited, 0);
    assert.equal(info.holder.pid, pid);
    assert.equal(info.holder.hostname, HOST);
    assert.equal(info.holder.record, true);
    assert.equal(info.holder.name, 'holder.js', 'the fixture script is its name');
    assert.ok(info.holder.since instanceof Date && info.holder.since.getTime() <= before);
    h.send({ type: 'release' });
    const l = await within(waiting);
    assert.equal(seen.length, 1, 'told once: the holder did not change');
    await l.release();
  });

  test('a new holder while it waits: told again (fallback: it polls); a kernel wait tells once (native)', async (t) => {
    if (process.platform === 'win32') return t.skip('the waiter is paused with SIGSTOP');
    const file = path.join(tmpdir(t), 'x.lock');
    const a = spawnFixture(t, 'lock-op.js', ['lock', file, JSON.stringify({ hold: true })]);
    const { pid: aPid } = await a.next('started');
    await a.next('granted');
    const w = spawnFixture(t, 'wait-report.js', [file]);
    const first = await w.next('told');
    assert.equal(first.info.holder.pid, aPid);
    assert.equal(first.info.waited, 0);
    // The waiter is stopped while A hands the lock to B: it cannot take it in between.
    // kill() only queues the stop; until every thread has stopped, a waiter woken by A's
    // release still takes the lock (the kernel checks the lock before the signal), and B
    // would wait for a stopped holder.
    process.kill(w.pid, 'SIGSTOP');
    t.after(() => w.exitCode === null && w.signalCode === null && process.kill(w.pid, 'SIGCONT'));
    await until(() => stopped(w.pid), 60_000, 'the waiter stopped');
    a.send({ type: 'release' });
    await a.next('released');
    const b = spawnFixture(t, 'lock-op.js', ['lock', file, JSON.stringify({ hold: true })]);
    const { pid: bPid } = await b.next('started');
    await b.next('granted');
    process.kill(w.pid, 'SIGCONT');
    if (!native) {
      const again = await w.next('told');
      assert.equal(again.info.holder.pid, bPid, 'the new holder');
      assert.equal(again.info.holder.name, 'lock-op.js');
      assert.ok(again.info.waited > 0);
    }
    b.send({ type: 'release' });
    const { tells } = await w.next('granted');
    if (native) assert.equal(tells, 1, 'the kernel wait does not say that its holder changed');
    else assert.ok(tells >= 2);
  });

  test('not called when the lock is free, nor with wait: false (ELOCKED), nor timeout: 0', async (t) => {
    const file = path.join(tmpdir(t), 'b.lock');
    const seen = [];
    const onWait = (i) => seen.push(i);
    await (await fslock.lock(file, { onWait })).release();
    fslock.lockSync(file, { onWait }).releaseSync();
    await fslock.withLock(file, () => {}, { onWait });
    const { h } = await holder(t, file);
    await rejectsWith(fslock.lock(file, { wait: false, onWait }), { code: 'ELOCKED' });
    throwsWith(() => fslock.lockSync(file, { wait: false, onWait }), { code: 'ELOCKED' });
    await rejectsWith(fslock.lock(file, { timeout: 0, onWait }), { code: 'ETIMEDOUT' });
    assert.equal(seen.length, 0);
    h.send({ type: 'release' });
    await h.next('released');
  });

  test('lockSync and withLock tell before they wait', async (t) => {
    const dir = tmpdir(t);
    const file = path.join(dir, 'c.lock');
    const marker = path.join(dir, 'waiting');
    // lockSync blocks this thread: its onWait makes the marker on which the holder releases.
    const h0 = spawnFixture(t, 'hold-until-file.js', [file, marker]);
    const { pid } = await h0.next('granted');
    const seen = [];
    const l = fslock.lockSync(file, {
      timeout: 60_000,
      onWait: (i) => {
        seen.push(i);
        fs.writeFileSync(marker, '');
      },
    });
    assert.equal(seen.length, 1);
    assert.equal(seen[0].holder.pid, pid);
    l.releaseSync();
    const { h, pid: pid2 } = await holder(t, file);
    const seen2 = [];
    const done = fslock.withLock(file, () => 'ran', { onWait: (i) => seen2.push(i) });
    await told(seen2);
    assert.equal(seen2[0].holder.pid, pid2);
    h.send({ type: 'release' });
    assert.equal(await within(done), 'ran');
  });

  test('a holder in this process: the holder is this process (and the message says so)', async (t) => {
    const file = path.join(tmpdir(t), 'd.lock');
    const first = await fslock.lock(file);
    const seen = [];
    const second = fslock.lock(file, { onWait: (i) => seen.push(i) });
    await told(seen);
    assert.equal(seen[0].holder.pid, process.pid);
    assert.equal(seen[0].holder.name, me);
    const e = await rejectsWith(fslock.lock(file, { wait: false }), { code: 'ELOCKED' });
    assert.match(e.message, new RegExp(`held by this process \\(pid ${process.pid}\\)`));
    assert.match(e.message, /release that lock first/);
    await first.release();
    await (await within(second)).release();
  });

  test('update() passes onWait to the lock of path.lock', async (t) => {
    const data = path.join(tmpdir(t), 'cache.json');
    const { h, pid } = await holder(t, `${data}.lock`);
    const seen = [];
    const done = fslock.update(data, () => '1', { onWait: (i) => seen.push(i) });
    await told(seen);
    assert.equal(seen[0].path, `${data}.lock`);
    assert.equal(seen[0].holder.pid, pid);
    h.send({ type: 'release' });
    await within(done);
    assert.equal(fs.readFileSync(data, 'utf8'), '1');
  });

  test('an exception thrown by onWait ends the call with it, holding nothing', async (t) => {
    const file = path.join(tmpdir(t), 'e.lock');
    const { h } = await holder(t, file);
    const boom = new Error('boom');
    await assert.rejects(
      fslock.lock(file, {
        onWait: () => {
          throw boom;
        },
      }),
      (e) => e === boom,
    );
    h.send({ type: 'release' });
    await h.next('released');
    assert.equal(await fslock.isLocked(file), false, 'nothing held');
  });

  test('a flock(1) holder: a program that left no record, named by the kernel (native, Linux)', async (t) => {
    if (!native) return t.skip('the fallback takes no kernel lock: it does not wait for flock(1) (README)');
    if (!haveFlock) return t.skip('util-linux flock(1) is not installed');
    const file = path.join(tmpdir(t), 'f.lock');
    const f = await flockHolder(t, file);
    const seen = [];
    const waiting = fslock.lock(file, { onWait: (i) => seen.push(i) });
    await told(seen);
    assert.equal(seen[0].holder.record, false);
    assert.equal(seen[0].holder.pid, f.pid);
    assert.equal(seen[0].holder.name, 'flock');
    assert.equal(seen[0].holder.since, undefined);
    await f.release();
    await (await within(waiting)).release();
    assert.equal(seen.length, 1);
  });
});

suite(`onWait on descriptor locks (${fslock.backend})`, { skip: !native && 'descriptor locks: native only' }, () => {
  test('flock(): a flock(1) holder in another process (pid and command from /proc/locks)', async (t) => {
    if (!haveFlock) return t.skip('util-linux flock(1) is not installed');
    const file = path.join(tmpdir(t), 'data');
    fs.writeFileSync(file, '');
    const f = await flockHolder(t, file);
    const fd = fs.openSync(file, 'r+');
    t.after(() => fs.closeSync(fd));
    const seen = [];
    const waiting = fslock.flock(fd, 'exclusive', { onWait: (i) => seen.push(i) });
    await told(seen);
    assert.deepEqual(
      { fd: seen[0].fd, shared: seen[0].shared, waited: seen[0].waited, path: seen[0].path },
      { fd, shared: false, waited: 0, path: undefined },
    );
    assert.equal(seen[0].holder.pid, f.pid);
    assert.equal(seen[0].holder.name, 'flock');
    assert.equal(seen[0].holder.record, false);
    // The errors of calls that give up name the option that bounded them and, for a
    // timeout, the holder the kernel shows.
    const other = fs.openSync(file, 'r+');
    t.after(() => fs.closeSync(other));
    assert.throws(() => fslock.flockSync(other, 'exclusive', { wait: false }), {
      code: 'ELOCKED',
      message: `ELOCKED: lock is held, and options.wait is false: try again later or wait for it (with a timeout), lock 'fd ${other}'`,
    });
    // flockSync tells before it blocks; a timeout ends the wait.
    const seenSync = [];
    throwsWith(() => fslock.flockSync(other, 'exclusive', { timeout: 50, onWait: (i) => seenSync.push(i) }), {
      code: 'ETIMEDOUT',
    });
    assert.equal(seenSync.length, 1);
    assert.equal(seenSync[0].holder.pid, f.pid);
    await assert.rejects(fslock.flock(other, 'exclusive', { timeout: 50 }), (e) => {
      assert.equal(e.code, 'ETIMEDOUT');
      assert.match(
        e.message,
        new RegExp(
          `^ETIMEDOUT: lock not acquired within 50 ms \\(options\\.timeout\\), held by pid ${f.pid} \\(flock\\) on .*, which left no record .*; raise options\\.timeout, or find out why pid ${f.pid} \\(flock\\) holds it`,
        ),
      );
      return true;
    });
    await f.release();
    await within(waiting);
    fslock.flockSync(fd, 'unlock');
    // A shared request waits only for an exclusive holder: a shared flock(1) lets it in.
    const s = await flockHolder(t, file, '-s');
    const none = [];
    await fslock.flock(fd, 'shared', { onWait: (i) => none.push(i) });
    assert.equal(none.length, 0, 'not called: shared with shared is granted at once');
    fslock.flockSync(fd, 'unlock');
    await s.release();
  });

  test('flock() and flockSync(): a holder in this process; not called when free or with wait: false', async (t) => {
    const file = path.join(tmpdir(t), 'data');
    fs.writeFileSync(file, '');
    const a = fs.openSync(file, 'r+');
    const b = fs.openSync(file, 'r+');
    t.after(() => [a, b].forEach((fd) => fs.closeSync(fd)));
    const seen = [];
    const onWait = (i) => seen.push(i);
    await fslock.flock(b, 'exclusive', { onWait });
    fslock.flockSync(b, 'unlock');
    fslock.flockSync(a, 'exclusive');
    await rejectsWith(fslock.flock(b, 'exclusive', { wait: false, onWait }), { code: 'ELOCKED' });
    throwsWith(() => fslock.flockSync(b, 'exclusive', { wait: false, onWait }), { code: 'ELOCKED' });
    assert.equal(seen.length, 0);
    const waiting = fslock.flock(b, 'exclusive', { onWait });
    await told(seen);
    assert.equal(seen[0].holder.pid, process.pid, 'this process holds it (another descriptor)');
    assert.equal(seen[0].holder.name, me);
    fslock.flockSync(a, 'unlock');
    await within(waiting);
    fslock.flockSync(b, 'unlock');
    // flockSync would block the thread that holds the other descriptor's lock: refused
    // (EDEADLK) before anyone is told of a wait.
    fslock.flockSync(a, 'exclusive');
    throwsWith(() => fslock.flockSync(b, 'exclusive', { timeout: 50, onWait }), { code: 'EDEADLK' });
    assert.equal(seen.length, 1);
    fslock.flockSync(a, 'unlock');
  });

  test('lockRange(): a POSIX record-lock holder in another process (lockf), and only overlapping ranges', async (t) => {
    if (!linux) return t.skip('the kernel names holders on Linux only');
    const py = spawnSync('python3', ['-c', 'pass'], { stdio: 'ignore' }).status === 0;
    if (!py) return t.skip('python3 is not installed');
    const file = path.join(tmpdir(t), 'data');
    fs.writeFileSync(file, Buffer.alloc(100));
    // fcntl.lockf: a classic POSIX lock on bytes 10..19, whose holder the kernel names.
    const child = spawn(
      'python3',
      [
        '-c',
        'import fcntl,sys\nf=open(sys.argv[1],"r+")\nfcntl.lockf(f,fcntl.LOCK_EX,10,10)\nprint("held",flush=True)\nsys.stdin.read()',
        file,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    t.after(() => child.kill('SIGKILL'));
    await within(new Promise((r) => child.stdout.on('data', (d) => String(d).includes('held') && r())));
    const fd = fs.openSync(file, 'r+');
    t.after(() => fs.closeSync(fd));
    const seen = [];
    const onWait = (i) => seen.push(i);
    await fslock.lockRange(fd, { start: 0, length: 10, onWait });
    await fslock.unlockRange(fd, { start: 0, length: 10 });
    assert.equal(seen.length, 0, 'bytes 0..9 do not overlap the held 10..19');
    const waiting = fslock.lockRange(fd, { start: 15, length: 0, onWait });
    await told(seen);
    assert.equal(seen[0].fd, fd);
    assert.equal(seen[0].holder.pid, child.pid);
    assert.match(seen[0].holder.name, /^python/);
    child.stdin.end();
    await within(waiting);
    await fslock.unlockRange(fd, { start: 15, length: 0 });
  });

  test('lockRange(): an OFD holder in this process is found (the kernel shows OFD holders without a pid)', async (t) => {
    const file = path.join(tmpdir(t), 'data');
    fs.writeFileSync(file, Buffer.alloc(100));
    const a = fs.openSync(file, 'r+');
    const b = fs.openSync(file, 'r+');
    t.after(() => [a, b].forEach((fd) => fs.closeSync(fd)));
    fslock.lockRangeSync(a, { start: 0, length: 50 });
    const seen = [];
    const waiting = fslock.lockRange(b, { start: 40, length: 20, onWait: (i) => seen.push(i) });
    await told(seen);
    if (linux) assert.equal(seen[0].holder.pid, process.pid);
    else assert.equal(seen[0].holder, undefined, 'no lock table to read outside Linux');
    fslock.unlockRangeSync(a, { start: 0, length: 50 });
    await within(waiting);
    fslock.unlockRangeSync(b, { start: 40, length: 20 });
  });

  test('lockRange(): an OFD holder in another process is told without a pid (what the kernel shows)', async (t) => {
    if (!linux) return t.skip('the kernel names holders on Linux only');
    const file = path.join(tmpdir(t), 'data');
    fs.writeFileSync(file, Buffer.alloc(100));
    const h = spawnFixture(t, 'fd-holder.js', [file, 'range', 'exclusive', '0', '0']);
    await h.next('granted');
    const fd = fs.openSync(file, 'r+');
    t.after(() => fs.closeSync(fd));
    const seen = [];
    const waiting = fslock.lockRange(fd, { start: 0, length: 1, shared: true, onWait: (i) => seen.push(i) });
    await told(seen);
    assert.deepEqual(seen[0].holder, {
      pid: undefined,
      hostname: undefined,
      since: undefined,
      shared: false,
      record: false,
      name: undefined,
    });
    h.send({ type: 'release' });
    await within(waiting);
    fslock.unlockRangeSync(fd, { start: 0, length: 1 });
  });
});
