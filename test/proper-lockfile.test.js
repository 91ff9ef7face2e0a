'use strict';
// fslock/proper-lockfile, black-box against proper-lockfile v4's documented behaviour,
// and side by side with unmodified proper-lockfile processes.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const plf = require('fslock/proper-lockfile');
const original = require('proper-lockfile');
const { tmpdir, rejectsWith, throwsWith, spawnFixture, stress } = require('./helpers');

function file(t, name = 'data.json') {
  const p = path.join(tmpdir(t), name);
  fs.writeFileSync(p, '{}');
  return p;
}

test('lock/release: the lock directory, ELOCKED with file, ERELEASED, nothing left', async (t) => {
  const f = file(t);
  assert.equal(typeof plf, 'function', 'the module itself is lock(), like proper-lockfile');
  const release = await plf.lock(f);
  assert.ok(fs.statSync(`${f}.lock`).isDirectory(), 'unmigrated processes must see the directory');
  const e = await rejectsWith(plf.lock(f), { code: 'ELOCKED', message: 'Lock file is already being held' });
  assert.equal(e.file, f);
  assert.equal(await plf.check(f), true);
  assert.equal(plf.checkSync(f), true);
  assert.equal(await original.check(f), true, 'proper-lockfile itself sees it held');
  await release();
  await rejectsWith(release(), { code: 'ERELEASED', message: 'Lock is already released' });
  assert.equal(await plf.check(f), false);
  assert.deepEqual(fs.readdirSync(path.dirname(f)), ['data.json']);
  const again = await plf(f); // the default export
  await again();
});

test('sync API: lockSync/unlockSync/checkSync, ESYNC, ENOTACQUIRED, ERELEASED', async (t) => {
  const f = file(t);
  throwsWith(() => plf.lockSync(f, { retries: 1 }), { code: 'ESYNC' });
  throwsWith(() => plf.lockSync(f, { retries: { retries: 2 } }), { code: 'ESYNC' });
  const release = plf.lockSync(f, { retries: 0 });
  throwsWith(() => plf.lockSync(f), { code: 'ELOCKED' });
  assert.equal(plf.checkSync(f), true);
  plf.unlockSync(f);
  throwsWith(() => release(), { code: 'ERELEASED' });
  throwsWith(() => plf.unlockSync(f), { code: 'ENOTACQUIRED', message: 'Lock is not acquired/owned by you' });
  await rejectsWith(plf.unlock(f), { code: 'ENOTACQUIRED' });
  assert.equal(plf.checkSync(f), false);
});

test('realpath: missing files are ENOENT (unless realpath:false); symlinks lock their target', async (t) => {
  const f = file(t);
  const dir = path.dirname(f);
  await rejectsWith(plf.lock(path.join(dir, 'missing')), { code: 'ENOENT' });
  throwsWith(() => plf.checkSync(path.join(dir, 'missing')), { code: 'ENOENT' });
  const r = await plf.lock(path.join(dir, 'missing'), { realpath: false });
  await r();
  fs.symlinkSync(f, path.join(dir, 'link'));
  const viaLink = await plf.lock(path.join(dir, 'link'));
  await rejectsWith(plf.lock(f), { code: 'ELOCKED' });
  await viaLink();
});

test('lockfilePath, fs and retries options', async (t) => {
  const f = file(t);
  const custom = path.join(path.dirname(f), 'custom-lock-dir');
  let mkdirs = 0;
  const countingFs = { ...fs, mkdirSync: (...a) => (mkdirs++, fs.mkdirSync(...a)) };
  const release = await plf.lock(f, { lockfilePath: custom, fs: countingFs });
  assert.ok(fs.statSync(custom).isDirectory());
  assert.ok(mkdirs > 0, 'options.fs was not used');
  assert.equal(await plf.check(f, { lockfilePath: custom }), true);
  // Retries: a waiter with retries gets the lock once it is released.
  const waiting = plf.lock(f, { lockfilePath: custom, retries: { retries: 50, minTimeout: 10, maxTimeout: 20 } });
  setTimeout(() => release(), 50);
  const second = await waiting;
  await second();
  await rejectsWith(plf.unlock(f, { lockfilePath: custom }), { code: 'ENOTACQUIRED' });
});

test('stale directories: reclaimed when old; fresh ones honoured; a dead migrated holder at once', async (t) => {
  const f = file(t);
  const dir = `${f}.lock`;
  fs.mkdirSync(dir); // as an unmigrated process that holds it
  await rejectsWith(plf.lock(f), { code: 'ELOCKED' });
  const old = new Date(Date.now() - 20_000);
  fs.utimesSync(dir, old, old); // that process died 20 s ago: stale (default 10 s)
  assert.equal(await plf.check(f), false);
  const r = await plf.lock(f);
  await r();
  // A migrated holder that died leaves its marked directory, fresh: taken over at once.
  const child = spawnFixture(t, 'plf-hold.js', [f]);
  await child.next('locked');
  await rejectsWith(plf.lock(f), { code: 'ELOCKED' });
  child.kill('SIGKILL');
  await child.exited();
  assert.ok(fs.existsSync(dir), 'the dead holder left its directory');
  assert.equal(await plf.check(f), false, 'check asks the kernel: the holder is gone');
  const r2 = await plf.lock(f);
  await r2();
});

test('update keeps the directory fresh; a removed directory is reported as ECOMPROMISED', async (t) => {
  const f = file(t);
  let compromised;
  const release = await plf.lock(f, { stale: 2000, update: 1000, onCompromised: (e) => (compromised = e) });
  await new Promise((r) => setTimeout(r, 2600));
  assert.equal(
    await original.check(f, { stale: 2000 }),
    true,
    'mtime not refreshed: proper-lockfile would call it stale',
  );
  fs.rmdirSync(`${f}.lock`);
  const end = Date.now() + 30_000;
  while (!compromised && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  assert.equal(compromised?.code, 'ECOMPROMISED');
  await rejectsWith(release(), { code: 'ERELEASED' });
  assert.equal(await plf.check(f), false);
});

test('migration: unmodified proper-lockfile processes and fslock/proper-lockfile processes never overlap', async (t) => {
  const f = file(t);
  const inside = path.join(path.dirname(f), 'inside');
  fs.mkdirSync(inside);
  const order = path.join(path.dirname(f), 'order');
  const n = stress ? 300 : 40;
  const kids = ['proper-lockfile', 'fslock', 'proper-lockfile', 'fslock'].map((impl) =>
    spawnFixture(t, 'plf-worker.js', [impl, f, inside, order, String(n)]),
  );
  await Promise.all(kids.map((k) => k.next('ready')));
  for (const k of kids) k.send({ type: 'go' });
  const results = await Promise.all(kids.map((k) => k.next('done', 240_000)));
  for (const r of results) assert.equal(r.error, undefined);
  assert.equal(
    results.reduce((s, r) => s + r.overlaps, 0),
    0,
  );
  // The two kinds really contended: the lock passed between them, not one after the other.
  const holders = fs.readFileSync(order, 'utf8').trim().split('\n');
  assert.equal(holders.length, 4 * n);
  const handovers = holders.filter((h, i) => i > 0 && h !== holders[i - 1]).length;
  t.diagnostic(`${handovers} handovers between proper-lockfile and fslock/proper-lockfile`);
  assert.ok(handovers >= 2, `only ${handovers} handovers between the two kinds`);
  assert.deepEqual(fs.readdirSync(path.dirname(f)).sort(), ['data.json', 'inside', 'order']);
});
