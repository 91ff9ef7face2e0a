'use strict';
// Behaviours that Windows makes hard and that fslock promises everywhere (written for
// the Wine run of scripts/test-windows.js, and run on every platform): a replace while
// readers hold the target open, and whole-file locks that do not lock the file's bytes.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { fslock, native, tmpdir, rejectsWith } = require('./helpers');

// scripts/test-windows.js runs the Windows node.exe under Wine with WINEPREFIX set.
const underWine = process.platform === 'win32' && process.env.WINEPREFIX !== undefined;

test('platform and backend of this run', (t) => {
  t.diagnostic(`${process.platform}-${process.arch} node ${process.version}, backend ${fslock.backend}`);
  assert.ok(['native', 'fallback'].includes(fslock.backend));
});

test('writeFileAtomic replaces a target that other handles hold open', async (t) => {
  const dir = tmpdir(t);
  const p = path.join(dir, 'held.json');
  fs.writeFileSync(p, 'old content');
  const readers = [fs.openSync(p, 'r'), fs.openSync(p, 'r+')];
  try {
    if (underWine) {
      // Wine refuses to replace a file that has open handles, also with the POSIX-
      // semantics rename (Windows 10 1809+ on NTFS allows it): fslock retries for up to
      // 10 s. A write started while they are open lands once they close...
      const write = fslock.writeFileAtomic(p, 'new content');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(fs.readFileSync(p, 'utf8'), 'old content');
      readers.splice(0).forEach((fd) => fs.closeSync(fd));
      await write;
      assert.equal(fs.readFileSync(p, 'utf8'), 'new content');
      // ...and one that outlasts the bound fails cleanly: old content, no temp file.
      readers.push(fs.openSync(p, 'r'));
      const t0 = Date.now();
      assert.throws(() => fslock.writeFileAtomicSync(p, 'newer content'), { code: 'EPERM', syscall: 'rename' });
      t.diagnostic(`gave up after ${Date.now() - t0} ms`);
      assert.equal(fs.readFileSync(p, 'utf8'), 'new content');
      assert.deepEqual(fs.readdirSync(dir), ['held.json']);
      return;
    }
    await fslock.writeFileAtomic(p, 'new content');
    fslock.writeFileAtomicSync(p, 'newer content');
    assert.equal(fs.readFileSync(p, 'utf8'), 'newer content');
    // The open handles still read the file they opened, whole.
    const buf = Buffer.alloc(64);
    const n = fs.readSync(readers[0], buf, 0, 64, 0);
    assert.equal(buf.toString('utf8', 0, n), 'old content');
  } finally {
    readers.forEach((fd) => fs.closeSync(fd));
  }
  assert.deepEqual(fs.readdirSync(dir), ['held.json']);
});

test('a read-only target: EPERM at once on Windows (not after the retries for scanners), replaced on POSIX and Wine', async (t) => {
  const dir = tmpdir(t);
  const p = path.join(dir, 'ro.json');
  fs.writeFileSync(p, 'old content');
  fs.chmodSync(p, 0o444); // Windows: the read-only attribute (fs.rm of the test dir clears it)
  if (process.platform !== 'win32' || underWine) {
    // POSIX: replacing is the directory's permission, not the file's (rename(2)); the
    // new file keeps the old one's mode, as every replace does. Wine's MoveFileExW also
    // replaces a read-only file, so the Windows branch below is not verified here
    // (README: Windows).
    await fslock.writeFileAtomic(p, 'new');
    assert.equal(fs.readFileSync(p, 'utf8'), 'new');
    if (!underWine) assert.equal(fs.statSync(p).mode & 0o777, 0o444);
    return;
  }
  for (const write of [() => fslock.writeFileAtomic(p, 'new'), async () => fslock.writeFileAtomicSync(p, 'new')]) {
    const t0 = Date.now();
    await rejectsWith(write(), { code: 'EPERM', syscall: 'rename', path: p });
    // Not a timing measurement: a retried denial would take the whole 10 s bound.
    assert.ok(Date.now() - t0 < 5000, `gave up only after ${Date.now() - t0} ms: retried a permanent denial`);
  }
  assert.equal(fs.readFileSync(p, 'utf8'), 'old content');
  assert.deepEqual(fs.readdirSync(dir), ['ro.json']);
});

test(
  'a whole-file lock does not block reading or writing the bytes through another fd',
  { skip: !native && 'descriptor locks need the native backend' },
  (t) => {
    const dir = tmpdir(t);
    const p = path.join(dir, 'data');
    fs.writeFileSync(p, 'abcdef');
    const a = fs.openSync(p, 'r+');
    const b = fs.openSync(p, 'r+');
    try {
      // Windows: LockFileEx is mandatory on the region it covers, so flock() locks a byte
      // far past any data; the file's bytes stay readable and writable by everyone.
      fslock.flockSync(a, 'exclusive');
      fs.writeSync(b, Buffer.from('XY'), 0, 2, 2);
      const buf = Buffer.alloc(6);
      fs.readSync(b, buf, 0, 6, 0);
      assert.equal(buf.toString(), 'abXYef');
      assert.throws(() => fslock.flockSync(b, 'shared', { wait: false }), { code: 'ELOCKED' });
      fslock.flockSync(a, 'unlock');
      fslock.flockSync(b, 'shared', { wait: false });
    } finally {
      fs.closeSync(a);
      fs.closeSync(b);
    }
  },
);

test('a lock file removed by its releaser while others wait is re-created, never shared', async (t) => {
  const dir = tmpdir(t);
  const p = path.join(dir, 'x.lock');
  const first = await fslock.lock(p, { keep: false });
  let inside = 0;
  let max = 0;
  const waiters = Array.from({ length: 8 }, async () => {
    const l = await fslock.lock(p, { keep: false });
    inside++;
    max = Math.max(max, inside);
    await new Promise((r) => setImmediate(r));
    inside--;
    await l.release();
  });
  await new Promise((r) => setTimeout(r, 20));
  await first.release();
  await Promise.all(waiters);
  assert.equal(max, 1);
  assert.deepEqual(fs.readdirSync(dir), []);
});
