'use strict';
// Symlinks and hard links at the target of an atomic replace, every write form, both
// backends: a final symlink is written through (the file it names is replaced in its own
// directory, the link stays), `followSymlink: false` replaces the link itself, a link
// another user planted in a sticky directory is not followed, hard links are detached.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const writeFileAtomic = require('fslock/write-file-atomic');
const { fslock, tmpdir, rejectsWith, throwsWith } = require('./helpers');
const { usersSkip, sharedDir, NOBODY } = require('./users');

const read = (p) => fs.readFileSync(p, 'utf8');
const win32 = process.platform === 'win32';

/** Every way fslock writes a file, each a (path, text) => Promise. */
const writers = {
  writeFileAtomic: (p, s) => fslock.writeFileAtomic(p, s),
  writeFileAtomicSync: async (p, s) => fslock.writeFileAtomicSync(p, s),
  'writeFileAtomic(chunks)': (p, s) => fslock.writeFileAtomic(p, [s.slice(0, 1), s.slice(1)]),
  'writeFileAtomic(signal)': (p, s) => fslock.writeFileAtomic(p, s, { signal: new AbortController().signal }),
  'writeFileAtomic(mode)': (p, s) => fslock.writeFileAtomic(p, s, { mode: 0o640 }),
  update: (p, s) => fslock.update(p, () => s),
  'write-file-atomic drop-in': (p, s) => writeFileAtomic(p, s),
  'write-file-atomic drop-in .sync': async (p, s) => writeFileAtomic.sync(p, s),
  'write-file-atomic drop-in (tmpfileCreated)': (p, s) => writeFileAtomic(p, s, { tmpfileCreated: () => {} }),
};

test('a final symlink is written through in every form: the link stays, the file it names is replaced', async (t) => {
  const dir = tmpdir(t);
  fs.mkdirSync(path.join(dir, 'real'));
  fs.mkdirSync(path.join(dir, 'links'));
  for (const [name, write] of Object.entries(writers)) {
    const target = path.join(dir, 'real', `${name}.txt`);
    const link = path.join(dir, 'links', `${name}.txt`);
    fs.writeFileSync(target, 'old');
    fs.symlinkSync(path.relative(path.dirname(link), target), link); // a relative link
    await write(link, 'new content');
    assert.ok(fs.lstatSync(link).isSymbolicLink(), `${name}: the link is still a link`);
    assert.equal(read(target), 'new content', `${name}: the file it names has the new content`);
    assert.equal(fs.readlinkSync(link), path.relative(path.dirname(link), target), `${name}: the link is unchanged`);
  }
  // The replace happened in the target's directory: no temp file anywhere, and the
  // links' directory holds only the links (update's lock file is the link name's).
  assert.deepEqual(
    fs.readdirSync(path.join(dir, 'real')).sort(),
    Object.keys(writers)
      .map((n) => `${n}.txt`)
      .sort(),
  );
  assert.deepEqual(
    fs
      .readdirSync(path.join(dir, 'links'))
      .filter((n) => n !== 'update.txt.lock') // a kept lock file, where lock files stay
      .sort(),
    Object.keys(writers)
      .map((n) => `${n}.txt`)
      .sort(),
  );
});

test('a chain of links, a link to a missing file, a directory symlink with .. in the link', async (t) => {
  const dir = tmpdir(t);
  const j = (...p) => path.join(dir, ...p);
  // chain: a -> b -> c (absolute, then relative)
  fs.writeFileSync(j('c'), 'old');
  fs.symlinkSync(j('c'), j('b'));
  fs.symlinkSync('b', j('a'));
  await fslock.writeFileAtomic(j('a'), 'chain');
  assert.equal(read(j('c')), 'chain');
  assert.ok(fs.lstatSync(j('a')).isSymbolicLink() && fs.lstatSync(j('b')).isSymbolicLink());
  // dangling: the file is created where the link points, as node:fs writeFile does
  fs.symlinkSync('created-later', j('dangling'));
  fslock.writeFileAtomicSync(j('dangling'), 'created');
  assert.equal(read(j('created-later')), 'created');
  assert.ok(fs.lstatSync(j('dangling')).isSymbolicLink());
  // `..` in a link resolves from the link's real directory: d/inner is a symlink to
  // deep/x/y, and d/inner/up -> ../file names deep/x/file (not d/file).
  fs.mkdirSync(j('deep', 'x', 'y'), { recursive: true });
  fs.symlinkSync(j('deep', 'x', 'y'), j('inner'));
  fs.writeFileSync(j('deep', 'x', 'file'), 'old');
  fs.symlinkSync('../file', j('deep', 'x', 'y', 'up'));
  await fslock.writeFileAtomic(j('inner', 'up'), 'physical');
  assert.equal(read(j('deep', 'x', 'file')), 'physical');
  assert.ok(!fs.existsSync(j('file')));
  // A loop is ELOOP, and nothing is written.
  fs.symlinkSync('loop2', j('loop1'));
  fs.symlinkSync('loop1', j('loop2'));
  await rejectsWith(fslock.writeFileAtomic(j('loop1'), 'x'), { code: 'ELOOP', path: j('loop1') });
  throwsWith(() => fslock.writeFileAtomicSync(j('loop1'), 'x'), { code: 'ELOOP' });
  assert.ok(fs.lstatSync(j('loop1')).isSymbolicLink() && fs.lstatSync(j('loop2')).isSymbolicLink());
});

test('the file behind a link keeps its mode and owner; the link is not what is copied', async (t) => {
  const dir = tmpdir(t);
  const real = path.join(dir, 'real');
  fs.writeFileSync(real, 'old');
  fs.chmodSync(real, 0o600);
  fs.symlinkSync('real', path.join(dir, 'link'));
  if (!win32 && process.getuid() === 0) fs.chownSync(real, NOBODY.uid, NOBODY.gid);
  await fslock.writeFileAtomic(path.join(dir, 'link'), 'new');
  const st = fs.statSync(real);
  assert.equal(st.mode & 0o777, 0o600);
  if (!win32 && process.getuid() === 0) assert.deepEqual([st.uid, st.gid], [NOBODY.uid, NOBODY.gid]);
});

test('followSymlink: false replaces the link itself with a regular file; the old target is untouched', async (t) => {
  const dir = tmpdir(t);
  const real = path.join(dir, 'real');
  for (const [i, write] of [
    (p) => fslock.writeFileAtomic(p, 'own file', { followSymlink: false }),
    async (p) => fslock.writeFileAtomicSync(p, 'own file', { followSymlink: false }),
    (p) => fslock.writeFileAtomic(p, ['own', ' file'], { followSymlink: false }),
    (p) => fslock.update(p, () => 'own file', { followSymlink: false }),
  ].entries()) {
    fs.writeFileSync(real, 'old');
    const link = path.join(dir, `link${i}`);
    fs.symlinkSync('real', link);
    await write(link);
    assert.ok(fs.lstatSync(link).isFile(), `form ${i}: a regular file now`);
    assert.equal(read(link), 'own file');
    assert.equal(read(real), 'old', `form ${i}: the old target is untouched`);
  }
  await rejectsWith(fslock.writeFileAtomic(real, 'x', { followSymlink: 'no' }), { code: 'ERR_INVALID_ARG_TYPE' });
});

test('createExclusive does not follow a symlink: an existing link (even dangling) is EEXIST', async (t) => {
  const dir = tmpdir(t);
  fs.symlinkSync('nothing-here', path.join(dir, 'dangling'));
  await rejectsWith(fslock.createExclusive(path.join(dir, 'dangling'), 'x'), { code: 'EEXIST' });
  throwsWith(() => fslock.createExclusiveSync(path.join(dir, 'dangling'), 'x'), { code: 'EEXIST' });
  assert.ok(!fs.existsSync(path.join(dir, 'nothing-here')));
});

test('hard links: a replace gives the name a new file, the other names keep the old content (documented)', async (t) => {
  const dir = tmpdir(t);
  const a = path.join(dir, 'a');
  const b = path.join(dir, 'b');
  fs.writeFileSync(a, 'shared');
  fs.linkSync(a, b);
  await fslock.writeFileAtomic(a, 'replaced');
  assert.equal(read(a), 'replaced');
  assert.equal(read(b), 'shared');
  assert.equal(fs.statSync(b).nlink, 1);
});

test(
  'a symlink that another user planted in a sticky world-writable directory is not followed (protected_symlinks)',
  { skip: usersSkip() },
  async (t) => {
    const sticky = sharedDir(t, 'sticky');
    const mine = tmpdir(t);
    const victim = path.join(mine, 'precious');
    fs.writeFileSync(victim, 'keep');
    const planted = path.join(sticky, 'config.json');
    fs.symlinkSync(victim, planted);
    fs.lchownSync(planted, NOBODY.uid, NOBODY.gid); // nobody's link in root's sticky directory
    await rejectsWith(fslock.writeFileAtomic(planted, 'pwned'), { code: 'EACCES', path: planted });
    throwsWith(() => fslock.writeFileAtomicSync(planted, 'pwned'), { code: 'EACCES', path: planted });
    await rejectsWith(writeFileAtomic(planted, 'pwned'), { code: 'EACCES' });
    assert.equal(read(victim), 'keep');
    assert.ok(fs.lstatSync(planted).isSymbolicLink());
    // The kernel refuses the same link to node:fs (fs.protected_symlinks=1 here).
    if (fs.readFileSync('/proc/sys/fs/protected_symlinks', 'utf8').trim() === '1')
      assert.throws(() => fs.writeFileSync(planted, 'pwned'), { code: 'EACCES' });
    // Root's own link in the same directory is followed.
    const own = path.join(sticky, 'own.json');
    fs.symlinkSync(victim, own);
    await fslock.writeFileAtomic(own, 'mine');
    assert.equal(read(victim), 'mine');
  },
);
