'use strict';
// Native and fallback processes on one lock path exclude each other (docs/protocol.md),
// and the fallback's reclaim of dead holders never lets two processes in.
const { test, suite } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { fslock, tmpdir, spawnFixture, rejectsWith, stress, assertFree, FREE } = require('./helpers');

// Both kinds of process are spawned explicitly, so this file means the same in both
// passes of the suite; the current process's backend only adds the in-process checks.
const NATIVE = { env: { FSLOCK_BACKEND: 'native' } };
const FALLBACK = { env: { FSLOCK_BACKEND: 'fallback' } };

/** A pid that is certainly dead: a process that has exited. */
function deadPid() {
  return (
    spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout * 1
  );
}

function deadRecord(extra = {}) {
  return (
    JSON.stringify({
      v: 1,
      id: `dead.${Math.random()}`,
      backend: 'fallback',
      mode: 'exclusive',
      pid: deadPid(),
      hostname: os.hostname(),
      since: Date.now() - 60_000,
      ...extra,
    }) + '\n'
  );
}

suite(`native and fallback processes together (this process: ${fslock.backend})`, () => {
  /** 2 native + 2 fallback stress workers on one lock file; asserts no overlap, returns the dir. */
  async function overlapChecker(t, name, extra) {
    const dir = tmpdir(t);
    const inside = path.join(dir, 'inside');
    fs.mkdirSync(inside);
    const per = stress ? 2000 : 250;
    const kids = [NATIVE, NATIVE, FALLBACK, FALLBACK].map((o) =>
      spawnFixture(t, 'stress-worker.js', [path.join(dir, name), inside, String(per), '30', ...extra], o),
    );
    const results = await Promise.all(kids.map((k) => k.next('done', 240_000)));
    const overlaps = results.reduce((n, r) => n + r.overlaps, 0);
    t.diagnostic(`${results.reduce((n, r) => n + r.acquired, 0)} acquisitions, ${overlaps} overlaps`);
    assert.equal(overlaps, 0);
    return dir;
  }

  test('overlap checker: 2 native + 2 fallback processes, shared and exclusive mixed', async (t) => {
    const dir = await overlapChecker(t, 'mixed.lock', []);
    assert.deepEqual(fs.readdirSync(dir), ['inside'], 'no lock, temp or claim file left');
  });

  test('overlap checker with the lock file kept: 2 native + 2 fallback processes', async (t) => {
    // Kept files are what natives append their record to and cut back on release,
    // while fallbacks reclaim the header-only file by replacing it (docs/protocol.md).
    const dir = await overlapChecker(t, 'kept.lock', ['keep']);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['inside', 'kept.lock'], 'no temp or claim file left');
    const kept = fs.readFileSync(path.join(dir, 'kept.lock'), 'utf8');
    assert.equal(kept, '{"fslock":2}\n', 'the kept file holds its header alone');
  });

  test('a counter incremented by native and fallback processes loses nothing', async (t) => {
    const dir = tmpdir(t);
    const lockPath = path.join(dir, 'counter.lock');
    const counter = path.join(dir, 'counter');
    const n = stress ? 1000 : 150;
    const kids = [NATIVE, FALLBACK, NATIVE, FALLBACK].map((o) =>
      spawnFixture(t, 'counter.js', [lockPath, counter, String(n)], o),
    );
    const done = await Promise.all(kids.map((k) => k.next('done', 240_000)));
    assert.deepEqual(done.map((d) => d.backend).sort(), ['fallback', 'fallback', 'native', 'native']);
    assert.equal(Number(fs.readFileSync(counter, 'utf8')), 4 * n);
  });

  test('a native holder excludes a fallback process, and the other way round', async (t) => {
    const file = path.join(tmpdir(t), 'x.lock');
    for (const [holderOpts, otherOpts] of [
      [NATIVE, FALLBACK],
      [FALLBACK, NATIVE],
    ]) {
      const holder = spawnFixture(t, 'holder.js', [file, 'exclusive'], holderOpts);
      await holder.next('granted');
      const other = spawnFixture(t, 'holder.js', [file, 'shared', '300'], otherOpts);
      assert.equal((await other.next('failed')).code, 'ETIMEDOUT');
      const waiter = spawnFixture(t, 'holder.js', [file, 'exclusive'], otherOpts);
      await waiter.next('started');
      holder.send({ type: 'release' });
      await holder.next('released');
      await waiter.next('granted');
      waiter.send({ type: 'release' });
      await waiter.next('released');
    }
    // The native waiter released last, with its backend's default: the file stays, free
    // (whichever backend this process runs).
    assert.equal(fs.readFileSync(file, 'utf8'), FREE, 'the lock file stays, holding its header alone');
  });

  test('a dead fallback holder is reclaimed by one contender at a time, never two', async (t) => {
    const dir = tmpdir(t);
    const file = path.join(dir, 'dead.lock');
    const inside = path.join(dir, 'inside');
    fs.mkdirSync(inside);
    const rounds = stress ? 30 : 6;
    for (let round = 0; round < rounds; round++) {
      fs.writeFileSync(file, deadRecord());
      const kids = [FALLBACK, FALLBACK, FALLBACK, NATIVE].map((o) =>
        spawnFixture(t, 'stress-worker.js', [file, inside, '3', '0'], o),
      );
      const results = await Promise.all(kids.map((k) => k.next('done')));
      assert.equal(
        results.reduce((n, r) => n + r.overlaps, 0),
        0,
        `round ${round}`,
      );
      assert.deepEqual(fs.readdirSync(dir).sort(), ['inside'], `round ${round}: no litter`);
    }
  });

  test('records from another host: reclaimed only when their heartbeat is stale', async (t) => {
    const file = path.join(tmpdir(t), 'remote.lock');
    fs.writeFileSync(file, deadRecord({ hostname: 'some-other-host', pid: 1 }));
    // Fresh mtime: the remote holder may be alive; nothing here can check its pid.
    await rejectsWith(fslock.lock(file, { wait: false }), { code: 'ELOCKED' });
    assert.equal((await fslock.lockHolder(file)).hostname, 'some-other-host');
    // Not refreshed for a minute: stale, reclaimed.
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(file, old, old);
    const l = await fslock.lock(file, { wait: false });
    assert.equal((await fslock.lockHolder(file)).pid, process.pid);
    await l.release();
    assertFree(file);
  });

  test('a live fallback holder is never reclaimed, however long it holds', async (t) => {
    const file = path.join(tmpdir(t), 'long.lock');
    const holder = spawnFixture(t, 'holder.js', [file, 'exclusive'], FALLBACK);
    await holder.next('granted');
    // Longer than the empty-file grace and several heartbeats of polling by others.
    const native = spawnFixture(t, 'holder.js', [file, 'exclusive', '3000'], NATIVE);
    const fallback = spawnFixture(t, 'holder.js', [file, 'exclusive', '3000'], FALLBACK);
    assert.equal((await native.next('failed')).code, 'ETIMEDOUT');
    assert.equal((await fallback.next('failed')).code, 'ETIMEDOUT');
    assert.equal((await fslock.lockHolder(file)).pid, holder.pid);
    holder.send({ type: 'release' });
    await holder.next('released');
  });
});
