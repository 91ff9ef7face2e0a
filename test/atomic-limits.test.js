'use strict';
// The limits of the OS, not of a backend: writes past 2 GiB (node:fs takes at most
// 2^31 - 1 bytes per call: the fallback writes in pieces), and names up to NAME_MAX
// (255 bytes) for update() and the proper-lockfile drop-in, whose lock names are
// derived from them (shortened when `.lock` would not fit). Both backends.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const properLockfile = require('proper-lockfile');
const plf = require('fslock/proper-lockfile');
const { execFileSync } = require('node:child_process');
const { fslock, tmpdir, spawnFixture, stress, rejectsWith, throwsWith } = require('./helpers');
const wfa = require('fslock/write-file-atomic');

const BIG = 2 ** 31 + 4099; // past what one node:fs write call takes

/** Size and a few bytes at both ends and across the 2 GiB boundary, read through a descriptor. */
function probe(p) {
  const fd = fs.openSync(p, 'r');
  try {
    const at = (pos) => {
      const b = Buffer.alloc(4);
      fs.readSync(fd, b, 0, 4, pos);
      return b.toString('hex');
    };
    return { size: fs.fstatSync(fd).size, head: at(0), edge: at(2 ** 31 - 2), tail: at(BIG - 4) };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Where the 2 GiB file goes: tmpfs when it has room (no disk writeback competing with
 * the rest of the suite), else the temp directory. Skipped, with the reason, where the
 * machine has not the memory for the buffer and the file.
 */
function bigPlace(t) {
  if (os.freemem() < 6 * 2 ** 30)
    return { skip: `needs 6 GiB of free memory (${(os.freemem() / 2 ** 30).toFixed(1)} free)` };
  try {
    if (fs.statfsSync('/dev/shm').bavail * fs.statfsSync('/dev/shm').bsize > 3 * 2 ** 30) {
      const dir = fs.mkdtempSync('/dev/shm/fslock-test-');
      t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
      return { dir };
    }
  } catch {
    // no /dev/shm
  }
  return { dir: tmpdir(t) };
}

// The round trip writes 4 GiB into tmpfs: 60-90 s per backend on this 2-core machine
// under load (19 s of system time each), too long for every run. Every run drives views
// past 2 GiB through the same pieces onto a small full tmpfs instead (the next test).
test(
  'writes past 2 GiB, sync and promise forms (node:fs takes 2^31 - 1 bytes per call)',
  { timeout: 600_000, skip: !stress && 'writes 4 GiB into tmpfs: FSLOCK_STRESS=1 (npm run stress)' },
  async (t) => {
    const { skip, dir } = bigPlace(t);
    if (skip) return t.skip(skip);
    // Untouched memory but for the marks: the write reads zero pages, nothing is filled.
    const data = Buffer.allocUnsafeSlow(BIG);
    for (const [i, at] of [0, 2 ** 31 - 2, BIG - 4].entries()) data.writeUInt32BE(0xa0b0c0d0 + i, at);
    const expected = { size: BIG, head: 'a0b0c0d0', edge: 'a0b0c0d1', tail: 'a0b0c0d2' };
    const p = path.join(dir, 'big');
    fslock.writeFileAtomicSync(p, data, { fsync: false });
    assert.deepEqual(probe(p), expected, 'writeFileAtomicSync');
    fs.rmSync(p);
    await fslock.writeFileAtomic(p, data, { fsync: false });
    assert.deepEqual(probe(p), expected, 'writeFileAtomic');
    fs.rmSync(p);
    assert.deepEqual(fs.readdirSync(dir), []);
  },
);

test('a view past 2 GiB onto a full filesystem: ENOSPC naming the target, in every form', async (t) => {
  // 16 MiB of tmpfs: each write goes through the pieces (the first one already past
  // what the filesystem holds) and fails as a full disk, not ERR_OUT_OF_RANGE without
  // a path (the fallback on main). Untouched pages: the view costs no memory.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fslock-mnt-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'fslock-test', dir], { stdio: 'pipe' });
  } catch (e) {
    fs.rmdirSync(dir);
    return t.skip(`cannot mount tmpfs here: ${String(e.stderr || e.message).trim()}`);
  }
  t.after(() => {
    execFileSync('umount', ['-l', dir]);
    fs.rmdirSync(dir);
  });
  const data = Buffer.allocUnsafeSlow(BIG);
  const p = path.join(dir, 'target');
  fs.writeFileSync(p, 'old');
  const fresh = path.join(dir, 'fresh');
  const forms = [
    ['writeFileAtomic', () => fslock.writeFileAtomic(p, data), p],
    ['writeFileAtomicSync', async () => fslock.writeFileAtomicSync(p, data, { fsync: false }), p],
    ['writeFileAtomic(chunks)', () => fslock.writeFileAtomic(p, [data.subarray(0, 10), data]), p],
    ['createExclusive', () => fslock.createExclusive(fresh, data), fresh],
    ['createExclusiveSync', async () => fslock.createExclusiveSync(fresh, data), fresh],
    ['update', () => fslock.update(p, () => data), p],
    ['write-file-atomic', () => wfa(p, data), p],
    ['write-file-atomic .sync', async () => wfa.sync(p, data), p],
  ];
  for (const [name, write, target] of forms) {
    const e = await rejectsWith(write(), { code: 'ENOSPC', path: target }).catch((err) => {
      throw new Error(`${name}: ${err.message}`);
    });
    assert.equal(typeof e.syscall, 'string', name);
    assert.equal(fs.readFileSync(p, 'utf8'), 'old', name);
  }
  throwsWith(() => fslock.writeFileAtomicSync(p, data), { code: 'ENOSPC', path: p });
  assert.deepEqual(
    fs.readdirSync(dir).filter((n) => n !== 'target.lock'),
    ['target'],
  );
});

test('update() on names of 251-255 bytes: the lock name is shortened to fit', async (t) => {
  const dir = tmpdir(t);
  for (const n of [250, 251, 255]) {
    const p = path.join(dir, 'u'.repeat(n));
    await fslock.update(p, (cur) => String(Number(cur ?? 0) + 1));
    await fslock.update(p, (cur) => String(Number(cur ?? 0) + 1));
    assert.equal(fs.readFileSync(p, 'utf8'), '2', `${n} bytes`);
  }
  // Multi-byte names are cut between characters.
  const wide = path.join(dir, 'é'.repeat(127)); // 254 bytes
  await fslock.update(wide, () => 'wide');
  assert.equal(fs.readFileSync(wide, 'utf8'), 'wide');
  for (const name of fs.readdirSync(dir)) assert.ok(Buffer.byteLength(name) <= 255, name);
});

test('update() with a shortened lock name still excludes: concurrent increments, none lost', async (t) => {
  const p = path.join(tmpdir(t), 'c'.repeat(253));
  await Promise.all(Array.from({ length: 20 }, () => fslock.update(p, (cur) => String(Number(cur ?? 0) + 1))));
  assert.equal(fs.readFileSync(p, 'utf8'), '20');
});

test('proper-lockfile drop-in on names proper-lockfile itself takes (up to 250 bytes)', async (t) => {
  const dir = tmpdir(t);
  for (const n of [243, 244, 249, 250]) {
    const file = path.join(dir, 'p'.repeat(n));
    fs.writeFileSync(file, '');
    // The original takes the name: `<file>.lock` fits.
    const releaseOriginal = await properLockfile.lock(file);
    await releaseOriginal();
    const release = await plf.lock(file);
    assert.equal(await plf.check(file), true, `${n} bytes`);
    // Held against the original too (its lock directory), and exclusive among drop-ins.
    await assert.rejects(properLockfile.lock(file), { code: 'ELOCKED' });
    assert.throws(() => plf.lockSync(file), { code: 'ELOCKED' });
    await release();
    const releaseSync = plf.lockSync(file);
    releaseSync();
  }
  for (const name of fs.readdirSync(dir)) assert.ok(Buffer.byteLength(name) <= 255, name);
});

test('path locks named 232-255 bytes: taken in both backends, and a native and a fallback process exclude each other', async (t) => {
  const dir = tmpdir(t);
  const other = fslock.backend === 'native' ? 'fallback' : 'native';
  for (const n of [232, 247, 255]) {
    const p = path.join(dir, 'l'.repeat(n));
    const l = await fslock.lock(p);
    const child = spawnFixture(t, 'holder.js', [p, 'exclusive', '0'], { env: { FSLOCK_BACKEND: other } });
    assert.equal((await child.next('started')).backend, other);
    const m = await child.next('failed');
    assert.equal(m.code, 'ETIMEDOUT', `${n} bytes: the ${other} process is kept out`);
    await child.exited();
    await l.release();
    const holder = spawnFixture(t, 'holder.js', [p], { env: { FSLOCK_BACKEND: other } });
    await holder.next('granted');
    await assert.rejects(
      fslock.lock(p, { wait: false }),
      { code: 'ELOCKED' },
      `${n} bytes: held by the ${other} process`,
    );
    holder.kill('SIGKILL');
    await holder.exited();
  }
  for (const name of fs.readdirSync(dir)) assert.ok(Buffer.byteLength(name) <= 255, name);
});
