'use strict';
// One lock for every program (issue 27): fslock's path locks and the locks other
// programs take on the same file exclude each other, both ways — util-linux flock(1),
// Python (fcntl.flock, fcntl.lockf, the filelock package), Perl, Rust's File::lock,
// Java's FileChannel.lock and a C program with flock(2), fcntl(F_SETLK) and OFD locks —
// and isLocked()/lockHolder() see them, on the local filesystem and on tmpfs. A directory
// is locked as itself. The fallback backend takes no kernel lock: it sees these holders
// (Linux: /proc/locks) but does not exclude them (README, the per-platform table).
// The same across two GlusterFS clients: test/gluster.test.js.
const { test, suite, before } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const { fslock, native, tmpdir, within, rejectsWith, throwsWith } = require('./helpers');

const linux = process.platform === 'linux';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fslock-interop-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));

const have = (cmd, args = ['--version']) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;

/** Compiles a helper once; undefined (with the reason) when the toolchain is missing. */
function build(name, cmd, args) {
  const out = path.join(work, name);
  const r = spawnSync(cmd, [...args, '-o', out], { encoding: 'utf8' });
  return r.status === 0 ? out : undefined;
}

const PY = `
import fcntl, sys, os
kind, mode, action, p = sys.argv[1:5]
ex = mode == 'ex'
if kind == 'filelock':
    import filelock
    l = filelock.UnixFileLock(p, timeout=-1 if action == 'hold' else 0)
    try:
        l.acquire()
    except filelock.Timeout:
        print('busy'); sys.exit(0)
else:
    f = open(p, 'a')
    if kind == 'flock':
        op = (fcntl.LOCK_EX if ex else fcntl.LOCK_SH) | (0 if action == 'hold' else fcntl.LOCK_NB)
        call = lambda: fcntl.flock(f, op)
    else:
        if not ex: f = open(p, 'r')
        op = (fcntl.LOCK_EX if ex else fcntl.LOCK_SH) | (0 if action == 'hold' else fcntl.LOCK_NB)
        call = lambda: fcntl.lockf(f, op)
    try:
        call()
    except OSError:
        print('busy'); sys.exit(0)
print('held' if action == 'hold' else 'free', flush=True)
if action == 'hold': sys.stdin.read()
`;

const PERL = `
use Fcntl qw(:flock);
my ($mode, $action, $p) = @ARGV;
open(my $f, '>>', $p) or die "open: $!";
my $op = ($mode eq 'ex' ? LOCK_EX : LOCK_SH) | ($action eq 'hold' ? 0 : LOCK_NB);
if (!flock($f, $op)) { print "busy\\n"; exit 0; }
$| = 1;
print($action eq 'hold' ? "held\\n" : "free\\n");
if ($action eq 'hold') { while (<STDIN>) {} }
`;

const RUST = `
use std::io::Read;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (ex, hold, p) = (a[1] == "ex", a[2] == "hold", &a[3]);
    let f = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(p).unwrap();
    let r = match (ex, hold) {
        (true, true) => f.lock().map(|_| true),
        (false, true) => f.lock_shared().map(|_| true),
        (true, false) => f.try_lock().map(|_| true).or_else(|e| match e { std::fs::TryLockError::WouldBlock => Ok(false), std::fs::TryLockError::Error(e) => Err(e) }),
        (false, false) => f.try_lock_shared().map(|_| true).or_else(|e| match e { std::fs::TryLockError::WouldBlock => Ok(false), std::fs::TryLockError::Error(e) => Err(e) }),
    };
    match r.unwrap() { false => { println!("busy"); return; } true => println!("{}", if hold { "held" } else { "free" }) }
    if hold { let mut s = String::new(); std::io::stdin().read_to_string(&mut s).unwrap(); }
}
`;

const JAVA = `
import java.nio.channels.*; import java.nio.file.*; import static java.nio.file.StandardOpenOption.*;
public class Locker { public static void main(String[] a) throws Exception {
  boolean ex = a[0].equals("ex"), hold = a[1].equals("hold");
  FileChannel c = ex ? FileChannel.open(Paths.get(a[2]), READ, WRITE, CREATE) : FileChannel.open(Paths.get(a[2]), READ);
  FileLock l = hold ? c.lock(0, Long.MAX_VALUE, !ex) : c.tryLock(0, Long.MAX_VALUE, !ex);
  if (l == null) { System.out.println("busy"); return; }
  System.out.println(hold ? "held" : "free"); System.out.flush();
  if (hold) while (System.in.read() >= 0) {}
} }
`;

/**
 * The other programs. Each: `argv(mode, action, path)` for a process that prints
 * "held" once it holds (action 'hold', then holds until its stdin closes) or "free" /
 * "busy" (action 'try'); `pidSeen`: the kernel names its pid (flock and classic POSIX
 * locks; OFD locks are owned by no process); `dir`: it can lock a directory.
 */
const lockers = [];
before(() => {
  if (!linux) return;
  if (have('flock'))
    lockers.push({
      name: 'util-linux flock(1)',
      pidSeen: true,
      dir: true,
      argv: (mode, action, p) =>
        action === 'hold'
          ? ['flock', mode === 'ex' ? '-x' : '-s', p, 'sh', '-c', 'echo held; cat >/dev/null']
          : ['sh', '-c', `flock -n ${mode === 'ex' ? '-x' : '-s'} "$0" true && echo free || echo busy`, p],
    });
  const c = have('cc') && build('interop-locker', 'cc', [path.join(__dirname, 'fixtures', 'interop-locker.c')]);
  if (c)
    for (const kind of ['flock', 'posix', 'ofd'])
      lockers.push({
        name: `C ${kind === 'flock' ? 'flock(2)' : kind === 'posix' ? 'fcntl(F_SETLK)' : 'fcntl(F_OFD_SETLK)'}`,
        pidSeen: kind !== 'ofd',
        dir: kind === 'flock',
        argv: (mode, action, p) => [c, kind, mode, action, p],
      });
  if (have('python3'))
    for (const kind of ['flock', 'lockf'])
      lockers.push({
        name: `Python fcntl.${kind}`,
        pidSeen: true,
        argv: (mode, action, p) => ['python3', '-c', PY, kind, mode, action, p],
      });
  // Debian's python3-filelock (scripts/test.js installs it), for Debian's python3.
  if (have('/usr/bin/python3', ['-c', 'import filelock']))
    lockers.push({
      name: 'Python filelock (UnixFileLock)',
      pidSeen: true,
      exclusiveOnly: true,
      truncates: true, // UnixFileLock opens its lock file with O_TRUNC
      argv: (mode, action, p) => ['/usr/bin/python3', '-c', PY, 'filelock', mode, action, p],
    });
  if (have('perl', ['-v']))
    lockers.push({
      name: 'Perl flock',
      pidSeen: true,
      argv: (mode, action, p) => ['perl', '-e', PERL, mode, action, p],
    });
  const rs = have('rustc') && build('rust-locker', 'rustc', ['--edition', '2021', '-O', writeSource('l.rs', RUST)]);
  if (rs)
    lockers.push({ name: "Rust std File::lock (cargo's, uv's)", pidSeen: true, argv: (m, a, p) => [rs, m, a, p] });
  if (have('javac', ['-version']) && have('java', ['-version'])) {
    const src = writeSource('Locker.java', JAVA);
    if (spawnSync('javac', ['-d', work, src]).status === 0)
      lockers.push({
        name: 'Java FileChannel.lock',
        pidSeen: true,
        slow: true,
        argv: (mode, action, p) => ['java', '-Xshare:auto', '-cp', work, 'Locker', mode, action, p],
      });
  }
});

function writeSource(name, text) {
  const p = path.join(work, name);
  fs.writeFileSync(p, text);
  return p;
}

/** Starts `l` holding `p`; resolves once it holds, with a `release()` that ends it. */
async function holding(t, l, mode, p) {
  const [cmd, ...args] = l.argv(mode, 'hold', p);
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  t.after(() => child.kill('SIGKILL'));
  await within(
    new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => (out += d) === 'held\n' && resolve());
      child.on('exit', (code) => reject(new Error(`${l.name} exited ${code} before holding (${out})`)));
    }),
    60_000,
    `${l.name} to hold ${p}`,
  );
  return {
    pid: child.pid,
    release: () => (child.stdin.end(), within(exited, 60_000, `${l.name} to exit`)),
  };
}

/** What `l` finds when it tries `p` without waiting: 'free' or 'busy'. */
function tries(l, mode, p) {
  const [cmd, ...args] = l.argv(mode, 'try', p);
  return execFileSync(cmd, args, { encoding: 'utf8', timeout: 60_000 }).trim();
}

function mountTmpfs(t) {
  if (process.getuid() !== 0) return { skip: 'mounting a tmpfs needs root' };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fslock-interop-mnt-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'fslock-interop', dir]);
  t.after(() => {
    execFileSync('umount', ['-l', dir]);
    fs.rmdirSync(dir);
  });
  return { dir };
}

const filesystems = [
  { name: 'the local filesystem', dir: (t) => ({ dir: tmpdir(t) }) },
  { name: 'tmpfs', dir: mountTmpfs },
];

suite(`other programs' locks on the same file (${fslock.backend})`, { skip: !linux && 'Linux' }, () => {
  test('the lockers are here (Debian packages installed by scripts/test.js)', (t) => {
    const names = lockers.map((l) => l.name);
    t.diagnostic(`lockers: ${names.join(', ')}`);
    for (const must of ['util-linux flock(1)', 'C flock(2)', 'C fcntl(F_SETLK)', 'Python fcntl.flock', 'Perl flock'])
      assert.ok(names.includes(must), `${must} missing: ${names.join(', ')}`);
  });

  for (const fsys of filesystems) {
    test(`on ${fsys.name}: each program excludes fslock and fslock excludes it, both ways`, async (t) => {
      const m = fsys.dir(t);
      if (m.skip) return t.skip(m.skip);
      const report = [];
      for (const l of lockers) {
        if (l.slow && fsys.name !== 'the local filesystem') continue;
        const p = path.join(m.dir, `${l.name.replace(/\W+/g, '-')}.lock`);
        // The fallback locks only lock files fslock creates (an empty file another
        // program created is someone else's file to it): it creates this one first.
        if (!native) (await fslock.lock(p, { keep: true })).releaseSync();
        // 1. The other program holds it.
        const o = await holding(t, l, 'ex', p);
        assert.equal(await fslock.isLocked(p), true, `${l.name}: isLocked() while it holds`);
        const h = await fslock.lockHolder(p);
        assert.equal(h?.record, false, `${l.name}: a holder that left no record`);
        if (l.pidSeen) assert.equal(h.pid, o.pid, `${l.name}: the holder's pid`);
        if (native) {
          await rejectsWith(fslock.lock(p, { wait: false }), { code: 'ELOCKED', path: p });
          throwsWith(() => fslock.lockSync(p, { wait: false }), { code: 'ELOCKED' });
          const told = [];
          let granted = false;
          const waiting = fslock.lock(p, { onWait: (i) => told.push(i) }).then((x) => ((granted = true), x));
          await new Promise((r) => setTimeout(r, 100));
          assert.equal(granted, false, `${l.name}: lock() waits while it holds`);
          assert.equal(told.length, 1, `${l.name}: onWait told once`);
          assert.equal(told[0].holder?.record, false);
          await o.release();
          const got = await within(waiting, 60_000, `${l.name}: lock() after it released`);
          // 2. fslock holds it.
          assert.equal(tries(l, 'ex', p), 'busy', `${l.name}: its try while fslock holds`);
          await got.release();
          assert.equal(tries(l, 'ex', p), 'free', `${l.name}: its try after fslock released`);
          const s = fslock.lockSync(p);
          assert.equal(tries(l, 'ex', p), 'busy', `${l.name}: its try while lockSync holds`);
          s.releaseSync();
        } else if (l.truncates) {
          // It emptied the file: to the fallback an empty file is someone else's, or a
          // native creator's in the making (ELOCKED while young, ENOTSUP after).
          await rejectsWith(fslock.lock(p, { wait: false }), { code: 'ELOCKED' });
          await o.release();
        } else {
          // The fallback takes no kernel lock: it sees the holder, but does not exclude
          // it — it takes the kept file over (a rename of its own record file over it)
          // while the other program still holds the replaced one (README, the table).
          const f = await fslock.lock(p, { wait: false });
          assert.equal(tries(l, 'ex', p), 'free', `${l.name}: the name now denotes the fallback's file`);
          await f.release();
          await o.release();
          const g = await fslock.lock(p);
          assert.equal(tries(l, 'ex', p), 'free', `${l.name}: not excluded by a fallback holder (documented)`);
          await g.release();
        }
        // 3. Shared with shared.
        if (!l.exclusiveOnly && native) {
          const os_ = await holding(t, l, 'sh', p);
          const a = await fslock.lock(p, { shared: true, wait: false });
          await rejectsWith(fslock.lock(p, { wait: false }), { code: 'ELOCKED' });
          assert.equal(tries(l, 'ex', p), 'busy');
          await os_.release();
          assert.equal(tries(l, 'sh', p), 'free', `${l.name}: shared with fslock's shared lock`);
          assert.equal(tries(l, 'ex', p), 'busy', `${l.name}: excluded by fslock's shared lock`);
          await a.release();
        }
        report.push(l.name);
      }
      t.diagnostic(`checked both ways: ${report.join('; ')}`);
    });
  }

  test('a directory is locked as itself: fslock and flock(1) on one directory, both ways', async (t) => {
    const d = path.join(tmpdir(t), 'cache');
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'entry'), 'x');
    for (const l of lockers.filter((x) => x.dir)) {
      if (!native) {
        await rejectsWith(fslock.lock(d), { code: 'ENOTSUP' });
        continue;
      }
      const o = await holding(t, l, 'ex', d);
      assert.equal(await fslock.isLocked(d), true);
      assert.equal((await fslock.lockHolder(d)).pid, o.pid);
      await rejectsWith(fslock.lock(d, { wait: false }), { code: 'ELOCKED', path: d });
      const waiting = fslock.lock(d);
      await o.release();
      const got = await within(waiting);
      assert.equal(tries(l, 'ex', d), 'busy', `${l.name} while fslock holds the directory`);
      assert.equal(tries(l, 'sh', d), 'busy', `${l.name}: a shared request too`);
      await got.release();
      assert.equal(tries(l, 'ex', d), 'free');
      assert.equal(await fslock.isLocked(d), false);
    }
    assert.deepEqual(fs.readdirSync(d), ['entry'], 'nothing created in the directory');
  });

  test('Python filelock truncates the lock file it opens: fslock holds on, and locks the emptied file as it is', async (t) => {
    const l = lockers.find((x) => x.name.startsWith('Python filelock'));
    if (!l) return t.skip('python3-filelock (Debian) is not installed');
    if (!native) return t.skip('kernel locks only');
    const p = path.join(tmpdir(t), 'shared.lock');
    const held = await fslock.lock(p);
    assert.equal(tries(l, 'ex', p), 'busy');
    // filelock opened it with O_TRUNC before trying: fslock's record is gone, its lock is not.
    assert.equal(fs.readFileSync(p, 'utf8'), '');
    assert.equal(await fslock.isLocked(p), true);
    await held.release();
    const again = await fslock.lock(p);
    assert.equal(tries(l, 'ex', p), 'busy');
    await again.release();
    assert.equal(tries(l, 'ex', p), 'free');
  });

  test('isLocked and lockHolder see flock(1) holding the file it created, also once that file is old', async (t) => {
    // docs/path-locks.md: isLocked/lockHolder look at whatever is at the path; the
    // fallback, which cannot lock a file that is not fslock's, still sees its kernel
    // holder (it threw ENOTSUP once the empty file was 2 s old), and a free data file is
    // free (false), not an error.
    if (!have('flock')) return t.skip('flock(1) (util-linux) is not installed');
    const dir = tmpdir(t);
    const file = path.join(dir, 'job.lock');
    const holder = spawn('flock', [file, 'sh', '-c', 'echo held; exec cat'], { stdio: ['pipe', 'pipe', 'ignore'] });
    t.after(() => holder.exitCode === null && holder.kill('SIGKILL'));
    await within(new Promise((r) => holder.stdout.once('data', r)), 60_000, 'flock(1) holding');
    const hourAgo = new Date(Date.now() - 3_600_000);
    fs.utimesSync(file, hourAgo, hourAgo); // as old as the lock file of a long job
    const data = path.join(dir, 'data.txt');
    fs.writeFileSync(data, 'not a lock file\n');
    fs.utimesSync(data, hourAgo, hourAgo);
    const problems = [];
    const look = async (what, fn) => {
      try {
        return await fn();
      } catch (e) {
        problems.push(`${what} threw ${e.code}`);
        return undefined;
      }
    };
    try {
      if ((await look('isLocked(held)', () => fslock.isLocked(file))) !== true)
        problems.push('isLocked(held) is not true');
      const h = await look('lockHolder(held)', () => fslock.lockHolder(file));
      if (h?.pid !== holder.pid) problems.push(`lockHolder(held).pid is ${h?.pid}, not flock's ${holder.pid}`);
      if (h && (h.record !== false || h.name !== 'flock')) problems.push(`lockHolder(held): ${JSON.stringify(h)}`);
      if ((await look('isLocked(free data file)', () => fslock.isLocked(data))) !== false)
        problems.push('isLocked(free data file) is not false');
      if ((await look('lockHolder(free data file)', () => fslock.lockHolder(data))) !== undefined)
        problems.push('lockHolder(free data file) is not undefined');
    } finally {
      holder.stdin.end();
      await within(new Promise((r) => holder.on('exit', r)));
    }
    assert.deepEqual(problems, []);
  });
});
