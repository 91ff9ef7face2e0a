'use strict';
// The `fslock` command, run as users run it: a separate process per invocation.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { fslock, native, tmpdir, within, until, spawnFixture } = require('./helpers');

const BIN = path.join(__dirname, '..', 'bin', 'fslock.js');
const CMD = path.join(__dirname, 'fixtures', 'cli-cmd.js');

/** Runs `fslock args...`; resolves with {code, signal, stderr, stdout, ms}. */
function fslockCli(args, opts = {}) {
  const started = Date.now();
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: Date.now() - started })),
  );
  child.done = within(done, 120_000, `fslock ${args.join(' ')}`);
  // 'close' waits for every holder of the output pipes, grandchildren included; 'exit'
  // is fslock's own end.
  child.exited = within(new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))), 120_000);
  return child;
}
const run = (args, opts) => fslockCli(args, opts).done;
const node = (...a) => [process.execPath, CMD, ...a];

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
  assert.deepEqual(fs.readdirSync(dir).sort(), ['log'], 'the lock file was left behind');
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
  assert.match(n.stderr, /ELOCKED/);
  assert.match(n.stderr, new RegExp(`pid ${holder.pid}`), 'the holder is named');
  assert.equal((await run(['--nonblock', '-E', '7', lockFile, 'true'])).code, 7);
  assert.equal((await run(['-n', '-q', lockFile, 'true'])).stderr, '', '-q keeps quiet');
  const w = await run(['-w', '0.3', lockFile, 'true']);
  assert.equal(w.code, 1);
  assert.match(w.stderr, /ETIMEDOUT/);
  assert.ok(w.ms >= 290, `gave up after ${w.ms} ms, before the 300 ms timeout`);
  assert.equal((await run(['--timeout=0.1', '--conflict-exit-code=9', lockFile, 'true'])).code, 9);
  // A long wait says whom it waits for (after 1 s), then runs once the lock is free.
  const waiting = fslockCli([lockFile, 'true']);
  let said = '';
  waiting.stderr.on('data', (d) => (said += d));
  await until(() => said.includes('waiting for'), 30_000, 'the waiting notice');
  assert.match(said, new RegExp(`held by pid ${holder.pid} on `));
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
  assert.match(version.stdout, new RegExp(`^fslock ${require('../package.json').version} \\((native|fallback) backend\\)`));
  for (const bad of [[], ['only-a-file'], ['-w'], ['-w', 'soon', 'f', 'true'], ['-E', '300', 'f', 'true'], ['--frobnicate', 'f', 'true']]) {
    const r = await run(bad);
    assert.equal(r.code, 64, `fslock ${bad.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /Usage:/);
  }
});

test('a killed fslock releases the lock', async (t) => {
  const dir = tmpdir(t);
  const lockFile = path.join(dir, 'k.lock');
  const pidFile = path.join(dir, 'cmd.pid');
  const cli = fslockCli([lockFile, ...node('pid', pidFile)]);
  await until(() => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8') !== '', 30_000, 'the command to start');
  const cmdPid = Number(fs.readFileSync(pidFile, 'utf8'));
  // The command outlives a killed fslock (it is not fslock's to kill): ended here.
  t.after(() => {
    try {
      process.kill(cmdPid, 'SIGKILL');
    } catch {}
  });
  await until(() => fslock.isLocked(lockFile), 30_000, 'the lock to be held');
  cli.kill('SIGKILL');
  assert.equal((await cli.exited).signal, 'SIGKILL');
  // Native: the kernel drops the lock with the process. Fallback: the dead holder's
  // record is reclaimed on the next poll (same host).
  const l = await fslock.lock(lockFile, { timeout: 30_000 });
  await l.release();
});

