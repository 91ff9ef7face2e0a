'use strict';
// The lock file's life (docs/protocol.md, version 2): what a lock file holds while held
// and after release, `keep`, exact modes, holders of other people's files, option
// checks, failures that leave nothing behind, and named errno values.
const { test, suite } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { fslock, native, tmpdir, rejectsWith, throwsWith, openFds, until } = require('./helpers');

const HEADER = '{"fslock":2}\n';
const posix = process.platform !== 'win32';

/** All of a file's content through a descriptor (the inode, whatever the path names now). */
function readFd(fd) {
  const buf = Buffer.alloc(1 << 16);
  return buf.toString('utf8', 0, fs.readSync(fd, buf, 0, buf.length, 0));
}

suite(`lock files, version 2 (${fslock.backend})`, () => {
  test('while held the file names its holder; release leaves the header alone (keep, the default), keep: false removes it', async (t) => {
    const dir = tmpdir(t);
    const p = path.join(dir, 'a.lock');
    const l = await fslock.lock(p, { keep: false });
    const text = fs.readFileSync(p, 'utf8');
    assert.ok(text.startsWith(HEADER), 'header first');
    const rec = JSON.parse(text.slice(HEADER.length).trim());
    assert.equal(rec.pid, process.pid);
    assert.equal(rec.hostname, os.hostname());
    assert.equal(rec.backend, fslock.backend);
    const h = await fslock.lockHolder(p);
    assert.equal(h.pid, process.pid);
    assert.ok(h.since instanceof Date && !Number.isNaN(h.since.getTime()));
    await l.release();
    assert.equal(fs.existsSync(p), false, 'removed on release (local filesystem, no keep)');

    const k = await fslock.lock(p, { keep: true });
    const ino = fs.statSync(p).ino;
    await k.release();
    assert.equal(fs.readFileSync(p, 'utf8'), HEADER, 'kept with the header alone');
    assert.equal(await fslock.isLocked(p), false);
    // A kept file is taken again as fslock's own: a record goes in, and out again.
    const k2 = fslock.lockSync(p, { keep: true });
    assert.match(fs.readFileSync(p, 'utf8'), /"pid":/);
    k2.releaseSync();
    assert.equal(fs.readFileSync(p, 'utf8'), HEADER);
    if (native) assert.equal(fs.statSync(p).ino, ino, 'native: the kept inode is reused');
    // keep defaults to true (native): the file stays as it is; the fallback removes it.
    await (await fslock.lock(p)).release();
    if (native) assert.equal(fs.readFileSync(p, 'utf8'), HEADER, 'kept by default');
    else assert.equal(fs.existsSync(p), false, 'the fallback removes by default');
    (await fslock.lock(p, { keep: true })).releaseSync();
    // With keep: false, a kept file is fslock's own and is removed again.
    await (await fslock.lock(p, { keep: false })).release();
    assert.equal(fs.existsSync(p), false);
  });

  test(
    'a holder whose lock file was replaced meanwhile retracts its record from its own inode, and leaves the new file alone',
    {
      skip:
        (!native && 'native holders (a fallback holder whose file was replaced has lost its lock: ELOCKLOST)') ||
        (!posix && 'Windows cannot rename over a file that is open'),
    },
    async (t) => {
      // What a fallback reclaimer does (docs/protocol.md): rename a new file over the
      // path while a native holder still holds the old inode, then wait on the old
      // inode until that holder's record is retracted.
      const dir = tmpdir(t);
      for (const keep of [true, false]) {
        const p = path.join(dir, `replaced-${keep}.lock`);
        const l = await fslock.lock(p, { keep });
        const old = fs.openSync(p, 'r');
        t.after(() => fs.closeSync(old));
        const replacement = `${HEADER}{"v":1,"id":"other","backend":"fallback","mode":"exclusive","pid":1,"hostname":"elsewhere","since":0,"lease":10000}\n`;
        fs.writeFileSync(`${p}.new`, replacement);
        fs.renameSync(`${p}.new`, p);
        assert.match(readFd(old), /"pid":/, 'the old inode holds the record while held');
        await l.release();
        const text = readFd(old);
        const live = text
          .split('\n')
          .filter((line) => line.includes(`"pid":${process.pid}`))
          .filter((line) => !text.includes(`"release":"${JSON.parse(line).id}"`));
        assert.deepEqual(live, [], `keep=${keep}: the record is retracted (cut or tombstone)`);
        assert.ok(text.startsWith(HEADER), 'the old inode keeps its header');
        assert.equal(
          fs.readFileSync(p, 'utf8'),
          replacement,
          `keep=${keep}: the new file is neither changed nor removed`,
        );
      }
    },
  );

  test(
    'a fallback holder whose lock file was replaced learns it from its heartbeat: Lock.signal aborts (ELOCKLOST), release rejects, the new file stays',
    {
      skip:
        (native && 'fallback holders (a native holder keeps its kernel lock on its own inode: the test above)') ||
        (!posix && 'Windows cannot rename over a file that is open'),
    },
    async (t) => {
      // What another host does once this holder's lease lapsed (docs/protocol.md,
      // "Leases"). The heartbeat runs on the threadpool: it must still tell.
      const dir = tmpdir(t);
      for (const keep of [true, false]) {
        const p = path.join(dir, `lost-${keep}.lock`);
        const l = await fslock.lock(p, { keep, lease: 1000 }); // a beat every 250 ms
        const replacement = `${HEADER}{"v":1,"id":"other","backend":"fallback","mode":"exclusive","pid":1,"hostname":"elsewhere","since":0,"lease":10000}\n`;
        fs.writeFileSync(`${p}.new`, replacement);
        fs.renameSync(`${p}.new`, p);
        await until(() => l.signal.aborted, 60_000, `keep=${keep}: Lock.signal to abort`);
        assert.equal(l.signal.reason.code, 'ELOCKLOST');
        await rejectsWith(l.release(), { code: 'ELOCKLOST' });
        assert.equal(
          fs.readFileSync(p, 'utf8'),
          replacement,
          `keep=${keep}: the new file is neither changed nor removed`,
        );
      }
    },
  );

  test(
    'release never removes what was planted at the lock path meanwhile (a symlink)',
    { skip: !posix && 'symlinks need privileges on Windows' },
    async (t) => {
      const dir = tmpdir(t);
      const target = path.join(dir, 'precious');
      fs.writeFileSync(target, 'data');
      for (const keep of [false, true]) {
        const p = path.join(dir, `planted-${keep}.lock`);
        const l = await fslock.lock(p, { keep });
        fs.renameSync(p, `${p}.moved`);
        fs.symlinkSync(target, p);
        await l.release();
        assert.equal(fs.readlinkSync(p), target, `keep=${keep}: the planted link stays`);
        assert.equal(fs.readFileSync(target, 'utf8'), 'data', 'and what it points to is untouched');
      }
    },
  );

  test(
    'a created lock file has exactly the mode asked for, whatever the umask',
    { skip: !posix && 'POSIX modes' },
    async (t) => {
      const dir = tmpdir(t);
      const old = process.umask(0o077);
      t.after(() => process.umask(old));
      const a = path.join(dir, 'default.lock');
      const l = await fslock.lock(a, { keep: true });
      assert.equal(fs.statSync(a).mode & 0o777, 0o666);
      await l.release();
      const b = path.join(dir, 'private.lock');
      const m = fslock.lockSync(b, { mode: 0o600 });
      assert.equal(fs.statSync(b).mode & 0o777, 0o600);
      m.releaseSync();
    },
  );

  test('an existing file that is not a lock file: locked in place (native), refused (fallback)', async (t) => {
    const dir = tmpdir(t);
    const p = path.join(dir, 'data.json');
    fs.writeFileSync(p, '{"important":true}\n');
    const before = fs.statSync(p);
    if (native) {
      const l = await fslock.lock(p);
      assert.equal(await fslock.isLocked(p), true);
      // No record is written into someone else's file: the holder is known only as the
      // kernel shows it (Linux: its pid in /proc/locks).
      const h = await fslock.lockHolder(p);
      assert.equal(h.record, false);
      assert.equal(h.since, undefined);
      if (process.platform === 'linux') assert.equal(h.pid, process.pid);
      await rejectsWith(fslock.lock(p, { wait: false }), { code: 'ELOCKED' });
      await l.release();
    } else {
      await rejectsWith(fslock.lock(p), { code: 'ENOTSUP', path: p });
      throwsWith(() => fslock.lockSync(p), { code: 'ENOTSUP' });
      if (process.platform === 'linux') {
        // isLocked/lockHolder still look (docs/path-locks.md, /proc/locks): nobody holds it.
        assert.equal(await fslock.isLocked(p), false);
        assert.equal(await fslock.lockHolder(p), undefined);
      } else await rejectsWith(fslock.isLocked(p), { code: 'ENOTSUP' }); // nothing can be told there
    }
    const after = fs.statSync(p);
    assert.equal(fs.readFileSync(p, 'utf8'), '{"important":true}\n');
    assert.equal(after.ino, before.ino);
    assert.equal(after.mtimeMs, before.mtimeMs);
    assert.deepEqual(fs.readdirSync(dir), ['data.json']);
  });

  test('option checks: mode, lease, keep', async (t) => {
    const p = path.join(tmpdir(t), 'o.lock');
    await rejectsWith(fslock.lock(p, { mode: 0o10000 }), { code: 'ERR_INVALID_ARG_VALUE' });
    await rejectsWith(fslock.lock(p, { mode: '644' }), { code: 'ERR_INVALID_ARG_TYPE' });
    await rejectsWith(fslock.lock(p, { lease: 10 }), { code: 'ERR_INVALID_ARG_VALUE' });
    throwsWith(() => fslock.lockSync(p, { keep: 1 }), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.equal(fs.existsSync(p), false, 'nothing happened');
  });

  test('Lock.signal: not aborted while held; release of a kept lock keeps it unaborted', async (t) => {
    const p = path.join(tmpdir(t), 's.lock');
    const l = await fslock.lock(p);
    assert.ok(l.signal instanceof AbortSignal);
    assert.equal(l.signal.aborted, false);
    await l.release();
    assert.equal(l.signal.aborted, false);
  });

  test(
    'ENOSPC while creating the lock file: the error, and the directory as it was',
    { skip: !posix && 'mount(2)' },
    async (t) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fslock-full-'));
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'fslock-test', dir], { stdio: 'pipe' });
      } catch (e) {
        fs.rmdirSync(dir);
        return t.skip(`cannot mount tmpfs here: ${String(e.stderr || e.message).trim()}`);
      }
      t.after(() => {
        execFileSync('umount', ['-l', dir]);
        fs.rmdirSync(dir);
      });
      // Fill it up to the last page.
      const filler = path.join(dir, 'filler');
      const fd = fs.openSync(filler, 'w');
      try {
        for (;;) fs.writeSync(fd, Buffer.alloc(4096, 1));
      } catch (e) {
        assert.equal(e.code, 'ENOSPC');
      } finally {
        fs.closeSync(fd);
      }
      const before = fs.readdirSync(dir).sort();
      const fds = openFds();
      const p = path.join(dir, 'x.lock');
      for (let i = 0; i < 5; i++) {
        await rejectsWith(fslock.lock(p), { code: 'ENOSPC', path: p });
        throwsWith(() => fslock.lockSync(p), { code: 'ENOSPC' });
      }
      assert.deepEqual(fs.readdirSync(dir).sort(), before, 'no lock file and no temp file left');
      assert.equal(openFds(), fds, 'no descriptor leaked');
    },
  );

  test(
    'errno values libuv has no name for come out named (ESTALE, EBADFD, EDQUOT, ENOLCK)',
    { skip: process.platform !== 'linux' && 'Linux numbers' },
    () => {
      const { osError } = require(path.join(path.dirname(require.resolve('fslock')), 'common', 'errors.js'));
      for (const [n, code] of [
        [116, 'ESTALE'],
        [77, 'EBADFD'],
        [122, 'EDQUOT'],
        [37, 'ENOLCK'],
      ]) {
        const e = osError(-n, 'close', '/x.lock');
        assert.equal(e.code, code);
        assert.equal(e.errno, -n);
        assert.equal(e.syscall, 'close');
        assert.equal(e.path, '/x.lock');
        assert.match(e.message, new RegExp(`^${code}: [a-z]`));
        assert.doesNotMatch(e.message, /Unknown system error/);
      }
    },
  );
});
