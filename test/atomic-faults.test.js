'use strict';
// Atomic writes on real, small, failing filesystems: a full tmpfs (ENOSPC) and a
// read-only remount (EROFS). The target keeps exactly its old content and no temp file
// is left. Needs mount(2) (root): skipped with the reason where it is not permitted.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawn } = require('node:child_process');
const { fslock, tmpdir, rejectsWith, throwsWith, openFds, until, keptLockFiles } = require('./helpers');
const wfa = require('fslock/write-file-atomic');

function mountTmpfs(t, sizeKb, extra = '') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fslock-mnt-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k${extra}`, 'fslock-test', dir], { stdio: 'pipe' });
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

/**
 * Every atomic call that writes, in every form (sync, promise, with a signal, with
 * chunks, the write-file-atomic drop-in with and without its hook), on `dir`: each
 * must fail with `code` and leave the directory exactly as it was.
 */
function everyWrite(dir, target, data) {
  const sig = () => ({ signal: new AbortController().signal });
  const chunks = () => [data.subarray(0, 1000), data.subarray(1000)];
  const fresh = path.join(dir, 'fresh');
  const name = (i) => `u${i}`;
  return [
    ['writeFileAtomic', () => fslock.writeFileAtomic(target, data)],
    ['writeFileAtomic + signal', () => fslock.writeFileAtomic(target, data, sig())],
    ['writeFileAtomic chunks', () => fslock.writeFileAtomic(target, chunks(), sig())],
    ['writeFileAtomicSync', () => fslock.writeFileAtomicSync(target, data)],
    ['writeFileAtomicSync fsync off', () => fslock.writeFileAtomicSync(target, data, { fsync: false })],
    ['createExclusive', () => fslock.createExclusive(fresh, data)],
    ['createExclusive + signal', () => fslock.createExclusive(fresh, data, sig())],
    ['createExclusive chunks', () => fslock.createExclusive(fresh, chunks())],
    ['createExclusiveSync fsync off', () => fslock.createExclusiveSync(fresh, data, { fsync: false })],
    ['createUnique', () => fslock.createUnique(dir, name, data)],
    ['createUnique + signal', () => fslock.createUnique(dir, name, data, sig())],
    ['createUnique chunks', () => fslock.createUnique(dir, name, chunks(), sig())],
    ['createUniqueSync', () => fslock.createUniqueSync(dir, name, data)],
    ['update', () => fslock.update(target, () => data)],
    ['write-file-atomic', () => wfa(target, data)],
    ['write-file-atomic .sync', () => wfa.sync(target, data)],
    ['write-file-atomic + tmpfileCreated', () => wfa(target, data, { tmpfileCreated: () => undefined })],
  ];
}

async function failsCleanly(dir, target, data, code, skip = []) {
  // update() may leave its lock file (kept by default), free: its header alone.
  const lock = `${path.basename(target)}.lock`;
  const listing = () =>
    entries(dir).filter((n) => n !== lock || fs.readFileSync(path.join(dir, n), 'utf8') !== '{"fslock":2}\n');
  const before = listing();
  const old = fs.readFileSync(target);
  const fds = openFds();
  for (const [what, call] of everyWrite(dir, target, data).filter(([w]) => !skip.includes(w))) {
    let err;
    try {
      await call();
    } catch (e) {
      err = e;
    }
    assert.ok(err, `${what}: did not fail`);
    assert.equal(err.code, code, `${what}: ${err.message}`);
    assert.equal(typeof err.syscall, 'string', `${what}: no syscall`);
    assert.ok(
      err.path === target ||
        err.path === dir ||
        err.path === path.join(dir, 'fresh') ||
        err.path === path.join(dir, 'u0') ||
        err.path === `${target}.lock`,
      `${what}: path ${err.path}`,
    );
    assert.deepEqual(listing(), before, `${what}: the directory changed`);
    assert.ok(fs.readFileSync(target).equals(old), `${what}: the target changed`);
  }
  assert.equal(openFds(), fds, 'descriptors leaked');
}

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
  await rejectsWith(
    fslock.update(p, () => big),
    { code: 'ENOSPC' },
  );
  assert.ok(fs.readFileSync(p).equals(old), 'target changed');
  // update() held target.lock, which stays (native: lock files are kept by default).
  assert.deepEqual(entries(m.dir), keptLockFiles(m.dir, ['target', 'target.lock']));
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

test('every atomic write on a full tmpfs (no blocks, then no inodes) and a read-only one: fails, directory as before', async (t) => {
  const m = mountTmpfs(t, 256);
  if (m.skip) return t.skip(m.skip);
  const p = path.join(m.dir, 'target');
  fs.writeFileSync(p, Buffer.alloc(64 << 10, 'o'));
  await failsCleanly(m.dir, p, Buffer.alloc(512 << 10, 'n'), 'ENOSPC');

  // No inode left: even the unnamed O_TMPFILE file (or a named temp) cannot be created.
  const i = mountTmpfs(t, 256, ',nr_inodes=3');
  if (i.skip) return t.skip(i.skip);
  const q = path.join(i.dir, 'target');
  fs.writeFileSync(q, 'old');
  fs.writeFileSync(path.join(i.dir, 'filler'), '');
  assert.throws(() => fs.writeFileSync(path.join(i.dir, 'one-more'), ''), { code: 'ENOSPC' });
  await failsCleanly(i.dir, q, Buffer.from('new'), 'ENOSPC');

  execFileSync('mount', ['-o', 'remount,ro', m.dir]);
  await failsCleanly(m.dir, p, Buffer.from('new'), 'EROFS');
});

/**
 * test/fixtures/failfs.c mounted over a scratch directory: a FUSE passthrough whose
 * close() fails with EIO while `<backing>/.fail-close` exists. Built here against
 * libfuse 3 (installed by the project's tooling, as root on Debian).
 */
async function mountFailfs(t) {
  if (process.platform !== 'linux' || process.getuid() !== 0)
    return { skip: 'needs Linux and root (mount(2) of a FUSE filesystem)' };
  if (!fs.existsSync('/dev/fuse')) return { skip: 'no /dev/fuse in this environment' };
  const bin = path.join(os.tmpdir(), `fslock-failfs-${process.pid}`);
  try {
    require('../scripts/tooling').ensurePackages([
      ['/usr/include/fuse3/fuse.h', 'libfuse3-dev'],
      ['pkg-config', 'pkg-config'],
    ]);
    const flags = execFileSync('pkg-config', ['--cflags', '--libs', 'fuse3']).toString().trim().split(/\s+/);
    execFileSync('cc', ['-O2', '-o', bin, path.join(__dirname, 'fixtures', 'failfs.c'), ...flags], { stdio: 'pipe' });
  } catch (e) {
    return {
      skip: `cannot build the FUSE fixture: ${
        String(e.stderr || e.message)
          .trim()
          .split('\n')[0]
      }`,
    };
  }
  const backing = tmpdir(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fslock-fuse-'));
  const child = spawn(bin, [backing, dir, '-f'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const mounted = () => fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${dir} `);
  t.after(async () => {
    if (mounted()) execFileSync('umount', ['-l', dir]);
    child.kill('SIGTERM');
    await exited;
    fs.rmdirSync(dir);
    fs.rmSync(bin, { force: true });
  });
  try {
    await until(() => mounted() || child.exitCode !== null, 30_000, 'the FUSE mount');
  } catch (e) {
    return { skip: `FUSE mount failed: ${stderr.trim() || e.message}` };
  }
  if (!mounted()) return { skip: `FUSE mount failed: ${stderr.trim()}` };
  return {
    dir,
    failClose: (on) =>
      on ? fs.writeFileSync(path.join(backing, '.fail-close'), '') : fs.rmSync(path.join(backing, '.fail-close')),
  };
}

test('close() fails (FUSE, EIO): every atomic write fails cleanly; once it works, createExclusive creates (no EEXIST)', async (t) => {
  const m = await mountFailfs(t);
  if (m.skip) return t.skip(m.skip);
  const p = path.join(m.dir, 'target');
  fs.writeFileSync(p, 'old');
  m.failClose(true);
  // No O_TMPFILE on this filesystem: named temps, closed before they are committed, so
  // the close error comes while nothing is visible: the call fails, nothing changed.
  // update() is left out here: it holds `target.lock`, and on a FUSE filesystem (shared:
  // another machine may have it open) lock files are kept, by design (docs/protocol.md).
  await failsCleanly(m.dir, p, Buffer.alloc(64 << 10, 'n'), 'EIO', ['update']);
  m.failClose(false);
  for (const [what, call] of everyWrite(m.dir, p, Buffer.from('new'))) {
    await call();
    if (!what.startsWith('create')) assert.equal(fs.readFileSync(p, 'utf8'), 'new', what);
    fs.writeFileSync(p, 'old');
    fs.rmSync(path.join(m.dir, 'fresh'), { force: true });
  }
  assert.equal(fs.readFileSync(path.join(m.dir, 'u3'), 'utf8'), 'new');
  // Kept: update()'s lock file (FUSE counts as shared); no temp file.
  assert.deepEqual(entries(m.dir), ['target', 'target.lock', 'u0', 'u1', 'u2', 'u3'], 'temp files left');
  assert.equal(
    fs.readFileSync(path.join(m.dir, 'target.lock'), 'utf8'),
    '{"fslock":2}\n',
    'a kept lock file holds its header alone',
  );
});
