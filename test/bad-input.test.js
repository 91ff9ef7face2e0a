'use strict';
// Bad input: each a Node-style error with the right code, and nothing touched.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { fslock, native, tmpdir, rejectsWith, throwsWith } = require('./helpers');

const TYPE = { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' };
const VALUE = { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' };
const RANGE = { name: 'RangeError', code: 'ERR_INVALID_ARG_VALUE' };

test(`lock arguments (${fslock.backend})`, async (t) => {
  const file = path.join(tmpdir(t), 'ok.lock');
  for (const bad of [123, null, undefined, {}, true]) {
    await rejectsWith(fslock.lock(bad), TYPE);
    throwsWith(() => fslock.lockSync(bad), TYPE);
    await rejectsWith(fslock.isLocked(bad), TYPE);
  }
  await rejectsWith(fslock.lock('a\0b.lock'), VALUE);
  await rejectsWith(fslock.lock(''), VALUE);
  await rejectsWith(fslock.lock(new URL('http://example.com/x')), VALUE);
  await rejectsWith(fslock.lock(file, 'shared'), TYPE);
  await rejectsWith(fslock.lock(file, { shared: 'yes' }), TYPE);
  await rejectsWith(fslock.lock(file, { wait: 0 }), TYPE);
  await rejectsWith(fslock.lock(file, { timeout: '5' }), TYPE);
  await rejectsWith(fslock.lock(file, { timeout: -1 }), RANGE);
  await rejectsWith(fslock.lock(file, { timeout: NaN }), RANGE);
  await rejectsWith(fslock.lock(file, { signal: {} }), TYPE);
  throwsWith(() => fslock.lockSync(file, { signal: new AbortController().signal }), VALUE);
  await rejectsWith(fslock.withLock(file, 'not a function'), TYPE);
  assert.equal(fs.existsSync(file), false, 'no argument error created the lock file');
  // Buffers and file: URLs are paths too.
  const viaUrl = await fslock.lock(require('node:url').pathToFileURL(file));
  assert.equal(viaUrl.path, file);
  await viaUrl.release();
});

test(`lock path errors: directory, missing parent, read-only dir (${fslock.backend})`, async (t) => {
  const dir = tmpdir(t);
  const sub = path.join(dir, 'sub');
  fs.mkdirSync(sub);
  fs.writeFileSync(path.join(sub, 'keep'), 'x');
  if (!native) {
    // No kernel lock to take: a directory cannot be locked by the fallback backend.
    await rejectsWith(fslock.lock(sub), { code: 'ENOTSUP', path: sub });
    throwsWith(() => fslock.lockSync(sub), { code: 'ENOTSUP' });
  } else if (process.platform === 'win32') {
    const e = await rejectsWith(fslock.lock(sub), { code: 'EISDIR', path: sub });
    assert.match(e.message, /^EISDIR: /);
    throwsWith(() => fslock.lockSync(sub), { code: 'EISDIR' });
  } else {
    // A directory is locked as itself, as flock(1) does (test/interop.test.js).
    const l = await fslock.lock(sub);
    throwsWith(() => fslock.lockSync(sub, { wait: false }), { code: 'ELOCKED', path: sub });
    await l.release();
  }
  assert.deepEqual(fs.readdirSync(sub), ['keep'], 'the directory is untouched');
  const missing = path.join(dir, 'no', 'such', 'x.lock');
  await rejectsWith(fslock.lock(missing), { code: 'ENOENT', path: missing });
  throwsWith(() => fslock.lockSync(missing), { code: 'ENOENT' });
  assert.equal(await fslock.isLocked(missing), false);
  if (process.getuid && process.getuid() !== 0) {
    const ro = path.join(dir, 'ro');
    fs.mkdirSync(ro, 0o555);
    await rejectsWith(fslock.lock(path.join(ro, 'x.lock')), { code: 'EACCES' });
  } else {
    t.diagnostic('running as root: permission checks do not apply, EACCES case not exercised');
  }
});

test(`descriptor lock arguments (${fslock.backend})`, async (t) => {
  const file = path.join(tmpdir(t), 'data');
  fs.writeFileSync(file, 'abc');
  const fd = fs.openSync(file, 'r+');
  t.after(() => fs.closeSync(fd));
  await rejectsWith(fslock.flock('3', 'exclusive'), TYPE);
  await rejectsWith(fslock.flock(-1, 'exclusive'), RANGE);
  await rejectsWith(fslock.flock(1.5, 'exclusive'), RANGE);
  await rejectsWith(fslock.flock(fd, 'exclusve'), VALUE);
  throwsWith(() => fslock.flockSync(fd, undefined), VALUE);
  await rejectsWith(fslock.flock(fd, 'shared', { timeout: -5 }), RANGE);
  await rejectsWith(fslock.lockRange(fd), VALUE);
  await rejectsWith(fslock.lockRange(fd, { start: -1, length: 1 }), RANGE);
  await rejectsWith(fslock.lockRange(fd, { start: 0, length: 1.5 }), RANGE);
  await rejectsWith(fslock.lockRange(fd, { start: '0', length: 1 }), TYPE);
  throwsWith(() => fslock.unlockRangeSync(fd, { start: 0 }), TYPE);
  if (native) {
    // A closed descriptor: the OS's EBADF, Node-style.
    const closed = fs.openSync(file, 'r');
    fs.closeSync(closed);
    const e = await rejectsWith(fslock.flock(closed, 'exclusive'), { code: 'EBADF', syscall: 'flock' });
    assert.equal(typeof e.errno, 'number');
    throwsWith(() => fslock.flockSync(closed, 'shared'), { code: 'EBADF' });
    throwsWith(() => fslock.lockRangeSync(closed, { start: 0, length: 1 }), { code: 'EBADF', syscall: 'fcntl' });
    await rejectsWith(fslock.flock(99999, 'exclusive'), { code: 'EBADF' });
  }
  assert.equal(fs.readFileSync(file, 'utf8'), 'abc');
});
