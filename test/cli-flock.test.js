'use strict';
// The fslock command against util-linux flock(1), the program whose habit it carries:
// the same command lines run through both (option by option, exit statuses, -c,
// --verbose), the descriptor form in real shell scripts, and the two excluding each
// other both ways. Differences are asserted as such (README "Command line").
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { native, tmpdir, until } = require('./helpers');
const { FLOCK, PYTHON, FSLOCK, start, run, holdFd } = require('./fixtures/cli-util');

const posix = process.platform !== 'win32';
const LOCKF = path.join(__dirname, 'fixtures', 'cli-lockf.py');
const flock = (args, opts) => start([FLOCK, ...args], opts).done;
const lockfTry = (file) => spawnSync(PYTHON, [LOCKF, 'try', file]).status;
/** A reason to skip where flock(1) is missing (scripts/test.js installs util-linux on Debian). */
const noFlock = !posix ? 'POSIX shells and flock(1)' : FLOCK ? undefined : 'util-linux flock(1) is not installed';
/** The fd form needs descriptor locks (native backend, POSIX). */
const fdForm = native && posix;

/**
 * Two lock files, each held for the rest of the test: `flock` by flock(1) (a flock(2)
 * lock), `fslock` by an fslock path-form holder, which both backends see.
 */
async function busyLocks(t, dir) {
  const busy = { flock: path.join(dir, 'busy-flock.lock'), fslock: path.join(dir, 'busy-fslock.lock') };
  const a = holdFd(t, busy.flock, '>', [FLOCK]);
  const b = holdPath(t, FSLOCK, busy.fslock);
  assert.equal(await a.entered, undefined);
  await b.entered;
  return busy;
}

test('-c COMMAND runs through $SHELL -c (else /bin/sh), as flock(1) does; --command; one argument only', async (t) => {
  if (noFlock) return t.skip(noFlock);
  const dir = tmpdir(t);
  // Each its own lock file: the fallback backend cannot lock a file flock(1) created.
  const [file, theirFile] = [path.join(dir, 'c.lock'), path.join(dir, 'c-flock.lock')];
  const shells = [undefined, '', '/bin/sh', ...(fs.existsSync('/bin/bash') ? ['/bin/bash'] : [])];
  for (const SHELL of shells) {
    const env = { ...process.env };
    if (SHELL === undefined) delete env.SHELL;
    else env.SHELL = SHELL;
    const script = 'echo "$0" $((6 * 7)); exit 3';
    const theirs = await flock([theirFile, '-c', script], { env });
    for (const args of [
      [file, '-c', script],
      ['-x', file, '--command', script],
    ]) {
      const ours = await run(args, { env });
      assert.equal(ours.stdout, theirs.stdout, `SHELL=${SHELL}`);
      assert.equal(ours.code, 3);
      assert.equal(theirs.code, 3);
    }
  }
  // The shell string is one argument: none (flock(1): "-c requires exactly one command argument") or two is usage.
  for (const bad of [['-c'], ['-c', 'true', 'extra']]) {
    assert.equal((await flock([theirFile, ...bad])).code, 64);
    const ours = await run([file, ...bad]);
    assert.equal(ours.code, 64, ours.stderr);
    assert.match(ours.stderr, /requires exactly one command argument/);
  }
});

test("exit statuses are flock(1)'s, case by case (and the documented differences)", async (t) => {
  if (noFlock) return t.skip(noFlock);
  const dir = tmpdir(t);
  // FILE: a free lock file, each program its own (the fallback cannot lock flock(1)'s).
  const files = { flock: path.join(dir, 'e-flock.lock'), fslock: path.join(dir, 'e.lock') };
  const file = files.fslock;
  // BUSY: a lock each program sees held (flock(1): a flock(2) lock; fslock: a holder of its own).
  const busy = await busyLocks(t, dir);
  // An executable file without a #! line: execvp(3) hands it to /bin/sh.
  const script = path.join(dir, 'no-shebang');
  fs.writeFileSync(script, 'exit 5\n', { mode: 0o755 });
  const same = [
    [], // not enough arguments
    ['FILE', script],
    ['-w', 'soon', 'FILE', 'true'],
    ['-E', '300', 'FILE', 'true'],
    ['-E', '1x', 'FILE', 'true'],
    ['--frobnicate', 'FILE', 'true'],
    ['-F', '-o', 'FILE', 'true'],
    ['abc'], // no command and not a descriptor
    ['99999999999'],
    [path.join(dir, 'missing-dir', 'x.lock'), 'true'], // cannot open: 66
    ['FILE', 'false'],
    ['FILE', 'sh', '-c', 'exit 7'],
    ['FILE', 'sh', '-c', 'kill -TERM $$'], // 128 + 15
    ['-n', 'BUSY', 'true'],
    ['-nE', '7', 'BUSY', 'true'],
    ['-w', '0', 'BUSY', 'true'], // -w 0 is -n
    ['--conflict-exit-code=9', '--timeout=0.2', 'BUSY', 'true'],
    ['--nb', '--shared', 'BUSY', 'true'],
    ['-F', 'FILE', 'true'],
  ];
  const argsOf = (args, who) => args.map((a) => (a === 'BUSY' ? busy[who] : a === 'FILE' ? files[who] : a));
  // Three cases at a time: each is two processes that mostly start up.
  const queue = [...same];
  const worker = async () => {
    for (let args = queue.shift(); args; args = queue.shift()) {
      const theirs = await flock(argsOf(args, 'flock'));
      const ours = await run(argsOf(args, 'fslock'));
      assert.equal(ours.code, theirs.code, `fslock ${args.join(' ')}: ${ours.stderr} (flock(1): ${theirs.stderr})`);
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  // Where fslock differs on purpose. A command that cannot be found: the shell's 127
  // (flock(1) exits 69, EX_UNAVAILABLE).
  assert.equal((await flock([files.flock, 'no-such-command-fslock'])).code, 69);
  assert.equal((await run([file, 'no-such-command-fslock'])).code, 127);
  // `LOCKFILE -- COMMAND` runs COMMAND (flock(1) runs a program named "--").
  assert.equal((await flock([files.flock, '--', 'true'])).code, 69);
  assert.equal((await run([file, '--', 'true'])).code, 0);
  // -u with a lock file and a command unlocks nothing and runs it under flock(1); a
  // usage error for fslock (-u drops the lock of a descriptor).
  assert.equal((await flock(['-u', files.flock, 'true'])).code, 0);
  assert.equal((await run(['-u', file, 'true'])).code, 64);
});

test('--verbose prints what flock(1) prints, where it prints it', async (t) => {
  if (noFlock) return t.skip(noFlock);
  const dir = tmpdir(t);
  const [file, theirFile] = [path.join(dir, 'v.lock'), path.join(dir, 'v-flock.lock')];
  const shape = (s, name) =>
    s
      .split(name)
      .join('PROG')
      .replace(/\d+\.\d{6} seconds/g, 'N seconds');
  const theirs = await flock(['--verbose', theirFile, 'echo', 'hi']);
  const ours = await run(['--verbose', file, 'echo', 'hi']);
  assert.equal(ours.code, 0, ours.stderr);
  // flock(1)'s stdout is a buffered pipe here: its lines come after the command's. fslock
  // says them when they happen, as flock(1) does on a terminal.
  assert.deepEqual(shape(theirs.stdout, 'flock').split('\n').sort(), shape(ours.stdout, 'fslock').split('\n').sort());
  assert.match(ours.stdout, /^fslock: getting lock took \d+\.\d{6} seconds\nfslock: executing echo\nhi\n$/);
  // Conflicts: "failed to get lock" (-n) and "timeout while waiting to get lock" (-w) on
  // stderr; fslock's own line (who holds it) follows unless -q.
  const busy = await busyLocks(t, dir);
  for (const args of [['-n'], ['-w', '0.2'], ['-w', '0']]) {
    const f = await flock([...args, '--verbose', busy.flock, 'true']);
    const q = await run(['-q', ...args, '--verbose', busy.fslock, 'true']);
    assert.equal(shape(q.stderr, 'fslock'), shape(f.stderr, 'flock'), `--verbose ${args.join(' ')}`);
    assert.equal(q.code, f.code);
  }
});

test('descriptor form: ( fslock -n 9 || exit 1; ... ) 9>FILE holds the lock for the rest of the shell script', async (t) => {
  if (noFlock) return t.skip(noFlock);
  const dir = tmpdir(t);
  const file = path.join(dir, 'job.lock');
  if (!fdForm) {
    // Fallback: no kernel locks to take on a descriptor: ENOTSUP, exit 65 (flock(1)'s
    // status for a lock call that fails). Windows: a LockFileEx lock would end with fslock.
    const h = holdFd(t, file, '>', [...FSLOCK, '-n']);
    assert.equal(await h.entered, 65);
    return;
  }
  const h = holdFd(t, file, '>', [...FSLOCK, '-n']);
  assert.equal(await h.entered, undefined, 'fslock -n 9 failed');
  // fslock has exited; the lock lives with the script's descriptor. Nobody else gets in:
  // flock(1) (flock(2)), a POSIX record-lock user (the OFD lock), fslock's descriptor
  // form in another script, fslock's path form.
  assert.equal((await flock(['-n', file, 'true'])).code, 1);
  if (PYTHON && process.platform === 'linux') assert.equal(lockfTry(file), 1, 'lockf got in');
  const other = holdFd(t, file, '>', [...FSLOCK, '-n']);
  assert.equal(await other.entered, 1);
  const fl = holdFd(t, file, '<', [FLOCK, '-n']);
  assert.equal(await fl.entered, 1);
  assert.equal((await run(['-n', '-q', file, 'true'])).code, 1);
  // A waiter in the descriptor form gets in once the script's descriptor closes.
  const waiter = holdFd(t, file, '>', [...FSLOCK, '-w', '100']);
  const entered = waiter.entered.then((s) => ({ s }));
  h.leave();
  assert.equal((await h.done).code, 0);
  assert.deepEqual(await entered, { s: undefined });
  waiter.leave();
  await waiter.done;
  // Free again: every locker gets in.
  assert.equal((await flock(['-n', file, 'true'])).code, 0);
  if (PYTHON) assert.equal(lockfTry(file), 0);
});

test('descriptor form: flock(1) holds, fslock waits (and -n/-w give up); fslock holds, flock(1) waits', async (t) => {
  if (noFlock) return t.skip(noFlock);
  if (!fdForm) return t.skip('descriptor locks need the native backend on POSIX (the ENOTSUP case: the test above)');
  const dir = tmpdir(t);
  const file = path.join(dir, 'both.lock');
  for (const [holder, waiter] of [
    [[FLOCK], FSLOCK],
    [FSLOCK, [FLOCK]],
  ]) {
    const h = holdFd(t, file, '>', holder);
    assert.equal(await h.entered, undefined);
    assert.equal(await holdFd(t, file, '>', [...waiter, '-n']).entered, 1);
    assert.equal(await holdFd(t, file, '>', [...waiter, '-n', '-E', '5']).entered, 5);
    assert.equal(await holdFd(t, file, '>', [...waiter, '-w', '0.3']).entered, 1);
    const w = holdFd(t, file, '>', waiter);
    // Still waiting while the holder holds: it has neither entered nor failed.
    const early = await Promise.race([
      w.entered.then(() => 'entered'),
      new Promise((r) => setTimeout(r, 500, 'waiting')),
    ]);
    assert.equal(early, 'waiting');
    h.leave();
    assert.equal(await w.entered, undefined);
    w.leave();
    await Promise.all([h.done, w.done]);
  }
});

test('descriptor form: -s shares with flock -s, excludes -x; -u drops the lock in the middle of a script', async (t) => {
  if (noFlock) return t.skip(noFlock);
  if (!fdForm) return t.skip('descriptor locks need the native backend on POSIX');
  const dir = tmpdir(t);
  const file = path.join(dir, 's.lock');
  fs.writeFileSync(file, '');
  // <> : open for reading and writing, so the shared OFD lock can be taken too.
  const s = holdFd(t, file, '<>', [...FSLOCK, '-s']);
  assert.equal(await s.entered, undefined);
  const peer = holdFd(t, file, '<', [FLOCK, '-s', '-n']);
  assert.equal(await peer.entered, undefined, 'flock -s was excluded by a shared lock');
  assert.equal((await flock(['-x', '-n', file, 'true'])).code, 1);
  if (PYTHON && process.platform === 'linux')
    assert.equal(lockfTry(file), 1, 'a POSIX write lock got in beside a shared OFD lock');
  s.leave();
  peer.leave();
  await Promise.all([s.done, peer.done]);
  // fslock 9, then fslock -u 9: the rest of the script runs unlocked (flock(2) and OFD).
  const go = path.join(dir, 'go');
  const unlocked = start([
    'sh',
    '-c',
    `( "$@" 9 || exit 1; "$@" -u 9 || exit 2; : > '${dir}/in'; while [ ! -e '${go}' ]; do sleep 0.05; done ) 9>'${file}'`,
    'sh',
    ...FSLOCK,
  ]);
  await until(() => fs.existsSync(path.join(dir, 'in')), 60_000, 'the script');
  assert.equal((await flock(['-n', file, 'true'])).code, 0);
  if (PYTHON) assert.equal(lockfTry(file), 0);
  fs.writeFileSync(go, '');
  assert.equal((await unlocked.done).code, 0);
});

test('descriptor form: the OFD lock goes with the descriptor mode; a POSIX holder excludes, and the failed call leaves nothing locked', async (t) => {
  if (noFlock) return t.skip(noFlock);
  if (!fdForm) return t.skip('descriptor locks need the native backend on POSIX');
  if (!PYTHON) return t.skip('no python3 for a POSIX record-lock user (scripts/test.js installs it on Debian)');
  const dir = tmpdir(t);
  const file = path.join(dir, 'm.lock');
  fs.writeFileSync(file, '');
  const linux = process.platform === 'linux';
  // 9< is read-only: an exclusive OFD lock needs write access, so it is flock(2) only:
  // flock(1) is excluded, lockf is not; --verbose says why.
  const out = path.join(dir, 'verbose');
  const ro = holdFd(t, file, '<', ['sh', '-c', `"$@" >'${out}'`, 'sh', ...FSLOCK, '--verbose']);
  assert.equal(await ro.entered, undefined);
  assert.equal((await flock(['-n', file, 'true'])).code, 1);
  assert.equal(lockfTry(file), 0);
  if (linux)
    assert.match(
      fs.readFileSync(out, 'utf8'),
      /flock\(2\) lock only: an OFD exclusive lock needs the descriptor open for writing/,
    );
  ro.leave();
  await ro.done;
  // 9> is write-only: the exclusive OFD lock is taken, lockf is excluded (Linux).
  const wo = holdFd(t, file, '>', FSLOCK);
  assert.equal(await wo.entered, undefined);
  assert.equal(lockfTry(file), linux ? 1 : 0);
  wo.leave();
  await wo.done;
  if (!linux) return;
  // A POSIX record lock held: fslock -n 9 takes flock(2), fails on the OFD lock (exit 1)
  // and drops flock(2) again: flock(1) gets in at once afterwards.
  const lockf = start([PYTHON, LOCKF, 'hold', file, dir]);
  await until(() => fs.existsSync(path.join(dir, 'entered')), 60_000, 'lockf');
  const f = holdFd(t, file, '>', [...FSLOCK, '-n']);
  assert.equal(await f.entered, 1);
  assert.equal((await flock(['-n', file, 'true'])).code, 0, 'fslock left flock(2) held after failing');
  fs.writeFileSync(path.join(dir, 'go'), '');
  assert.equal((await lockf.done).code, 0);
});

test("descriptor form: bad descriptors exit 65 as flock(1)'s; a word that is no number is usage (64)", async (t) => {
  if (noFlock) return t.skip(noFlock);
  if (!fdForm) {
    const r = await run(['9']);
    assert.equal(r.code, 65);
    assert.match(r.stderr, /ENOTSUP/);
    return;
  }
  // Descriptor 9 not open in the calling shell (Node may use the number itself).
  assert.equal((await flock(['9'])).code, 65);
  const closed = await run(['9']);
  assert.equal(closed.code, 65);
  assert.match(closed.stderr, /EBADF/);
  // Not a file or a directory: fslock refuses (flock(1) would lock the device).
  const dev = holdFd(t, '/dev/null', '>', FSLOCK);
  assert.equal(await dev.entered, 65);
  assert.equal((await run(['nine'])).code, 64);
  assert.equal((await flock(['nine'])).code, 64);
});

/** `LOCKER LOCKFILE sh -c ...` inside its section until leave(): a path-form critical section. */
function holdPath(t, locker, file) {
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'fslock-hold-'));
  const [inside, go] = [path.join(dir, 'in'), path.join(dir, 'go')];
  const script = `: > '${inside}'; i=0; while [ ! -e '${go}' ]; do i=$((i+1)); [ $i -gt 2400 ] && exit 9; sleep 0.05; done`;
  const child = start([...locker, file, 'sh', '-c', script]);
  t.after(async () => {
    fs.writeFileSync(go, '');
    await child.done.catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  });
  // Resolves once inside; rejects if the locker ends first (it could not lock).
  const ended = child.done.then((r) => {
    if (!fs.existsSync(inside)) throw new Error(`${locker.join(' ')} ${file} exited ${r.code}: ${r.stderr}`);
    return new Promise(() => {});
  });
  return {
    pid: child.pid,
    entered: Promise.race([until(() => fs.existsSync(inside), 60_000, `${locker.join(' ')} ${file}`), ended]),
    leave: () => fs.writeFileSync(go, ''),
    done: child.done,
  };
}

test('path form: fslock LOCKFILE and flock(1) LOCKFILE exclude each other, both ways; -H sees flock(1)', async (t) => {
  if (noFlock) return t.skip(noFlock);
  const dir = tmpdir(t);
  const file = path.join(dir, 'p.lock');
  if (!native) {
    // The fallback takes no kernel lock: flock(1) does not see it (README "Fallback backend").
    const h = holdPath(t, FSLOCK, file);
    await h.entered;
    assert.equal((await flock(['-n', file, 'true'])).code, 0);
    h.leave();
    await h.done;
    return;
  }
  for (const [holder, other] of [
    [FSLOCK, [FLOCK]],
    [[FLOCK], FSLOCK],
  ]) {
    const h = holdPath(t, holder, file);
    await h.entered;
    assert.equal((await start([...other, '-n', file, 'true']).done).code, 1, `${other[0]} -n got in`);
    assert.equal((await start([...other, '-w', '0.3', file, 'true']).done).code, 1);
    if (holder[0] === FLOCK) {
      const j = JSON.parse((await run(['-H', '--json', file])).stdout);
      assert.equal(j.locked, true);
      assert.equal(j.record, false);
      if (process.platform === 'linux') assert.equal(j.pid, h.pid, 'the pid /proc/locks gives: flock(1)');
      assert.match((await run(['-H', file])).stdout, /: locked \(exclusive\) by .*that left no record/);
    }
    const w = start([...other, file, 'true']);
    const early = await Promise.race([w.exited.then(() => 'ran'), new Promise((r) => setTimeout(r, 500, 'waiting'))]);
    assert.equal(early, 'waiting');
    h.leave();
    assert.equal((await w.done).code, 0);
    assert.equal((await h.done).code, 0);
  }
});

test('a directory: fslock DIR and flock(1) DIR lock the directory itself and exclude each other', async (t) => {
  if (noFlock) return t.skip(noFlock);
  if (!native) return t.skip('the fallback backend keeps its record beside a path: no kernel lock on the directory');
  const dir = tmpdir(t);
  const target = path.join(dir, 'cache');
  fs.mkdirSync(target);
  for (const [holder, other] of [
    [FSLOCK, [FLOCK]],
    [[FLOCK], FSLOCK],
  ]) {
    const h = holdPath(t, holder, target);
    await h.entered;
    assert.equal((await start([...other, '-n', target, 'true']).done).code, 1);
    h.leave();
    assert.equal((await h.done).code, 0);
  }
  assert.deepEqual(fs.readdirSync(target), [], 'something was created inside the directory');
});

test('-H --json for holders that left no record: the shape of lockHolder() (record false, only the known fields)', () => {
  const { toJson } = require('../dist/cjs/cli/cli-holder.js');
  const since = new Date('2026-01-02T03:04:05.000Z');
  const json = (h, locked) => JSON.parse(JSON.stringify(toJson(h, locked)));
  assert.deepEqual(
    json({ record: false, pid: 4121, name: 'flock', hostname: undefined, since: undefined, shared: false }, true),
    { locked: true, record: false, pid: 4121, name: 'flock', shared: false },
  );
  assert.deepEqual(json({ record: false, pid: undefined, hostname: undefined, since: undefined, shared: true }, true), {
    locked: true,
    record: false,
    shared: true,
  });
  assert.deepEqual(json({ record: true, pid: 7, hostname: 'h', since, shared: false }, true), {
    locked: true,
    record: true,
    pid: 7,
    hostname: 'h',
    since: '2026-01-02T03:04:05.000Z',
    shared: false,
  });
  assert.deepEqual(json(undefined, true), { locked: true, record: false });
  assert.deepEqual(json(undefined, false), { locked: false });
});
