'use strict';
// Shared by the test files: temp dirs, fixture processes that report over IPC, and
// bounded waits (generous limits: the suite runs on slow, busy 2-core machines).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { fork } = require('node:child_process');

const fslock = require('fslock');
const native = fslock.backend === 'native';
const LIMIT = 60_000;

function tmpdir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fslock-test-'));
  t.after(() => {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch (e) {
      // Windows cannot remove a directory whose files a later after-hook still has
      // open (they are only "delete pending"): try again when the process exits.
      if (process.platform !== 'win32') throw e;
      process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 }));
    }
  });
  return dir;
}

/** Rejects if `promise` has not settled within `ms` (a hang becomes a failure). */
function within(promise, ms = LIMIT, what = 'operation') {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Polls `cond` (for tests only) until true, failing after `ms`. */
async function until(cond, ms = LIMIT, what = 'condition') {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what} not reached within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * A forked fixture process with a message queue: `next(type)` resolves with the next
 * message of that type. Killed at the end of the test if still running.
 */
function spawnFixture(t, name, args = [], opts = {}) {
  const child = fork(path.join(__dirname, 'fixtures', name), args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...opts.env },
  });
  const queue = [];
  const waiters = [];
  child.on('message', (m) => {
    const i = waiters.findIndex((w) => w.type === m.type);
    if (i >= 0) waiters.splice(i, 1)[0].resolve(m);
    else queue.push(m);
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.next = (type, ms = LIMIT) => {
    const i = queue.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(queue.splice(i, 1)[0]);
    return within(new Promise((resolve) => waiters.push({ type, resolve })), ms, `message '${type}' from ${name}`);
  };
  child.exited = (ms = LIMIT) => within(exited, ms, `exit of ${name}`);
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

/**
 * Open descriptors of this process (Linux: /proc/self/fd). Windows has no handle list
 * reachable from JavaScript (and under Wine /proc is the Unix side's): there it is
 * null, so fd-leak assertions compare null with null and only POSIX runs check leaks.
 */
function openFds() {
  return process.platform === 'win32' ? null : fs.readdirSync('/proc/self/fd').length;
}

async function rejectsWith(promise, props) {
  try {
    await promise;
  } catch (e) {
    for (const [k, v] of Object.entries(props)) {
      if (e[k] !== v) throw new Error(`expected ${k}=${v}, got ${e[k]} (${e.message})`);
    }
    return e;
  }
  throw new Error(`expected a rejection with ${JSON.stringify(props)}`);
}

function throwsWith(fn, props) {
  try {
    fn();
  } catch (e) {
    for (const [k, v] of Object.entries(props)) {
      if (e[k] !== v) throw new Error(`expected ${k}=${v}, got ${e[k]} (${e.message})`);
    }
    return e;
  }
  throw new Error(`expected a throw with ${JSON.stringify(props)}`);
}

const NOBODY = 65534;
let nobodyRoot;

/**
 * A copy of the built package that the user `nobody` can load: `<dir>/node_modules/fslock`
 * (package.json, dist/, the binary this process loads) and its runtime dependency
 * node-gyp-build, in a fresh directory under os.tmpdir() that everyone may enter. The
 * checkout itself may live where `nobody` cannot go (root's home, a `mktemp -d`
 * directory). Made once per test process, removed when it exits.
 */
function nobodyPackage() {
  if (nobodyRoot) return nobodyRoot;
  const repo = path.join(__dirname, '..');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fslock-nobody-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const pkg = path.join(dir, 'node_modules', 'fslock');
  fs.mkdirSync(pkg, { recursive: true });
  fs.copyFileSync(path.join(repo, 'package.json'), path.join(pkg, 'package.json'));
  fs.cpSync(path.join(repo, 'dist'), path.join(pkg, 'dist'), { recursive: true });
  let binary;
  try {
    binary = require('node-gyp-build').resolve(repo);
  } catch {
    binary = undefined; // no binary: the child runs the fallback, like this process
  }
  if (binary) {
    const to = path.join(pkg, path.relative(repo, binary));
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(binary, to);
  }
  const gypBuild = path.dirname(require.resolve('node-gyp-build/package.json'));
  fs.cpSync(gypBuild, path.join(dir, 'node_modules', 'node-gyp-build'), { recursive: true });
  // mkdtemp makes 0700 directories; the copy's files keep the checkout's modes (0644/0755).
  fs.chmodSync(dir, 0o755);
  nobodyRoot = dir;
  return dir;
}

/**
 * Runs `node -e code ...args` as the user `nobody` (uid/gid 65534; the caller must be
 * root) and returns its stdout. In `code`, `require('fslock')` and
 * `require('fslock/write-file-atomic')` load the copy from nobodyPackage(): the
 * unprivileged process needs nothing from the checkout. FSLOCK_BACKEND is passed on.
 */
function runAsNobody(code, args = [], opts = {}) {
  const { execFileSync } = require('node:child_process');
  return execFileSync(process.execPath, ['-e', code, ...args], {
    cwd: nobodyPackage(),
    uid: NOBODY,
    gid: NOBODY,
    timeout: LIMIT,
    encoding: 'utf8',
    ...opts,
  });
}

const stress = process.env.FSLOCK_STRESS === '1';

/** The lock file fslock leaves when nobody holds it: its header line alone. */
const FREE = '{"fslock":2}\n';

/**
 * Asserts that a lock file fslock created is left free with the backend's default
 * `keep`: native, in place (as flock(1)'s) holding the header alone — no record of a
 * holder, nothing else; fallback, removed.
 */
function assertFree(file, message = native ? 'the lock file stays, holding its header alone' : 'removed') {
  const assert = require('node:assert/strict');
  if (native) assert.equal(fs.readFileSync(file, 'utf8'), FREE, message);
  else assert.equal(fs.existsSync(file), false, message);
}

/** The names a directory holds besides the lock files the native backend keeps (`x.lock`, free). */
function keptLockFiles(dir, names) {
  return native ? names : names.filter((n) => !n.endsWith('.lock'));
}

module.exports = {
  assertFree,
  keptLockFiles,
  FREE,
  fslock,
  native,
  tmpdir,
  within,
  until,
  spawnFixture,
  openFds,
  rejectsWith,
  throwsWith,
  stress,
  LIMIT,
  NOBODY,
  runAsNobody,
  nobodyPackage,
};
