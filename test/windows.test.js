'use strict';
// Behaviours that Windows makes hard and that fslock promises everywhere (written for
// the Wine run of scripts/test-windows.js, and run on every platform): a replace while
// readers hold the target open, and whole-file locks that do not lock the file's bytes.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { fslock, native, tmpdir, rejectsWith, throwsWith, within } = require('./helpers');

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

// ---- Windows names and errors (issue 22) ---------------------------------------------

const win32 = process.platform === 'win32';
const winOnly = !win32 && 'Windows only (npm run test:windows runs it under Wine)';
const nativeWin = winOnly || (!native && 'the fallback backend locks through node:fs (no device or sharing checks)');

test('Win32 error codes carry the names libuv gives them, the Windows number in the message', () => {
  // The table is plain data, checked on every platform against libuv's
  // uv_translate_sys_error (src/win/error.c) for the codes fslock's calls meet.
  const { win32ErrorName } = require('../dist/cjs/native/win32-errors');
  const expect = {
    1: 'EISDIR',
    2: 'ENOENT',
    5: 'EPERM',
    6: 'EBADF',
    31: 'EIO',
    32: 'EBUSY',
    33: 'EBUSY',
    64: 'ECONNRESET',
    80: 'EEXIST',
    87: 'EINVAL',
    206: 'ENAMETOOLONG',
    267: 'ENOENT',
    1314: 'EPERM',
    1921: 'ELOOP',
    66: 'UNKNOWN', // ERROR_BAD_DEV_TYPE: libuv has no name for it
  };
  for (const [n, code] of Object.entries(expect)) {
    const named = win32ErrorName(-Number(n));
    assert.equal(named.code, code, `Windows error ${n}`);
    assert.match(named.detail, new RegExp(`\\(Windows error ${n}\\)$`));
  }
  // fslock's own results (bit 29: never an OS code) say what they mean, without a number.
  assert.deepEqual(
    [0x20000001, 0x20000002, 0x20000003].map((n) => win32ErrorName(-n).code),
    ['EISDIR', 'EINVAL', 'EDEADLK'],
  );
  assert.doesNotMatch(win32ErrorName(-0x20000001).detail, /Windows error/);
});

test('a directory: EISDIR at once, saying that Windows cannot lock directories', { skip: nativeWin }, async (t) => {
  const dir = tmpdir(t);
  const want = { code: 'EISDIR', syscall: 'open', path: dir };
  const e = throwsWith(() => fslock.lockSync(dir), want);
  assert.match(e.message, /directories cannot be locked on Windows/);
  await rejectsWith(fslock.lock(dir, { timeout: 5000 }), want);
  await rejectsWith(fslock.isLocked(dir), want);
  // The command says the same (issue 22: it said "EIO (Windows error 31)").
  const r = require('node:child_process').spawnSync(
    process.execPath,
    [path.join(__dirname, '..', 'bin', 'fslock.js'), '-H', dir],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /EISDIR: directories cannot be locked on Windows/);
  assert.deepEqual(fs.readdirSync(dir), []);
});

test(
  'device names (CON, NUL, COM1, AUX.txt, nul.lock, \\\\.\\NUL) are refused as not a regular file',
  { skip: nativeWin },
  async (t) => {
    const dir = tmpdir(t);
    for (const name of ['CON', 'NUL', 'COM1', 'AUX.txt', 'nul.lock', 'lpt3.x.lock', '\\\\.\\NUL']) {
      const p = name.startsWith('\\') ? name : path.join(dir, name);
      const want = { code: 'EINVAL', syscall: 'open' };
      const e = throwsWith(() => fslock.lockSync(p, { wait: false }), want);
      assert.match(e.message, /not a regular file \(a Windows device name/, name);
      await rejectsWith(fslock.lock(p, { timeout: 5000 }), want);
      await rejectsWith(fslock.isLocked(p), want);
    }
    assert.deepEqual(fs.readdirSync(dir), []);
    // A name that merely starts like one is a file.
    const l = fslock.lockSync(path.join(dir, 'COM10.lock'));
    l.releaseSync();
  },
);

/**
 * Symbolic links a lock path must refuse at once and leave alone: a dangling one and a
 * loop. Wine cannot create them (its CreateSymbolicLinkW fails): scripts/test-windows.js
 * makes them on the Linux side and checks after the run that they are unchanged.
 */
function badLinks(t) {
  if (process.env.FSLOCK_WIN32_LINKS) return process.env.FSLOCK_WIN32_LINKS;
  if (underWine) assert.fail('FSLOCK_WIN32_LINKS is missing: run the Windows tests with npm run test:windows');
  const dir = tmpdir(t);
  try {
    fs.symlinkSync(path.join(dir, 'nowhere'), path.join(dir, 'dangling.lock'), 'file');
    fs.symlinkSync(path.join(dir, 'loop2'), path.join(dir, 'loop1'), 'file');
    fs.symlinkSync(path.join(dir, 'loop1'), path.join(dir, 'loop2'), 'file');
  } catch (e) {
    if (win32 && e.code === 'EPERM') return undefined; // Windows without the symlink privilege
    throw e;
  }
  return dir;
}

test(
  'a dangling symbolic link or a link loop: ELOOP at once, whatever the wait, link untouched',
  { timeout: 120_000 },
  async (t) => {
    const dir = badLinks(t);
    if (!dir) return t.skip('creating symbolic links needs Developer Mode or the privilege');
    for (const name of ['dangling.lock', 'loop1']) {
      const p = path.join(dir, name);
      // Issue 22: under Wine the dangling link made wait:false spin for over 60 s and a
      // 2 s timeout for over 35 s (the name opens as missing and creates as existing).
      throwsWith(() => fslock.lockSync(p, { wait: false }), { code: 'ELOOP' });
      throwsWith(() => fslock.lockSync(p, { timeout: 2000 }), { code: 'ELOOP' });
      await rejectsWith(fslock.lock(p, { timeout: 2000 }), { code: 'ELOOP' });
      await rejectsWith(fslock.lock(p, { signal: AbortSignal.timeout(2000) }), { code: 'ELOOP' });
      if (!underWine) assert.ok(fs.lstatSync(p).isSymbolicLink(), `${name} is still the link`);
    }
  },
);

test(
  'a lock file another program holds open without sharing it: a wait, bounded by wait, timeout and signal',
  { skip: nativeWin },
  async (t) => {
    const dir = tmpdir(t);
    const p = path.join(dir, 'scanned.lock');
    fs.writeFileSync(p, '');
    // UV_FS_O_EXLOCK (libuv's uv/win.h; node does not export it): share mode 0, as a
    // scanner, backup or indexer may open a file.
    let fd = fs.openSync(p, fs.constants.O_RDONLY | 0x10000000);
    t.after(() => fd !== undefined && fs.closeSync(fd));
    const e = throwsWith(() => fslock.lockSync(p, { wait: false }), { code: 'ELOCKED' });
    assert.match(e.message, /open without sharing it/);
    throwsWith(() => fslock.lockSync(p, { timeout: 300 }), { code: 'ETIMEDOUT' });
    await rejectsWith(fslock.lock(p, { wait: false }), { code: 'ELOCKED' });
    await rejectsWith(fslock.lock(p, { timeout: 300 }), { code: 'ETIMEDOUT' });
    await rejectsWith(fslock.lock(p, { signal: AbortSignal.timeout(300) }), { name: 'TimeoutError' });
    assert.equal(await fslock.isLocked(p), true, 'isLocked sees that no lock can be taken now');
    // The wait ends when the program closes the file.
    const waiting = fslock.lock(p, { timeout: 60_000 });
    setTimeout(() => {
      fs.closeSync(fd);
      fd = undefined;
    }, 200);
    const l = await within(waiting);
    assert.equal(await fslock.isLocked(p), true);
    await l.release();
    assert.equal(await fslock.isLocked(p), false);
  },
);

test('one file under several names has one identity (os::Stat: volume serial + file id)', { skip: winOnly }, (t) => {
  const driver = process.env.FSLOCK_WIN32_OSLAYER;
  if (!driver) {
    if (underWine) assert.fail('FSLOCK_WIN32_OSLAYER is missing: run with npm run test:windows');
    return t.skip('the OS-layer driver is built by npm run test:windows (mingw-w64)');
  }
  const dir = tmpdir(t);
  const p = path.join(dir, 'Case2.lock');
  fs.writeFileSync(p, '');
  fs.linkSync(p, path.join(dir, 'hard.lock'));
  fs.writeFileSync(path.join(dir, 'other.lock'), '');
  const stat = (...names) => {
    const out = require('node:child_process').execFileSync(driver, ['stat', ...names], { encoding: 'utf8' });
    return out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
  };
  const short = require('node:child_process').execFileSync(driver, ['short', p], { encoding: 'utf8' }).trim();
  t.diagnostic(`short name: ${short}`);
  const aliases = [p, path.join(dir, 'CASE2.LOCK'), `${p}.`, `\\\\?\\${p}`, path.join(dir, 'hard.lock')];
  if (short && short !== p) aliases.push(short);
  const ids = stat(...aliases, path.join(dir, 'other.lock'));
  const other = ids.pop();
  const node = fs.statSync(p, { bigint: true });
  for (const [i, r] of ids.entries()) {
    for (const how of ['open', 'name']) {
      assert.equal(r[how].error, undefined, `${aliases[i]} (${how}): Windows error ${r[how].error}`);
      // The identity node:fs reports too (its 64-bit index; the high half is 0 off ReFS).
      assert.deepEqual(
        [r[how].dev, r[how].ino, r[how].inoHigh],
        [Number(node.dev), String(node.ino), '0'],
        `${aliases[i]} (${how})`,
      );
    }
  }
  assert.notEqual(other.open.ino, ids[0].open.ino, 'another file, another identity');
});
