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
const { execFileSync } = require('node:child_process');
const { fslock, native, spawnFixture, stress } = require('./helpers');

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

test('at least one real filesystem was checked', () => {
  assert.ok(checked > 0, 'no filesystem could be mounted: run as root with mkfs tools (npm run test:filesystems)');
});
