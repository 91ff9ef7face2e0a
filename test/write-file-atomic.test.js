'use strict';
// fslock/write-file-atomic, black-box against write-file-atomic's documented API:
// promise, callback and .sync; chown, mode, encoding, fsync, tmpfileCreated.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const writeFileAtomic = require('fslock/write-file-atomic');
const { tmpdir, rejectsWith, throwsWith } = require('./helpers');

const read = (p) => fs.readFileSync(p, 'utf8');

test('promise, callback and sync forms; encoding as options or string', async (t) => {
  const dir = tmpdir(t);
  const p = path.join(dir, 'f');
  assert.equal(typeof writeFileAtomic, 'function');
  const ret = writeFileAtomic(p, 'promise');
  assert.ok(ret instanceof Promise);
  await ret;
  assert.equal(read(p), 'promise');
  await new Promise((resolve, reject) => {
    const r = writeFileAtomic(p, 'callback', (err) => (err ? reject(err) : resolve()));
    assert.equal(r, undefined, 'with a callback nothing is returned');
  });
  assert.equal(read(p), 'callback');
  await new Promise((resolve) => writeFileAtomic(p, 'cb+opts', { fsync: false }, resolve));
  assert.equal(read(p), 'cb+opts');
  writeFileAtomic.sync(p, 'sync');
  assert.equal(read(p), 'sync');
  writeFileAtomic.sync(p, 'é', 'latin1');
  assert.deepEqual(fs.readFileSync(p), Buffer.from([0xe9]));
  await writeFileAtomic(p, 'é', { encoding: 'latin1' });
  assert.deepEqual(fs.readFileSync(p), Buffer.from([0xe9]));
  await writeFileAtomic(p, Buffer.from('buffer'));
  assert.equal(read(p), 'buffer');
  assert.deepEqual(fs.readdirSync(dir), ['f']);
});

test('mode, chown and tmpfileCreated', async (t) => {
  const dir = tmpdir(t);
  const p = path.join(dir, 'm');
  fs.writeFileSync(p, 'x');
  fs.chmodSync(p, 0o640);
  await writeFileAtomic(p, 'kept mode');
  assert.equal(fs.statSync(p).mode & 0o777, 0o640);
  writeFileAtomic.sync(p, 'set mode', { mode: 0o600 });
  assert.equal(fs.statSync(p).mode & 0o777, 0o600);
  const seen = [];
  await writeFileAtomic(p, 'hooked', {
    tmpfileCreated: async (tmp) => {
      seen.push([tmp, fs.existsSync(tmp)]);
    },
  });
  writeFileAtomic.sync(p, 'hooked sync', { tmpfileCreated: (tmp) => seen.push([tmp, fs.existsSync(tmp)]) });
  assert.equal(seen.length, 2);
  for (const [tmp, existed] of seen) {
    assert.equal(path.dirname(tmp), dir, 'the temp file is beside the target');
    assert.ok(existed, 'tmpfileCreated is called once the temp file exists');
    assert.ok(!fs.existsSync(tmp), 'the temp file is gone afterwards');
  }
  if (process.getuid() === 0) {
    await writeFileAtomic(p, 'owned', { chown: { uid: 1234, gid: 1235 } });
    assert.deepEqual([fs.statSync(p).uid, fs.statSync(p).gid], [1234, 1235]);
    writeFileAtomic.sync(p, 'still owned'); // no chown: the existing owner stays
    assert.deepEqual([fs.statSync(p).uid, fs.statSync(p).gid], [1234, 1235]);
  } else {
    t.diagnostic('not root: chown not exercised');
  }
  // A throwing tmpfileCreated fails the write, which leaves nothing behind.
  await rejectsWith(writeFileAtomic(p, 'no', { tmpfileCreated: () => { throw Object.assign(new Error('veto'), { code: 'EVETO' }); } }), { code: 'EVETO' });
  assert.equal(read(p), 'still owned');
  assert.deepEqual(fs.readdirSync(dir), ['m']);
});

test('writes to one file from one process land in call order', async (t) => {
  const p = path.join(tmpdir(t), 'order');
  await Promise.all(Array.from({ length: 30 }, (_, i) => writeFileAtomic(p, String(i), { fsync: false })));
  assert.equal(read(p), '29');
});

test('through a symlink: the link stays, its target is replaced', async (t) => {
  const dir = tmpdir(t);
  fs.writeFileSync(path.join(dir, 'real'), 'old');
  fs.symlinkSync(path.join(dir, 'real'), path.join(dir, 'link'));
  await writeFileAtomic(path.join(dir, 'link'), 'new');
  assert.ok(fs.lstatSync(path.join(dir, 'link')).isSymbolicLink());
  assert.equal(read(path.join(dir, 'real')), 'new');
});

test('errors: fs-style, in the promise, the callback and the throw; target untouched', async (t) => {
  const dir = tmpdir(t);
  fs.mkdirSync(path.join(dir, 'sub'));
  await rejectsWith(writeFileAtomic(path.join(dir, 'sub'), 'x'), { code: 'EISDIR' });
  const err = await new Promise((resolve) => writeFileAtomic(path.join(dir, 'nope', 'f'), 'x', resolve));
  assert.equal(err.code, 'ENOENT');
  throwsWith(() => writeFileAtomic.sync(path.join(dir, 'sub'), 'x'), { code: 'EISDIR' });
  assert.deepEqual(fs.readdirSync(dir), ['sub']);
});
