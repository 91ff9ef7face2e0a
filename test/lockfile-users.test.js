'use strict';
// Several users of one machine share a lock (issue 13, "Must show"): root holds, the
// user nobody waits and gets it after release; created lock files are 0o666 whatever
// the umask (or exactly `mode`); a leftover lock file of another user in a sticky
// directory never makes lock or release fail (either way round, under both settings of
// fs.protected_regular, which denies even root an O_CREAT open of another user's file
// in a sticky world-writable directory); EACCES names the file's owner and mode.
const { test, suite } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { fslock, native, tmpdir, rejectsWith } = require('./helpers');
const { NOBODY, usersSkip, spawnAs, runAsNobody, sharedDir, setSysctl } = require('./users');

const skip = usersSkip();
const perm = (file) => fs.statSync(file).mode & 0o7777;

/** Runs fn with this process's umask set to `mask`. */
async function withUmask(mask, fn) {
  const old = process.umask(mask);
  try {
    return await fn();
  } finally {
    process.umask(old);
  }
}

suite(`created lock files (${fslock.backend})`, { skip: process.platform === 'win32' && 'POSIX modes' }, () => {
  for (const mask of [0o022, 0o077]) {
    test(`mode 0o666 under umask 0o${mask.toString(8).padStart(3, '0')}; mode: 0o600 gives 0o600`, async (t) => {
      const dir = tmpdir(t);
      await withUmask(mask, async () => {
        const a = path.join(dir, 'a.lock');
        const l = await fslock.lock(a);
        assert.equal(perm(a).toString(8), '666', 'lock(): every user may open the lock file');
        await l.release();
        const b = path.join(dir, 'b.lock');
        const s = fslock.lockSync(b);
        assert.equal(perm(b).toString(8), '666', 'lockSync()');
        s.releaseSync();
        const c = path.join(dir, 'c.lock');
        await fslock.withLock(c, () => assert.equal(perm(c).toString(8), '666', 'withLock()'));
        const d = path.join(dir, 'd.lock');
        const m = await fslock.lock(d, { mode: 0o600 });
        assert.equal(perm(d).toString(8), '600', 'mode: 0o600 is applied exactly');
        await m.release();
        const e = path.join(dir, 'e.lock');
        const n = fslock.lockSync(e, { mode: 0o640 });
        assert.equal(perm(e).toString(8), '640', 'lockSync mode: 0o640');
        n.releaseSync();
      });
    });
  }
});

suite(`other users (${fslock.backend})`, { skip }, () => {
  test('root holds a lock in a sticky directory; nobody waits and gets it after release', async (t) => {
    const dir = sharedDir(t, 'sticky');
    const file = path.join(dir, 'job.lock');
    const held = await fslock.lock(file);
    const child = spawnAs(t, 'nobody', 'lock-op.js', ['try-then-lock', file, JSON.stringify({ hold: true })]);
    assert.equal((await child.next('started')).uid, NOBODY.uid);
    const tried = await child.next('tried');
    assert.equal(tried.ok, false);
    assert.equal(tried.code, 'ELOCKED', `nobody can open root's lock file and finds it held (${tried.message})`);
    await child.next('waiting');
    assert.deepEqual(child.pending(), [], 'nobody is waiting, not failed or granted');
    await held.release();
    const granted = await child.next('granted');
    assert.ok(granted.at >= 0);
    assert.equal(await fslock.isLocked(file), true);
    await rejectsWith(fslock.lock(file, { wait: false }), { code: 'ELOCKED' });
    const h = await fslock.lockHolder(file);
    assert.equal(h && h.pid, child.pid, "lockHolder names nobody's process");
    child.send({ type: 'release' });
    const done = await child.next(['released', 'release-failed']);
    assert.equal(done.type, 'released', `nobody's release failed: ${done.code} ${done.message}`);
    assert.equal((await child.exited()).code, 0);
    assert.equal(await fslock.isLocked(file), false);
    (await fslock.lock(file, { wait: false })).releaseSync();
  });

  test(
    'nobody locks a file it may read but not write (a root-owned script: the flock "$0" habit), as flock(1) does',
    {
      skip: (!native || process.platform !== 'linux') && 'native, Linux (the fallback refuses files it did not create)',
    },
    async (t) => {
      // flock(1) opens the file read-only; fslock opened every existing lock path for
      // writing, so nobody got EACCES (with advice to remove the file: a script). On a
      // read-only descriptor: flock(2) as asked and an OFD read lock (docs/path-locks.md).
      const dir = sharedDir(t, 'nobody');
      const script = path.join(dir, 'job.sh');
      fs.writeFileSync(script, '#!/bin/sh\necho job\n', { mode: 0o755 });
      fs.chownSync(script, 0, 0);
      const body = fs.readFileSync(script);
      const flock1 = runAsNobody('flock', ['-n', script, 'true']);
      assert.equal(flock1.status, 0, `flock(1) as nobody locks the script (control): ${flock1.stderr}`);
      for (const shared of [false, true]) {
        const mode = shared ? 'shared' : 'exclusive';
        for (const op of ['lock', 'lockSync']) {
          const child = spawnAs(t, 'nobody', 'lock-op.js', [op, script, JSON.stringify({ hold: true, shared })]);
          const m = await child.next(['granted', 'failed'], 30_000);
          assert.equal(m.type, 'granted', `${op} ${mode}: ${m.code} ${m.message}`);
          // Root sees nobody's hold, and is kept out as flock(1) would be.
          assert.equal(await fslock.isLocked(script), true, `${op} ${mode}: isLocked`);
          const h = await fslock.lockHolder(script);
          assert.deepEqual([h?.pid, h?.record, h?.shared], [child.pid, false, shared], `${op} ${mode}: lockHolder`);
          await rejectsWith(fslock.lock(script, { wait: false }), { code: 'ELOCKED' });
          const other = runAsNobody('flock', ['-n', '-x', script, 'true']);
          assert.equal(other.status, 1, `${op} ${mode}: flock(1) -x -n is refused (${other.stderr})`);
          if (shared) (await fslock.lock(script, { shared: true, wait: false })).releaseSync();
          child.send({ type: 'release' });
          assert.equal((await child.next(['released', 'release-failed'])).type, 'released');
          assert.equal((await child.exited()).code, 0);
          (await fslock.lock(script, { wait: false })).releaseSync(); // free again
        }
      }
      assert.deepEqual(fs.readFileSync(script), body, 'the script is byte-identical');
    },
  );

  test('EACCES on a lock file nobody may not open names its owner and mode', async (t) => {
    const dir = sharedDir(t, 'sticky');
    const file = path.join(dir, 'private.lock');
    const held = await fslock.lock(file, { mode: 0o600 });
    try {
      await eaccesNamesOwner(t, file);
    } finally {
      await held.release(); // before the directory goes (t.after hooks)
    }
  });

  async function eaccesNamesOwner(t, file) {
    assert.equal(fs.statSync(file).uid, 0);
    for (const op of ['lock', 'lockSync']) {
      // Without wait: false too: a file nobody cannot open is an error at once, not a wait.
      const child = spawnAs(t, 'nobody', 'lock-op.js', [op, file, '{}']);
      const m = await child.next(['failed', 'granted'], 15_000);
      assert.equal(m.type, 'failed', `${op}: nobody got a lock on a file it may not open`);
      assert.equal(m.code, 'EACCES', `${op}: ${m.message}`);
      assert.equal(m.path, file);
      assert.match(m.message, /uid\D{0,4}0\b/i, `${op}: the message names the owner's uid: ${m.message}`);
      assert.match(m.message, /\b0?o?600\b/, `${op}: the message names the mode: ${m.message}`);
    }
  }

  for (const protectedRegular of [0, 2])
    for (const [owner, user] of [
      ['nobody', 'root'],
      ['root', 'nobody'],
    ])
      test(`a leftover lock file of ${owner} in a sticky directory: ${user} locks and releases (fs.protected_regular=${protectedRegular})`, async (t) => {
        if (!setSysctl(t, 'protected_regular', protectedRegular)) return t.skip('cannot set fs.protected_regular here');
        const dir = sharedDir(t, 'sticky');
        const file = path.join(dir, 'cache.lock');
        // The leftover: a holder of `owner` killed while it held the lock.
        const crashed = spawnAs(t, owner, 'lock-op.js', ['lock', file, JSON.stringify({ hold: true })]);
        await crashed.next('granted');
        crashed.kill('SIGKILL');
        await crashed.exited();
        assert.equal(fs.statSync(file).uid, owner === 'nobody' ? NOBODY.uid : 0, 'the leftover lock file');
        const problems = [];
        if (owner === 'root' && perm(file) !== 0o666) {
          // Reported below; the file is then made what a umask-0 creator leaves, so that
          // the release part is still checked.
          problems.push(`root's lock file has mode ${perm(file).toString(8)}, not 666: nobody cannot open it`);
          fs.chmodSync(file, 0o666);
        }

        // The fallback takes over a dead holder's file by renaming its own over it, which
        // a sticky directory allows only the file's owner (or root): it says so instead
        // (README "Fallback backend"). Kernel locks need no takeover.
        const stuck = !native && owner === 'root' && user === 'nobody';
        for (const op of ['lock', 'lockSync', 'withLock']) {
          const child = spawnAs(t, user, 'lock-op.js', [op, file, JSON.stringify({ value: `${op}-value` })]);
          const m = await child.next(['released', 'failed', 'release-failed']);
          if (stuck) {
            assert.equal(m.type, 'failed');
            assert.equal(m.code, 'EPERM', m.message);
            assert.match(m.message, /belongs to uid 0 .*sticky/, m.message);
            assert.equal((await child.exited()).code, 0);
            continue;
          }
          if (m.type !== 'released') problems.push(`${user} ${op}: ${m.type} ${m.code}: ${m.message}`);
          else if (op === 'withLock' && m.value !== 'withLock-value')
            problems.push(`withLock resolved with ${m.value}`);
          assert.equal((await child.exited()).code, 0);
          if (await fslock.isLocked(file)) problems.push(`still locked after ${user}'s ${op}`);
        }
        assert.deepEqual(problems, []);
      });
});
