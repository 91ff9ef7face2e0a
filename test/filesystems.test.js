'use strict';
// The same guarantees on the filesystems users have: loop-mounted ext4, xfs and btrfs
// images (and tmpfs), each with processes contending for one lock (overlap checker,
// shared and exclusive) and sharing one atomically rewritten cache entry (torn-read
// check). Needs root for mount(2) and the mkfs tools (`npm run test:filesystems`
// installs xfsprogs and btrfs-progs); each missing piece skips its filesystem with the
// reason shown, and the test fails if it could check no filesystem at all.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawn, spawnSync } = require('node:child_process');
const { fslock, native, spawnFixture, stress, within } = require('./helpers');

const KINDS = [
  { name: 'ext4', mkfs: ['mkfs.ext4', '-q', '-F'], size: 64 },
  { name: 'xfs', mkfs: ['mkfs.xfs', '-q', '-f'], size: 320 }, // xfs wants >= 300 MB
  { name: 'btrfs', mkfs: ['mkfs.btrfs', '-q', '-f'], size: 128 },
  { name: 'tmpfs' },
];

/** Mounts a fresh filesystem of this kind; returns its directory or a skip reason. */
function mount(t, kind) {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), `fslock-fs-${kind.name}-`));
  const dir = path.join(base, 'mnt');
  fs.mkdirSync(dir);
  const cleanup = [() => fs.rmSync(base, { recursive: true, force: true })];
  t.after(() => cleanup.reverse().forEach((f) => f()));
  try {
    if (kind.name === 'tmpfs') {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'fslock', dir], { stdio: 'pipe' });
    } else {
      const img = path.join(base, 'image');
      fs.closeSync(fs.openSync(img, 'w'));
      fs.truncateSync(img, kind.size * 1024 * 1024); // sparse
      execFileSync(kind.mkfs[0], [...kind.mkfs.slice(1), img], { stdio: 'pipe' });
      execFileSync('mount', ['-o', 'loop', img, dir], { stdio: 'pipe' });
    }
  } catch (e) {
    const why =
      e.code === 'ENOENT'
        ? `${kind.mkfs ? kind.mkfs[0] : 'mount'} not installed`
        : String(e.stderr || e.message).trim();
    return { skip: `${kind.name}: ${why}` };
  }
  cleanup.push(() => execFileSync('umount', ['-l', dir]));
  return { dir };
}

let checked = 0;

for (const kind of KINDS) {
  test(`${kind.name}: processes exclude each other and never read a torn entry`, async (t) => {
    const m = mount(t, kind);
    if (m.skip) return t.skip(m.skip);
    const caps = await fslock.capabilities(m.dir);
    t.diagnostic(`${kind.name} capabilities: ${JSON.stringify(caps)}`);
    if (native)
      assert.deepEqual([caps.flock, caps.ofdLocks, caps.noReplaceRename, caps.hardLinks], [true, true, true, true]);
    // The mount table names the filesystem; all of these are local: lock files go on release.
    assert.deepEqual([caps.fsType, caps.shared, caps.crossHostLocks], [kind.name, false, false]);

    const inside = path.join(m.dir, 'inside');
    fs.mkdirSync(inside);
    const lock = path.join(m.dir, 'data.lock');
    const per = stress ? 2000 : native ? 300 : 60;
    const lockers = Array.from({ length: 3 }, () =>
      spawnFixture(t, 'stress-worker.js', [lock, inside, String(per), '30']),
    );
    const cacheDir = path.join(m.dir, 'cache');
    fs.mkdirSync(cacheDir);
    const ms = stress ? 10_000 : 1_500;
    const cachers = Array.from({ length: 2 }, () =>
      spawnFixture(t, 'atomic-worker.js', ['cache', cacheDir, String(ms)]),
    );
    const locked = await Promise.all(lockers.map((k) => k.next('done', 240_000)));
    const cached = (await Promise.all(cachers.map((k) => k.next('stats', ms + 120_000)))).map((x) => x.stats);
    assert.equal(
      locked.reduce((n, r) => n + r.overlaps, 0),
      0,
      'overlapping holders',
    );
    assert.equal(
      locked.reduce((n, r) => n + r.acquired, 0),
      3 * per,
    );
    assert.equal(
      cached.reduce((n, s) => n + s.torn, 0),
      0,
      'torn or empty reads',
    );
    assert.deepEqual(
      cached.flatMap((s) => s.errors),
      [],
    );
    assert.ok(cached.reduce((n, s) => n + s.writes, 0) > 0);
    assert.deepEqual(
      fs.readdirSync(m.dir).sort(),
      ['cache', 'inside'].concat(kind.name === 'ext4' ? ['lost+found'] : []).sort(),
    );
    assert.deepEqual(
      fs.readdirSync(cacheDir).filter((n) => n !== 'entry'),
      [],
      'temp files left',
    );
    checked++;
  });
}

/** Another process tries the lock without waiting: 'granted' or the error code. */
function otherTries(file) {
  const code = `require('fslock').lock(process.argv[1], { wait: false })
    .then((l) => { console.log('granted'); return l.release(); }, (e) => console.log(e.code))`;
  return execFileSync(process.execPath, ['-e', code, file], {
    cwd: path.join(__dirname, '..'),
    encoding: 'utf8',
    timeout: 60_000,
  }).trim();
}

const haveFlock = spawnSync('flock', ['--version'], { stdio: 'ignore' }).status === 0;

for (const kind of KINDS) {
  test(
    `${kind.name}: isLocked and lockHolder see a flock(1) holder`,
    { skip: !haveFlock && 'flock(1) not installed' },
    async (t) => {
      // /proc/locks names a file by its superblock's device; btrfs reports the subvolume's
      // anonymous device in stat(2) instead, so matching by st_dev saw nothing there.
      const m = mount(t, kind);
      if (m.skip) return t.skip(m.skip);
      const file = path.join(m.dir, 'x.lock');
      const holder = spawn('flock', [file, 'sh', '-c', 'echo held; exec cat'], { stdio: ['pipe', 'pipe', 'ignore'] });
      t.after(() => holder.exitCode === null && holder.kill('SIGKILL'));
      await within(new Promise((r) => holder.stdout.once('data', r)), 60_000, 'flock(1) holding');
      try {
        assert.equal(await fslock.isLocked(file), true, 'isLocked while flock(1) holds the file');
        const h = await fslock.lockHolder(file);
        assert.equal(h?.record, false);
        assert.equal(h?.pid, holder.pid);
        if (native) assert.equal(otherTries(file), 'ELOCKED'); // the lock itself excludes (control)
      } finally {
        holder.stdin.end();
        await within(new Promise((r) => holder.on('exit', r)));
      }
      // Released: free again (nothing else on this filesystem is taken for it). Aged first:
      // to the fallback a young empty file may be a native creator's in the making (held).
      const hourAgo = new Date(Date.now() - 3_600_000);
      fs.utimesSync(file, hourAgo, hourAgo);
      assert.equal(await fslock.isLocked(file), false);
    },
  );
}

test('at least one real filesystem was checked', () => {
  assert.ok(checked > 0, 'no filesystem could be mounted: run as root with mkfs tools (npm run test:filesystems)');
});
