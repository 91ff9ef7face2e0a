'use strict';
// fslock never modifies or removes what it did not create (issue 13, "Must show"):
// - lock/lockSync/withLock (each in a process of its own) and the `fslock` command on an
//   existing data file and on the running script: byte-identical, same inode and mtime,
//   in place (the fallback cannot lock such a file: ENOTSUP / non-zero exit, untouched);
// - symlinks and hard links planted by the user nobody in a sticky world-writable
//   directory and in a directory nobody owns, pointing at a root-owned file, under both
//   settings of fs.protected_symlinks / fs.protected_hardlinks: root never changes the
//   target; a symlink fails with ELOOP, a hard link is locked without writing;
// - a FIFO, socket, character device, directory or symlink at the lock path: a clear
//   error at once, nothing removed, the event loop ticking meanwhile.
const { test, suite } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawn, spawnSync } = require('node:child_process');
const { fslock, native, tmpdir, within, until, spawnFixture, rejectsWith, throwsWith } = require('./helpers');
const { usersSkip, userPackage, spawnAs, runAsNobody, sharedDir, setSysctl } = require('./users');

const BIN = path.join(__dirname, '..', 'bin', 'fslock.js');
const posix = process.platform !== 'win32';

/** Runs `fslock args...`; resolves with {code, signal, stdout, stderr}. */
function cli(args, opts = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return within(
    new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))),
    60_000,
    `fslock ${args.join(' ')}`,
  );
}

/** Everything that must not change about a file fslock did not create. */
function snapshot(file) {
  let st;
  try {
    st = fs.lstatSync(file);
  } catch (e) {
    if (e.code === 'ENOENT') return { missing: true };
    throw e;
  }
  return {
    content: st.isFile() ? crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex') : undefined,
    size: st.size,
    ino: st.ino,
    mode: st.mode,
    uid: st.uid,
    nlink: st.nlink,
    rdev: st.rdev,
    mtimeMs: st.mtimeMs,
    link: st.isSymbolicLink() ? fs.readlinkSync(file) : undefined,
  };
}

function dataFile(dir, name = 'data.txt') {
  const file = path.join(dir, name);
  // Content that is not an fslock lock file: text, a JSON line, binary bytes.
  fs.writeFileSync(file, Buffer.concat([Buffer.from('precious data\n{"v":1}\n'), crypto.randomBytes(300)]));
  const past = new Date(Date.now() - 3600_000); // an mtime that a rewrite could not keep by chance
  fs.utimesSync(file, past, past);
  return file;
}

suite(`existing files are locked in place (${fslock.backend})`, () => {
  for (const op of ['lock', 'lockSync', 'withLock']) {
    test(`${op} in another process on an existing data file`, async (t) => {
      const file = dataFile(tmpdir(t));
      const before = snapshot(file);
      const child = spawnFixture(t, 'lock-op.js', [op, file, JSON.stringify({ hold: true, value: 7 })]);
      if (!native) {
        // No kernel locks: the fallback cannot lock a file that is not its own. (The
        // bound detects a wait instead of the error.)
        const m = await child.next('failed', 15_000);
        assert.equal(m.code, 'ENOTSUP', m.message);
        assert.deepEqual(snapshot(file), before);
        return;
      }
      await child.next('granted');
      assert.deepEqual(snapshot(file), before, 'no record is written into a data file');
      await rejectsWith(fslock.lock(file, { wait: false }), { code: 'ELOCKED' });
      assert.equal(await fslock.isLocked(file), true);
      child.send({ type: 'release' });
      const done = await child.next('released');
      if (op === 'withLock') assert.equal(done.value, 7);
      assert.equal((await child.exited()).code, 0);
      assert.deepEqual(snapshot(file), before, 'byte-identical, same inode and mtime, in place');
      // Locked and released here too (in this process): still untouched.
      (await fslock.lock(file, { wait: false })).releaseSync();
      assert.deepEqual(snapshot(file), before);
    });

    test(`${op} in a process on its own running script`, async (t) => {
      const pkg = userPackage();
      const script = path.join(
        pkg.dir,
        'fixtures',
        `self-${op}-${process.pid}-${crypto.randomBytes(4).toString('hex')}.js`,
      );
      fs.copyFileSync(path.join(__dirname, 'fixtures', 'lock-op.js'), script);
      t.after(() => fs.rmSync(script, { force: true }));
      const before = snapshot(script);
      const child = spawnAs(t, 'root', script, [op, 'SELF', JSON.stringify({ hold: true, value: 'done' })]);
      if (!native) {
        const m = await child.next('failed', 15_000);
        assert.equal(m.code, 'ENOTSUP', m.message);
        assert.equal(m.path, script);
        assert.deepEqual(snapshot(script), before);
        return;
      }
      await child.next('granted');
      assert.deepEqual(snapshot(script), before);
      await rejectsWith(fslock.lock(script, { wait: false }), { code: 'ELOCKED' });
      child.send({ type: 'release' });
      const done = await child.next('released');
      if (op === 'withLock') assert.equal(done.value, 'done');
      assert.equal((await child.exited()).code, 0);
      assert.deepEqual(snapshot(script), before, 'the running script is byte-identical and in place');
    });
  }

  test('the fslock command on an existing data file', async (t) => {
    const file = dataFile(tmpdir(t));
    const before = snapshot(file);
    // The command tries the same lock without waiting: 42 means it found it held.
    const r = await cli([
      file,
      '--',
      '/bin/sh',
      '-c',
      '"$0" "$1" -n -E 42 "$2" -- true; echo nested=$?',
      process.execPath,
      BIN,
      file,
    ]);
    if (native) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), 'nested=42', 'the data file was locked while the command ran');
    } else {
      assert.notEqual(r.code, 0, 'the fallback cannot lock a data file');
      assert.equal(r.stdout, '', 'the command did not run');
      assert.match(r.stderr, /ENOTSUP/);
    }
    assert.deepEqual(snapshot(file), before, 'byte-identical, same inode and mtime, in place');
  });

  test('a shell script that runs `fslock "$0" -- ...` on itself', { skip: !posix && 'POSIX shell' }, async (t) => {
    const script = path.join(tmpdir(t), 'job.sh');
    fs.copyFileSync(path.join(__dirname, 'fixtures', 'self-lock.sh'), script);
    fs.chmodSync(script, 0o755);
    const before = snapshot(script);
    const r = await within(
      new Promise((resolve) => {
        const c = spawn(script, ['a', 'b'], { env: { ...process.env, NODE: process.execPath, FSLOCK: BIN } });
        let out = '';
        let err = '';
        c.stdout.on('data', (d) => (out += d));
        c.stderr.on('data', (d) => (err += d));
        c.on('close', (code) => resolve({ code, stdout: out, stderr: err }));
      }),
      60_000,
      'job.sh',
    );
    if (native) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'nested=42\nargs=a b\n', 'the script ran once, holding a lock on itself');
    } else {
      assert.notEqual(r.code, 0, 'the fallback cannot lock the script');
      assert.equal(r.stdout, '', 'the script body did not run');
    }
    assert.deepEqual(snapshot(script), before, 'the script is byte-identical and in place');
  });
});

// ---- links planted by another user -------------------------------------------------

const skipUsers = usersSkip();

suite(`links planted by nobody (${fslock.backend})`, { skip: skipUsers }, () => {
  for (const kind of ['symlink', 'hardlink'])
    for (const where of ['sticky', 'nobody'])
      for (const protect of [0, 1]) {
        const sysctl = kind === 'symlink' ? 'protected_symlinks' : 'protected_hardlinks';
        const dirName = where === 'sticky' ? 'a sticky world-writable directory' : 'a directory nobody owns';
        test(`a ${kind} in ${dirName}, fs.${sysctl}=${protect}`, async (t) => {
          if (!setSysctl(t, sysctl, protect)) return t.skip(`cannot set fs.${sysctl} here`);
          const dir = sharedDir(t, where);
          const targetDir = path.join(path.dirname(dir), 'root-only');
          fs.mkdirSync(targetDir, { mode: 0o755 });
          const target = dataFile(targetDir, 'passwd');
          // With protected_hardlinks=1 nobody may link only a file it can read and write.
          fs.chmodSync(target, kind === 'hardlink' && protect ? 0o666 : 0o644);
          const link = path.join(dir, 'job.lock');
          const r = runAsNobody('ln', kind === 'symlink' ? ['-s', target, link] : [target, link]);
          assert.equal(r.status, 0, `nobody could not plant the ${kind}: ${r.stderr}`);
          if (kind === 'symlink') assert.equal(fs.lstatSync(link).uid, 65534);
          else assert.equal(fs.statSync(target).nlink, 2);
          const before = { target: snapshot(target), link: snapshot(link) };
          const untouched = (what) => {
            assert.deepEqual(snapshot(target), before.target, `${what}: the target changed`);
            assert.deepEqual(snapshot(link), before.link, `${what}: the planted link changed`);
          };

          if (kind === 'symlink') {
            // The final component is never followed: ELOOP (syscall open), whatever the sysctl.
            let ran = false;
            const calls = [
              ['lock({wait:false})', () => fslock.lock(link, { wait: false })],
              ['lock()', () => within(fslock.lock(link))],
              ['lockSync()', () => fslock.lockSync(link)],
              ['withLock()', () => within(fslock.withLock(link, () => (ran = true)))],
              ['isLocked()', () => fslock.isLocked(link)],
              ['lockHolder()', () => fslock.lockHolder(link)],
            ];
            for (const [what, fn] of calls) {
              let e;
              try {
                const r = await fn();
                if (r && typeof r.release === 'function') await r.release().catch(() => {});
              } catch (err) {
                e = err;
              }
              untouched(what);
              assert.ok(e, `${what} succeeded on a planted symlink`);
              assert.equal(e.code, 'ELOOP', `${what}: ${e.message}`);
              if (!what.startsWith('is') && !what.startsWith('lockHolder')) {
                assert.equal(e.syscall, 'open', `${what}: ${e.message}`);
                assert.equal(e.path, link, `${what}: ${e.message}`);
              }
            }
            assert.equal(ran, false, 'withLock ran fn');
            const c = await cli([link, '--', '/bin/sh', '-c', 'echo ran']);
            assert.notEqual(c.code, 0, 'the command line fails on a planted symlink');
            assert.equal(c.stdout, '', 'and does not run the command');
            assert.match(c.stderr, /ELOOP/);
            untouched('fslock command');
            return;
          }

          // A hard link: a regular file with two links is not fslock's file; the native
          // backend locks it in place without writing, the fallback refuses (ENOTSUP).
          if (native) {
            const l = await fslock.lock(link, { wait: false });
            untouched('lock({wait:false}) held');
            await rejectsWith(fslock.lock(target, { wait: false }), { code: 'ELOCKED' }); // the same inode
            await l.release();
            untouched('lock({wait:false}) released');
            (await within(fslock.lock(link))).releaseSync();
            fslock.lockSync(link).releaseSync();
            assert.equal(await fslock.withLock(link, () => 5), 5);
            assert.equal(await fslock.isLocked(link), false);
            untouched('lock/lockSync/withLock');
            const c = await cli([link, '--', '/bin/sh', '-c', 'echo ran']);
            assert.equal(c.code, 0, c.stderr);
            assert.equal(c.stdout, 'ran\n');
          } else {
            const expect = { code: 'ENOTSUP', path: link };
            await rejectsWith(fslock.lock(link, { wait: false }), expect);
            await rejectsWith(within(fslock.lock(link, { timeout: 2000 })), expect);
            throwsWith(() => fslock.lockSync(link), expect);
            await rejectsWith(within(fslock.withLock(link, () => 5)), expect);
            untouched('lock/lockSync/withLock');
            const c = await cli([link, '--', '/bin/sh', '-c', 'echo ran']);
            assert.notEqual(c.code, 0);
            assert.equal(c.stdout, '');
          }
          untouched('fslock command');
          await fslock.isLocked(link).catch(() => {});
          await fslock.lockHolder(link).catch(() => {});
          untouched('isLocked/lockHolder');
        });
      }
});

// ---- not a regular file ------------------------------------------------------------

const specials = [
  { kind: 'FIFO', code: 'EINVAL', make: (p) => mk('mkfifo', [p]) },
  { kind: 'UNIX socket', code: 'EINVAL', make: (p, t) => listen(p, t) },
  { kind: 'character device (a /dev/null twin)', code: 'EINVAL', make: (p) => mk('mknod', [p, 'c', '1', '3']) },
  { kind: 'dangling symlink', code: 'ELOOP', make: (p) => fs.symlinkSync(p + '.nowhere', p) },
  {
    kind: 'symlink to a FIFO',
    code: 'ELOOP',
    make: (p) => (mk('mkfifo', [p + '.fifo']), fs.symlinkSync(p + '.fifo', p)),
  },
];

function mk(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error}`);
}

async function listen(p, t) {
  const server = net.createServer();
  await new Promise((resolve, reject) => server.once('error', reject).listen(p, resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
}

suite(
  `not a regular file at the lock path (${fslock.backend})`,
  { skip: process.platform !== 'linux' && 'Linux special files' },
  () => {
    for (const s of specials) {
      test(`${s.kind}: every call fails with ${s.code} at once, nothing removed, the event loop ticking`, async (t) => {
        const dir = tmpdir(t);
        const p = path.join(dir, 'x.lock');
        await s.make(p, t);
        const before = snapshot(p);
        const child = spawnFixture(t, 'special-path.js', [p]);
        const results = [];
        for (let i = 0; i < 9; i++) {
          // A call that blocks its thread (an open(2) of a FIFO) never reports: bounded here.
          const m = await child.next('result', 30_000).catch((e) => {
            throw new Error(
              `${s.kind}: no answer after ${results.map((r) => r.name).join(', ') || 'nothing'}: ${e.message}`,
            );
          });
          results.push(m);
        }
        const done = await child.next('done', 30_000);
        const bad = [];
        if (done.fdsAfter !== done.fdsBefore)
          bad.push(`failed calls leaked ${done.fdsAfter - done.fdsBefore} descriptors`);
        const after = snapshot(p);
        if (JSON.stringify(after) !== JSON.stringify(before))
          bad.push(`the ${s.kind} was changed or removed: ${JSON.stringify(after)}`);
        for (const r of results) {
          const why = [];
          if (r.ok) why.push(`succeeded (${r.value})`);
          else if (r.code !== s.code) why.push(`code ${r.code} (${r.message})`);
          else {
            if (r.path !== p) why.push(`path ${r.path}`);
            if (s.code === 'EINVAL' && !/not a regular file/.test(r.message)) why.push(`message '${r.message}'`);
            if (s.code === 'ELOOP' && r.syscall !== 'open') why.push(`syscall ${r.syscall}`);
          }
          // Hang detectors, not timings: generous bounds for a slow, busy machine.
          if (r.ms > 5000) why.push(`took ${Math.round(r.ms)} ms`);
          if (!r.name.startsWith('lockSync') && r.maxGap > 2000) why.push(`event loop blocked ${r.maxGap} ms`);
          if (!r.name.startsWith('lockSync') && r.ticks < 1) why.push('the interval never ran meanwhile');
          if (why.length) bad.push(`${r.name}: ${why.join(', ')}`);
        }
        assert.deepEqual(bad, [], `expected ${s.code} from every call on a ${s.kind}, nothing changed`);
        const c = await cli([p, '--', '/bin/sh', '-c', 'echo ran']);
        assert.notEqual(c.code, 0, 'the fslock command fails');
        assert.equal(c.stdout, '', 'without running the command');
        assert.match(c.stderr, new RegExp(s.code));
        assert.deepEqual(snapshot(p), before, `${s.kind} changed or removed by the command line`);
      });
    }

    /** Whether the process `pid` sleeps in a FIFO's open(2), waiting for the other end. */
    function blockedInFifoOpen(pid) {
      const read = (f) => {
        try {
          return fs.readFileSync(`/proc/${pid}/${f}`, 'utf8');
        } catch {
          return '';
        }
      };
      return /wait_for_partner|fifo_open/.test(read('wchan')) || /fifo_open/.test(read('stack'));
    }

    test("a FIFO at the lock path is never opened: another program's blocked reader or writer stays blocked", async (t) => {
      // Opening the FIFO to fstat it (once: lock() O_RDWR, isLocked() and the fallback
      // O_RDONLY) completed the other program's open, and the close that followed gave it
      // EOF, or lost what it wrote / killed it with SIGPIPE. The name is looked at first.
      const dir = tmpdir(t);
      const problems = [];
      const delay = (ms) => new Promise((r) => setTimeout(r, ms));
      for (const op of ['lock', 'lockSync', 'isLocked', 'lockHolder']) {
        for (const peer of ['reader', 'writer']) {
          const fifo = path.join(dir, `${op}-${peer}.fifo`);
          mk('mkfifo', [fifo]);
          const child =
            peer === 'reader'
              ? spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'ignore'] })
              : spawn('sh', ['-c', 'echo marker > "$0"', fifo], { stdio: ['ignore', 'pipe', 'ignore'] });
          t.after(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
          let out = '';
          child.stdout.on('data', (d) => (out += d));
          const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
          // Blocked in open(2) once the kernel shows it waiting for its partner there.
          await until(() => blockedInFifoOpen(child.pid), 10_000, `the ${peer} blocked in open`);
          const call = {
            lock: () => fslock.lock(fifo, { wait: false }),
            lockSync: async () => fslock.lockSync(fifo, { wait: false }),
            isLocked: () => fslock.isLocked(fifo),
            lockHolder: () => fslock.lockHolder(fifo),
          }[op];
          const e = await call().then(
            () => undefined,
            (err) => err,
          );
          if (e?.code !== 'EINVAL') problems.push(`${op}: ${e ? e.code : 'no error'}`);
          // A disturbed peer returns from open at once; one left alone stays blocked. (Not
          // a timing assertion: a peer left alone never ends by itself.)
          const early = await Promise.race([exited, delay(500).then(() => undefined)]);
          if (early) problems.push(`${op}: the ${peer} was woken and ended (${JSON.stringify(early)})`);
          else {
            // Let it finish as it would have: open the other end here.
            const fd = fs.openSync(fifo, peer === 'reader' ? 'w' : 'r');
            if (peer === 'reader') fs.writeSync(fd, 'marker\n');
            else out = fs.readFileSync(fd, 'utf8');
            fs.closeSync(fd);
            await within(exited);
            if (out.trim() !== 'marker') problems.push(`${op}: the ${peer} saw ${JSON.stringify(out)}`);
          }
        }
      }
      assert.deepEqual(problems, []);
    });
  },
);
