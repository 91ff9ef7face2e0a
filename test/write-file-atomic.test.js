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
  let called = false;
  const r = writeFileAtomic(p, 'callback', (err) => {
    assert.ifError(err);
    called = true;
  });
  // As write-file-atomic (an async function): a promise even with a callback, settled
  // once the callback has run.
  assert.ok(r instanceof Promise);
  await r;
  assert.ok(called);
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
  // Anything else is written as String(data); null and undefined as an empty file.
  await writeFileAtomic(p, 42);
  assert.equal(read(p), '42');
  writeFileAtomic.sync(p, { toString: () => 'object' });
  assert.equal(read(p), 'object');
  await writeFileAtomic(p, null);
  assert.equal(read(p), '');
  writeFileAtomic.sync(p, 'x');
  writeFileAtomic.sync(p, undefined);
  assert.equal(read(p), '');
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
    // An explicit chown wins over the existing owner, and the existing mode is kept.
    fs.chmodSync(p, 0o604);
    writeFileAtomic.sync(p, 'owned by 1236', { chown: { uid: 1236, gid: 1237 } });
    const st = fs.statSync(p);
    assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [1236, 1237, 0o604]);
    await writeFileAtomic(p, 'owned by 1238', { chown: { uid: 1238, gid: 1239 } });
    assert.deepEqual([fs.statSync(p).uid, fs.statSync(p).gid], [1238, 1239]);
    fs.chownSync(p, 1234, 1235);
    fs.chmodSync(p, 0o600);
    await nonRootChown(t);
  } else {
    t.diagnostic('not root: chown not exercised');
  }
  // A throwing tmpfileCreated fails the write, which leaves nothing behind.
  const before = read(p);
  await rejectsWith(
    writeFileAtomic(p, 'no', {
      tmpfileCreated: () => {
        throw Object.assign(new Error('veto'), { code: 'EVETO' });
      },
    }),
    { code: 'EVETO' },
  );
  assert.equal(read(p), before);
  assert.deepEqual(fs.readdirSync(dir), ['m']);
});

// write-file-atomic ignores EPERM/EINVAL from chown when not root: a non-root process
// asking for another owner still writes the file (owned by itself). Run as nobody.
async function nonRootChown(t) {
  const { runAsNobody } = require('./helpers');
  const dir = tmpdir(t);
  fs.chmodSync(dir, 0o777);
  const p = path.join(dir, 'nobody');
  const code = `const w = require('fslock/write-file-atomic');
    w.sync(process.argv[1], 'sync', { chown: { uid: 0, gid: 0 } });
    w(process.argv[1] + '2', 'async', { chown: { uid: 0, gid: 0 } }).then(() => process.stdout.write('ok'));`;
  // From a copy of the package that nobody can reach (the checkout may be in /root).
  const out = runAsNobody(code, [p]);
  assert.equal(out, 'ok');
  for (const [f, content] of [
    [p, 'sync'],
    [`${p}2`, 'async'],
  ]) {
    assert.equal(read(f), content);
    assert.equal(fs.statSync(f).uid, 65534);
  }
}

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
