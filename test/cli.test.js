'use strict';
// The `fslock` command, run as users run it: a separate process per invocation.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const {
  fslock,
  native,
  tmpdir,
  within,
  until,
  spawnFixture,
  rejectsWith,
  keptLockFiles,
  assertFree,
} = require('./helpers');

const { BIN, fslockCli, run, start } = require('./fixtures/cli-util');
const CMD = path.join(__dirname, 'fixtures', 'cli-cmd.js');
const node = (...a) => [process.execPath, CMD, ...a];
/** `s` as a regular expression that matches it literally. */
const re = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function holdLock(t, file) {
  const h = spawnFixture(t, 'holder.js', [file, 'exclusive']);
  await h.next('granted');
  return h;
}

test('concurrent invocations serialize: enter/leave never interleave', async (t) => {
  const dir = tmpdir(t);
  const log = path.join(dir, 'log');
  const lockFile = path.join(dir, 'job.lock');
  const runs = await Promise.all(Array.from({ length: 6 }, () => run([lockFile, '--', ...node('log', log)])));
  for (const r of runs) assert.equal(r.code, 0, r.stderr);
  const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
  assert.equal(lines.length, 12);
  for (let i = 0; i < lines.length; i += 2) {
    const [a, pa] = lines[i].split(' ');
    const [b, pb] = lines[i + 1].split(' ');
    assert.deepEqual([a, b, pa], ['enter', 'leave', pb], `interleaved at line ${i}: ${lines.join(' | ')}`);
  }
  // The lock file stays, free, as flock(1)'s does (native; the fallback removes it).
  assert.deepEqual(fs.readdirSync(dir).sort(), keptLockFiles(dir, ['job.lock', 'log']));
  assertFree(lockFile);
});

test('-s: shared invocations run together (fallback: one at a time)', async (t) => {
  const dir = tmpdir(t);
  const log = path.join(dir, 'log');
  const lockFile = path.join(dir, 'read.lock');
  if (native) {
    // Each waits until all three have entered: only possible if they hold the lock at once.
    const runs = await Promise.all(Array.from({ length: 3 }, () => run(['-s', lockFile, ...node('peers', log, '3')])));
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
  } else {
    // The fallback takes shared locks exclusively (README "Fallback backend"): shared
    // invocations serialize there.
    const runs = await Promise.all(Array.from({ length: 3 }, () => run(['-s', lockFile, ...node('log', log)])));
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
    for (let i = 0; i < lines.length; i += 2) assert.deepEqual([lines[i][0], lines[i + 1][0]], ['e', 'l']);
  }
  assert.equal(fs.readFileSync(log, 'utf8').trim().split('\n').length, 6);
});

test('-n and -w: exit 1 (or -E N) when the lock is held; who holds it is said', async (t) => {
  const dir = tmpdir(t);
  const lockFile = path.join(dir, 'busy.lock');
  const holder = await holdLock(t, lockFile);
  const n = await run(['-n', lockFile, 'true']);
  assert.equal(n.code, 1);
  // The messages name the command's options (-n, -w), not the library's, and the holder.
  const who = `pid ${holder.pid} \\(holder\\.js\\)`;
  const since = `on ${re(os.hostname())} since [\\d:-]+( [\\d:]+)?`;
  const at = `lock '${re(lockFile)}'`;
  assert.match(
    n.stderr,
    new RegExp(
      `^fslock: ELOCKED: lock is held by ${who} ${since}, and -n was given: try again later or wait for it \\(with a timeout\\), or find out why ${who} holds it, ${at}\n$`,
    ),
  );
  assert.doesNotMatch(n.stderr, /options\./);
  assert.equal((await run(['--nonblock', '-E', '7', lockFile, 'true'])).code, 7);
  assert.equal((await run(['-n', '-q', lockFile, 'true'])).stderr, '', '-q keeps quiet');
  const w = await run(['-w', '0.3', lockFile, 'true']);
  assert.equal(w.code, 1);
  assert.match(
    w.stderr,
    new RegExp(
      `^fslock: ETIMEDOUT: lock not acquired within 300 ms \\(-w\\), held by ${who} ${since}; raise -w, or find out why ${who} holds it, ${at}\n$`,
    ),
  );
  assert.ok(w.ms >= 290, `gave up after ${w.ms} ms, before the 300 ms timeout`);
  assert.equal((await run(['--timeout=0.1', '--conflict-exit-code=9', lockFile, 'true'])).code, 9);
  // A long wait says whom it waits for (after 1 s), then runs once the lock is free.
  const waiting = fslockCli([lockFile, 'true']);
  let said = '';
  waiting.stderr.on('data', (d) => (said += d));
  await until(() => said.includes('waiting for'), 30_000, 'the waiting notice');
  assert.match(said, new RegExp(`held by pid ${holder.pid} \\(holder\\.js\\) on `), 'the holder and its name');
  holder.send({ type: 'release' });
  const r = await waiting.done;
  assert.equal(r.code, 0);
});

test("flock(1)'s option forms: bundled flags and attached values", async (t) => {
  const dir = tmpdir(t);
  const lockFile = path.join(dir, 'b.lock');
  const log = path.join(dir, 'log');
  const ok = await run(['-xn', lockFile, ...node('log', log)]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(fs.readFileSync(log, 'utf8').trim().split('\n').length, 2);
  const holder = await holdLock(t, lockFile);
  assert.equal((await run(['-xnE3', lockFile, 'true'])).code, 3);
  assert.equal((await run(['-nqE', '4', lockFile, 'true'])).code, 4);
  const w = await run(['-ow0.2', lockFile, 'true']);
  assert.equal(w.code, 1);
  assert.match(w.stderr, /ETIMEDOUT/);
  assert.equal((await run(['-nz', lockFile, 'true'])).code, 64);
  holder.send({ type: 'release' });
});

test('Ctrl-C while waiting: gives up with 130, the command never runs', async (t) => {
  const dir = tmpdir(t);
  const lockFile = path.join(dir, 'i.lock');
  const log = path.join(dir, 'log');
  const holder = await holdLock(t, lockFile);
  const waiting = fslockCli([lockFile, ...node('log', log)]);
  let said = '';
  waiting.stderr.on('data', (d) => (said += d));
  await until(() => said.includes('waiting for'), 30_000, 'the waiting notice');
  waiting.kill('SIGINT');
  const r = await waiting.done;
  assert.equal(r.code, 130);
  assert.equal(fs.existsSync(log), false, 'the command ran');
  // The holder still has the lock: the interrupted waiter took nothing.
  assert.equal((await run(['-n', '-q', lockFile, 'true'])).code, 1);
  holder.send({ type: 'release' });
});

test('exit status and signals pass through', async (t) => {
  const dir = tmpdir(t);
  const lockFile = path.join(dir, 'x.lock');
  assert.equal((await run([lockFile, process.execPath, '-e', 'process.exit(3)'])).code, 3);
  assert.equal((await run([lockFile, '--', 'sh', '-c', 'kill -TERM $$'])).code, 128 + 15);
  assert.equal((await run([lockFile, '--', 'sh', '-c', 'kill -KILL $$'])).code, 128 + 9);
  assert.equal((await run([lockFile, 'definitely-not-a-command-fslock'])).code, 127);
  // SIGTERM to fslock reaches the command, which decides the exit status.
  const log = path.join(dir, 'term.log');
  const cli = fslockCli([lockFile, ...node('term', log)]);
  await until(() => fs.existsSync(`${log}.ready`), 30_000, 'the command to start');
  cli.kill('SIGTERM');
  const r = await cli.done;
  assert.equal(r.code, 0);
  assert.equal(fs.readFileSync(log, 'utf8'), 'got SIGTERM\n');
  assert.equal(await fslock.isLocked(lockFile), false);
});

test('usage: --help, --version, bad options exit 64', async () => {
  const help = await run(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: fslock \[options\] LOCKFILE/);
  const version = await run(['-V']);
  assert.match(
    version.stdout,
    new RegExp(`^fslock ${require('../package.json').version} \\((native|fallback) backend\\)`),
  );
  for (const bad of [
    [],
    ['only-a-file'],
    ['-w'],
    ['-w', 'soon', 'f', 'true'],
    ['-E', '300', 'f', 'true'],
    ['--frobnicate', 'f', 'true'],
  ]) {
    const r = await run(bad);
    assert.equal(r.code, 64, `fslock ${bad.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /Usage:/);
  }
});

const COUNT = path.join(__dirname, 'fixtures', 'cli-count.js');
const count = (log) => [process.execPath, COUNT, log];

/** Starts `fslock args... cli-count LOG` (detached: its own process group); waits until the command counts. */
async function startCounting(t, args, dir, opts = {}) {
  const log = path.join(dir, `count-${Math.random().toString(36).slice(2)}.log`);
  const cli = fslockCli([...args, ...count(log)], { detached: true, ...opts });
  await until(
    () => fs.existsSync(`${log}.ready`) && fs.readFileSync(`${log}.ready`, 'utf8') !== '',
    60_000,
    'the command to start',
  );
  const [pid, fd3] = fs.readFileSync(`${log}.ready`, 'utf8').split(' ');
  const cmdPid = Number(pid);
  t.after(() => {
    for (const p of [cmdPid, cli.pid]) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {}
    }
  });
  const lines = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);
  const stop = () => fs.writeFileSync(`${log}.stop`, '');
  return { cli, cmdPid, fd3, log, lines, stop };
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
};

test('fslock killed (SIGKILL) while its command runs: the command keeps the lock until it ends (both backends)', async (t) => {
  const dir = tmpdir(t);
  const lockFile = path.join(dir, 'k.lock');
  const c = await startCounting(t, [lockFile], dir);
  // Native: the command inherited the locked descriptor (fd 3), as under flock(1).
  // Fallback: no descriptor; the command's pid is a co-holder in the lock file.
  assert.equal(c.fd3, native ? String(fs.statSync(lockFile).ino) : 'none');
  c.cli.kill('SIGKILL');
  assert.equal((await c.cli.exited).signal, 'SIGKILL');
  assert.ok(alive(c.cmdPid), 'the command died with fslock');
  // Nobody else gets in while the command runs: not a second fslock, not lock().
  const second = await run(['-n', lockFile, 'true']);
  assert.equal(second.code, 1, second.stderr);
  await rejectsWith(fslock.lock(lockFile, { wait: false }), { code: 'ELOCKED' });
  assert.equal(await fslock.isLocked(lockFile), true);
  if (!native) {
    // The fallback's record names the command as a co-holder: -H says so.
    const h = await run(['-H', '--json', lockFile]);
    assert.equal(h.code, 0, h.stderr);
    assert.equal(JSON.parse(h.stdout).pid, c.cmdPid);
  }
  // A waiter gets the lock once the command ends (SIGKILL: no release of its own).
  const waiter = fslock.lock(lockFile, { timeout: 60_000 });
  process.kill(c.cmdPid, 'SIGKILL');
  const l = await waiter;
  await l.release();
});

test('fslock killed by SIGQUIT / SIGUSR2 / SIGALRM no more: passed on to the command, fslock ends with its status', async (t) => {
  const dir = tmpdir(t);
  const lockFile = path.join(dir, 'q.lock');
  const c = await startCounting(t, [lockFile], dir);
  for (const sig of ['SIGQUIT', 'SIGUSR2', 'SIGALRM']) {
    c.cli.kill(sig);
    await until(() => c.lines().includes(sig), 60_000, `${sig} to reach the command`);
  }
  assert.equal(c.cli.exitCode, null, 'fslock ended');
  assert.equal(await fslock.isLocked(lockFile), true);
  c.stop();
  const r = await c.cli.done;
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(c.lines(), ['SIGQUIT', 'SIGUSR2', 'SIGALRM']);
  assert.equal(await fslock.isLocked(lockFile), false);
});

test('-o/--close: the command does not share the lock; a killed fslock releases it although the command runs', async (t) => {
  const dir = tmpdir(t);
  const lockFile = path.join(dir, 'o.lock');
  const c = await startCounting(t, ['-o', lockFile], dir);
  assert.equal(c.fd3, 'none');
  c.cli.kill('SIGKILL');
  await c.cli.exited;
  assert.ok(alive(c.cmdPid));
  // Native: the kernel dropped the lock with fslock. Fallback: its dead record is
  // reclaimed on the next poll (same host).
  const l = await fslock.lock(lockFile, { timeout: 60_000 });
  await l.release();
});

/** Child pids of `pid` (Linux: /proc/PID/task/TID/children). */
function childrenOf(pid) {
  try {
    return fs
      .readdirSync(`/proc/${pid}/task`)
      .flatMap((tid) => fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/))
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** Whether a signal sent to `pid` has not been delivered yet (SigPnd/ShdPnd of /proc). */
function signalPending(pid) {
  let status;
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return false; // gone
  }
  return /^(SigPnd|ShdPnd):\s*0*[1-9a-f]/m.test(status);
}

/** Pids of the processes in process group `pgid` (Linux: /proc/PID/stat field 5). */
function groupOf(pgid) {
  return fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .filter((pid) => {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === pgid;
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

test("the signal witness: one more member of the group, holding none of fslock's descriptors, reaped by fslock before it exits, gone with fslock when fslock is killed", async (t) => {
  if (process.platform !== 'linux') return t.skip('Linux: /proc shows process groups and descriptors');
  const dir = tmpdir(t);
  const lockFile = path.join(dir, 'wit.lock');
  for (const kill of [false, true]) {
    const c = await startCounting(t, [lockFile], dir);
    const pgid = c.cli.pid;
    const witnesses = childrenOf(pgid).filter((p) => p !== c.cmdPid);
    assert.equal(witnesses.length, 1, `children of fslock: ${childrenOf(pgid)}`);
    const [w] = witnesses;
    assert.deepEqual(groupOf(pgid).sort(), [pgid, c.cmdPid, w].sort());
    if (native) {
      // The forked witness: two pipes, nothing else (not the lock file, not fslock's output).
      const fds = fs.readdirSync(`/proc/${w}/fd`).map((fd) => fs.readlinkSync(`/proc/${w}/fd/${fd}`));
      assert.equal(fds.length, 2, fds.join(' '));
      for (const f of fds) assert.match(f, /^pipe:/);
    }
    if (kill) {
      c.cli.kill('SIGKILL');
      await c.cli.exited;
      // The witness sees its pipe close and ends; the command runs on, holding the lock.
      await until(
        () => !alive(w) || fs.readFileSync(`/proc/${w}/stat`, 'utf8').includes(') Z '),
        60_000,
        'the witness to end',
      );
      assert.deepEqual(
        groupOf(pgid).filter((p) => p !== w),
        [c.cmdPid],
      );
      assert.equal(await fslock.isLocked(lockFile), true);
      process.kill(c.cmdPid, 'SIGKILL');
    } else {
      c.stop();
      assert.equal((await c.cli.done).code, 0);
      // fslock waited for its witness and reaped it: nothing of fslock's is left to init
      // (an orphan for a moment, or a zombie under a parent that reaps no strangers).
      assert.equal(fs.existsSync(`/proc/${w}`), false, 'the witness outlived fslock');
      await until(() => groupOf(pgid).length === 0, 60_000, 'every process of the group to end');
    }
  }
});

test('signals: one sent to the process group reaches the command once; one sent to fslock alone is passed on once', async (t) => {
  if (process.platform === 'win32') return t.skip('POSIX process groups');
  const dir = tmpdir(t);
  const lockFile = path.join(dir, 'g.lock');
  const c = await startCounting(t, [lockFile], dir);
  const pgid = c.cli.pid; // detached: fslock leads its own group, the command is in it
  const expected = [];
  // Two signals of one kind sent before a process has taken the first are one signal to
  // it (signal(7): standard signals do not queue). So each send waits until fslock, the
  // witness and the command have all been handed it (nothing pending in /proc), as a
  // person pressing Ctrl-C twice does not do within microseconds on a loaded machine.
  const group = () => [pgid, ...childrenOf(pgid)];
  const send = async (target, sig) => {
    process.kill(target, sig);
    expected.push(sig);
    await until(() => c.lines().length >= expected.length, 60_000, `${sig} to reach the command`);
    await until(() => group().every((p) => !signalPending(p)), 60_000, `${sig} to be taken by every process`);
  };
  // The terminal's Ctrl-C (twice), Ctrl-\ and hangup, a supervisor's kill of the job:
  // all go to the whole group.
  for (const sig of ['SIGINT', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGTERM', 'SIGUSR2', 'SIGALRM']) await send(-pgid, sig);
  // To fslock alone (kill PID, docker stop, a parent process): passed on.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) await send(pgid, sig);
  // fslock decides in order: once a last signal sent to it alone has been passed on,
  // any duplicate of an earlier one would have reached the command before it.
  await send(pgid, 'SIGUSR2');
  c.stop();
  const r = await c.cli.done;
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(c.lines().sort(), expected.sort(), 'a signal reached the command twice (or not at all)');
});

test('-w takes any number of seconds: -w 2200000 and -w 1e300 wait (no timer overflow)', async (t) => {
  const dir = tmpdir(t);
  const lockFile = path.join(dir, 'w.lock');
  const holder = await holdLock(t, lockFile);
  const log = path.join(dir, 'log');
  const waits = [
    fslockCli(['-w', '2200000', lockFile, ...node('log', log)]),
    fslockCli(['-w1e300', '-q', lockFile, ...node('log', log)]),
  ];
  // The overflow made it give up at once; it must still wait after a while.
  const early = await Promise.race([
    Promise.all(waits.map((w) => w.exited)).then(() => 'exited'),
    new Promise((r) => setTimeout(() => r('waiting'), 1500)),
  ]);
  assert.equal(early, 'waiting');
  holder.send({ type: 'release' });
  for (const w of waits) {
    const r = await w.done;
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /ETIMEDOUT|TimeoutOverflow/);
  }
  assert.equal(fs.readFileSync(log, 'utf8').trim().split('\n').length, 4);
});

test('-H/--holder: who holds a lock, or "not locked"; exit 0 / 1 / 2; takes and creates nothing', async (t) => {
  const dir = tmpdir(t);
  const lockFile = path.join(dir, 'h.lock');
  const free = await run(['-H', lockFile]);
  assert.equal(free.code, 1, free.stderr);
  assert.equal(free.stdout, `${lockFile}: not locked\n`);
  assert.deepEqual(JSON.parse((await run(['--holder', '--json', lockFile])).stdout), { locked: false });
  assert.equal(fs.existsSync(lockFile), false, '-H created the lock file');
  const holder = await holdLock(t, lockFile);
  const held = await run(['-H', lockFile]);
  assert.equal(held.code, 0, held.stderr);
  assert.match(
    held.stdout,
    new RegExp(
      `^${lockFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: locked \\(exclusive\\) by pid ${holder.pid} \\(holder\\.js\\) on ${require('node:os').hostname()} since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\n$`,
    ),
  );
  const j = JSON.parse((await run(['-H', '--json', lockFile])).stdout);
  assert.deepEqual(
    { ...j, since: typeof j.since },
    {
      locked: true,
      pid: holder.pid,
      hostname: require('node:os').hostname(),
      since: 'string',
      shared: false,
      record: true,
      name: 'holder.js',
    },
  );
  assert.ok(Math.abs(Date.parse(j.since) - Date.now()) < 600_000);
  // It took nothing: the holder still holds, and releases normally.
  assert.equal((await run(['-n', '-q', lockFile, 'true'])).code, 1);
  holder.send({ type: 'release' });
  await holder.next('released');
  assert.equal((await run(['-H', lockFile])).code, 1);
  // The holder of a running fslock: native, that fslock (its record); fallback, the
  // command (its co-holder record is the newest). Shared holders say so.
  const s = await startCounting(t, ['-s', lockFile], dir);
  const hs = JSON.parse((await run(['-H', '--json', lockFile])).stdout);
  assert.equal(hs.pid, native ? s.cli.pid : s.cmdPid);
  assert.equal(hs.shared, true);
  s.stop();
  await s.cli.done;
  // A directory is locked as itself (native); the fallback sees its kernel holders on
  // Linux (/proc/locks) and cannot tell elsewhere: exit 2, the error on stderr.
  const sub = path.join(dir, 'a-directory');
  fs.mkdirSync(sub);
  const err = await run(['-H', sub]);
  if (native ? process.platform !== 'win32' : process.platform === 'linux') {
    assert.equal(err.code, 1, `${err.stdout}${err.stderr}`);
    assert.match(err.stdout, /not locked/);
  } else {
    assert.equal(err.code, 2, `${err.stdout}${err.stderr}`);
    assert.match(err.stderr, native ? /EISDIR/ : /ENOTSUP/);
  }
  // Usage: no command with -H, --json only with -H.
  assert.equal((await run(['-H', lockFile, 'true'])).code, 64);
  assert.equal((await run(['--json', lockFile, 'true'])).code, 64);
});

test('-H after a crash: the kept file still names the holder SIGKILLed while holding it: "not locked", the stale record shown; exit 1', async (t) => {
  const dir = tmpdir(t);
  const lockFile = path.join(dir, 'crash.lock');
  const holder = await holdLock(t, lockFile);
  holder.kill('SIGKILL');
  assert.equal((await holder.exited()).signal, 'SIGKILL');
  assert.match(
    fs.readFileSync(lockFile, 'utf8'),
    new RegExp(`"pid":${holder.pid}\\b`),
    'cat LOCKFILE names the dead holder',
  );
  const r = await run(['-H', lockFile]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stdout,
    new RegExp(
      `^${re(lockFile)}: not locked; its record names pid ${holder.pid} \\(holder\\.js\\) on ${re(os.hostname())} since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z, which is gone \\(stale\\)\n$`,
    ),
  );
  const j = await run(['-H', '--json', lockFile]);
  assert.equal(j.code, 1, j.stderr);
  const o = JSON.parse(j.stdout);
  assert.deepEqual(
    { ...o, stale: { ...o.stale, since: typeof o.stale.since } },
    { locked: false, stale: { pid: holder.pid, hostname: os.hostname(), since: 'string', name: 'holder.js' } },
  );
  assert.ok(Math.abs(Date.parse(o.stale.since) - Date.now()) < 600_000);
  // The next holder takes it over (the kernel lock went with the dead process; the
  // fallback reclaims the dead pid's record) and, released cleanly, leaves nothing stale.
  const next = await run(['-n', lockFile, 'true']);
  assert.equal(next.code, 0, next.stderr);
  const after = await run(['-H', '--json', lockFile]);
  assert.equal(after.code, 1, after.stderr);
  assert.deepEqual(JSON.parse(after.stdout), { locked: false });
});

test("descriptor form: -n and -w name themselves and the holder, not the library's options", async (t) => {
  if (!native || process.platform === 'win32') return t.skip('descriptor locks need the native backend on POSIX');
  const dir = tmpdir(t);
  const lockFile = path.join(dir, 'fd.lock');
  const holder = await holdLock(t, lockFile);
  // `fslock ARGS 9` with 9 opened on the lock file by the shell, as scripts do (>>: the
  // holder's record stays).
  const fd = (...args) =>
    start(['sh', '-c', 'exec "$0" "$@" 9>>"$LOCKFILE"', process.execPath, BIN, ...args, '9'], {
      env: { ...process.env, LOCKFILE: lockFile },
    }).done;
  const n = await fd('-n');
  assert.equal(n.code, 1, n.stderr);
  assert.equal(
    n.stderr,
    `fslock: ELOCKED: lock is held, and -n was given: try again later or wait for it (with a timeout), lock 'fd 9' (${lockFile})\n`,
  );
  const w = await fd('-w', '0.3');
  assert.equal(w.code, 1, w.stderr);
  // The holder as the kernel tells it (/proc/locks: its pid; no record is read from a
  // descriptor), on Linux; elsewhere no holder is known.
  const who =
    process.platform === 'linux'
      ? `, held by pid ${holder.pid} \\([^)]+\\) on ${re(os.hostname())}, which left no record \\([^)]+\\); raise -w, or find out why pid ${holder.pid} \\([^)]+\\) holds it`
      : '; raise -w, or find out who holds it';
  assert.match(
    w.stderr,
    new RegExp(
      `^fslock: ETIMEDOUT: lock not acquired within 300 ms \\(-w\\)${who}, lock 'fd 9'( \\(${re(lockFile)}\\))?\n$`,
    ),
  );
});

test('background processes the command leaves behind do not keep the lock once fslock released it (native)', async (t) => {
  if (!native || process.platform === 'win32')
    return t.skip('native POSIX: only there does the command get the descriptor');
  const dir = tmpdir(t);
  const lockFile = path.join(dir, 'bg.lock');
  const bgPid = path.join(dir, 'bg.pid');
  const go = path.join(dir, 'go');
  // The command starts a background process that inherits its descriptors (fd 3, the
  // lock, included) and outlives it.
  const script = `sleep 600 >/dev/null 2>&1 & echo $! > '${bgPid}'; while [ ! -e '${go}' ]; do sleep 0.05; done`;
  const a = fslockCli([lockFile, 'sh', '-c', script]);
  await until(
    () => fs.existsSync(bgPid) && fs.readFileSync(bgPid, 'utf8').trim() !== '',
    60_000,
    'the background process',
  );
  const bg = Number(fs.readFileSync(bgPid, 'utf8'));
  t.after(() => {
    try {
      process.kill(bg, 'SIGKILL');
    } catch {}
  });
  // A second fslock queues for the lock meanwhile.
  const b = fslockCli([lockFile, 'true']);
  let said = '';
  b.stderr.on('data', (d) => (said += d));
  await until(() => said.includes('waiting for'), 60_000, 'the second fslock to wait');
  fs.writeFileSync(go, '');
  assert.equal((await a.exited).code, 0);
  // fslock released: the lock is free for everyone, although the background process
  // still has a copy of the descriptor (flock(1) leaves it the lock; fslock removes
  // the file on release, so it must also drop the lock for every copy, or a waiter
  // queued on the old file would wait for the background process).
  assert.ok(alive(bg));
  const r = await within(b.done, 30_000, 'the queued fslock');
  assert.equal(r.code, 0, r.stderr);
});

test('Ctrl-C typed on a real terminal reaches the command once (a pseudo-terminal, its line discipline signals the group)', async (t) => {
  if (process.platform === 'win32') return t.skip('POSIX terminals');
  const python = ['python3', 'python'].find(
    (p) => require('node:child_process').spawnSync(p, ['--version']).status === 0,
  );
  if (!python) return t.skip('no python3 to open a pseudo-terminal with (node-gyp needs one; this machine has none)');
  const dir = tmpdir(t);
  const lockFile = path.join(dir, 'tty.lock');
  const log = path.join(dir, 'count.log');
  const pty = spawn(
    python,
    [path.join(__dirname, 'fixtures', 'cli-pty.py'), process.execPath, BIN, lockFile, ...count(log)],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  let out = '';
  pty.stdout.on('data', (d) => (out += d));
  t.after(() => pty.kill('SIGKILL'));
  await until(() => /^\d+\n/.test(out), 60_000, 'the terminal');
  const fslockPid = Number(out.split('\n')[0]);
  t.after(() => {
    try {
      process.kill(fslockPid, 'SIGKILL');
    } catch {}
  });
  await until(
    () => fs.existsSync(`${log}.ready`) && fs.readFileSync(`${log}.ready`, 'utf8') !== '',
    60_000,
    'the command',
  );
  const lines = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);
  // A person's two Ctrl-Cs are far apart for the machine: each is taken by fslock, the
  // witness and the command before the next (standard signals do not queue).
  for (let i = 1; i <= 2; i++) {
    pty.stdin.write('c\n');
    await until(() => lines().length >= i, 60_000, `Ctrl-C #${i} to reach the command`);
    await until(
      () => [fslockPid, ...childrenOf(fslockPid)].every((p) => !signalPending(p)),
      60_000,
      `Ctrl-C #${i} to be taken by every process`,
    );
  }
  // A last signal to fslock alone is passed on after any duplicate would have been.
  process.kill(fslockPid, 'SIGUSR2');
  await until(() => lines().includes('SIGUSR2'), 60_000, 'SIGUSR2 to be passed on');
  fs.writeFileSync(`${log}.stop`, '');
  // The terminal may hand over 'exit ' and the status in two reads: wait for the line.
  await until(() => /exit \d+\n/.test(out), 60_000, 'fslock to end');
  assert.match(out, /exit 0\n/);
  assert.deepEqual(lines(), ['SIGINT', 'SIGINT', 'SIGUSR2'], 'each Ctrl-C must reach the command exactly once');
});
