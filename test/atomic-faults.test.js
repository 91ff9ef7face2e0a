'use strict';
// Atomic writes on real, small, failing filesystems: a full tmpfs (ENOSPC) and a
// read-only remount (EROFS). The target keeps exactly its old content and no temp file
// is left. Needs mount(2) (root): skipped with the reason where it is not permitted.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { fslock, tmpdir, rejectsWith, throwsWith, openFds } = require('./helpers');

function mountTmpfs(t, sizeKb) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fslock-mnt-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k`, 'fslock-test', dir], { stdio: 'pipe' });
  } catch (e) {
    fs.rmdirSync(dir);
    return { skip: `cannot mount tmpfs here: ${String(e.stderr || e.message).trim()}` };
  }
  t.after(() => {
    execFileSync('umount', ['-l', dir]);
    fs.rmdirSync(dir);
  });
  return { dir };
}

const entries = (dir) => fs.readdirSync(dir).sort();

test('ENOSPC on a full tmpfs: error, old content kept, no temp file, no fd leaked', async (t) => {
  const m = mountTmpfs(t, 256);
  if (m.skip) return t.skip(m.skip);
  const p = path.join(m.dir, 'target');
  const old = Buffer.alloc(64 << 10, 'o');
  fslock.writeFileAtomicSync(p, old);
  const before = openFds();
  const big = Buffer.alloc(512 << 10, 'n');
  await rejectsWith(fslock.writeFileAtomic(p, big), { code: 'ENOSPC', path: p });
  throwsWith(() => fslock.writeFileAtomicSync(p, big, { fsync: false }), { code: 'ENOSPC', path: p });
  await rejectsWith(fslock.writeFileAtomic(p, [big.subarray(0, 100 << 10), big]), { code: 'ENOSPC' });
  await rejectsWith(fslock.createExclusive(path.join(m.dir, 'new'), big), { code: 'ENOSPC' });
  throwsWith(() => fslock.createUniqueSync(m.dir, (n) => `u${n}`, big), { code: 'ENOSPC' });
  await rejectsWith(fslock.update(p, () => big), { code: 'ENOSPC' });
  assert.ok(fs.readFileSync(p).equals(old), 'target changed');
  assert.deepEqual(entries(m.dir), ['target']);
  assert.equal(openFds(), before);
  // Space freed: the same write now succeeds.
  fslock.writeFileAtomicSync(p, big.subarray(0, 128 << 10));
  assert.equal(fs.statSync(p).size, 128 << 10);
});

test('EROFS after a read-only remount: error, old content kept', async (t) => {
  const m = mountTmpfs(t, 256);
  if (m.skip) return t.skip(m.skip);
  const p = path.join(m.dir, 'target');
  fslock.writeFileAtomicSync(p, 'old');
  execFileSync('mount', ['-o', 'remount,ro', m.dir]);
  await rejectsWith(fslock.writeFileAtomic(p, 'new'), { code: 'EROFS', path: p });
  throwsWith(() => fslock.writeFileAtomicSync(p, 'new'), { code: 'EROFS' });
  await rejectsWith(fslock.createExclusive(path.join(m.dir, 'x'), 'new'), { code: 'EROFS' });
  await rejectsWith(fslock.moveAtomic(p, path.join(m.dir, 'moved'), { overwrite: false }), { code: 'EROFS' });
  assert.equal(fs.readFileSync(p, 'utf8'), 'old');
  assert.deepEqual(entries(m.dir), ['target']);
});

test('moveAtomic across filesystems: EXDEV, both sides untouched', async (t) => {
  const m = mountTmpfs(t, 64);
  if (m.skip) return t.skip(m.skip);
  const other = tmpdir(t);
  const from = path.join(other, 'f');
  fs.writeFileSync(from, 'data');
  await rejectsWith(fslock.moveAtomic(from, path.join(m.dir, 'f')), { code: 'EXDEV' });
  throwsWith(() => fslock.moveAtomicSync(from, path.join(m.dir, 'f'), { overwrite: false }), { code: 'EXDEV' });
  assert.equal(fs.readFileSync(from, 'utf8'), 'data');
  assert.deepEqual(entries(m.dir), []);
});
