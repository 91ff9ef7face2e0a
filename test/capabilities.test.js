'use strict';
// capabilities(dir): answers come from probing, scratch files are removed, and the
// backend's limits show (the fallback has no descriptor locks, O_TMPFILE or renameat2).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { fslock, native, tmpdir, rejectsWith } = require('./helpers');

test('capabilities of a local directory, probe files removed', async (t) => {
  const dir = tmpdir(t);
  fs.writeFileSync(path.join(dir, 'keep'), 'k');
  const caps = await fslock.capabilities(dir);
  assert.equal(caps.backend, fslock.backend);
  assert.equal(caps.hardLinks, true);
  assert.equal(caps.posixRename, true);
  assert.equal(caps.dirFsync, true);
  if (native) {
    // This suite runs on Linux (tmpfs/ext4 under os.tmpdir()): every primitive exists.
    assert.deepEqual(
      [caps.flock, caps.ofdLocks, caps.noReplaceRename, caps.tmpfile],
      [true, true, true, process.platform === 'linux'],
    );
  } else {
    // The fallback cannot reach these from JavaScript (README "Fallback backend").
    assert.deepEqual([caps.flock, caps.ofdLocks, caps.noReplaceRename, caps.tmpfile], [false, false, false, false]);
  }
  assert.deepEqual(fs.readdirSync(dir), ['keep']);
});

test('capabilities of a missing directory: ENOENT; bad argument: TypeError', async (t) => {
  const dir = tmpdir(t);
  await rejectsWith(fslock.capabilities(path.join(dir, 'missing')), { code: 'ENOENT' });
  await rejectsWith(fslock.capabilities(42), { code: 'ERR_INVALID_ARG_TYPE' });
});

test('crossHostLocks reads the local_lock option of an NFS mount (nolock keeps every lock on the client)', () => {
  const { crossHostLocks } = require('../dist/cjs/common/fstype.js');
  assert.equal(crossHostLocks('nfs', true, 'rw,vers=3,proto=tcp,local_lock=all'), false);
  assert.equal(crossHostLocks('nfs', true, 'rw,vers=3,local_lock=none'), true);
  // One kind kept local: the other half of a path lock (flock + OFD) still reaches the server.
  assert.equal(crossHostLocks('nfs', true, 'rw,vers=3,local_lock=flock'), true);
  assert.equal(crossHostLocks('nfs4', true, 'rw,vers=4.2,local_lock=none'), true);
  assert.equal(crossHostLocks('ext4', false, 'rw,relatime'), false);
});
