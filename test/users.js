'use strict';
// Other users in tests: a copy of the built package that the unprivileged user `nobody`
// can load (the checkout may live where `nobody` cannot enter, e.g. /root), fixture
// processes run as `nobody`, commands run as `nobody`, directories shared between users,
// and the fs.protected_* sysctls set for one test and restored after it (also on
// failure). Linux, as root; `usersSkip()` says why not otherwise.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { fork, spawnSync } = require('node:child_process');
const { within, LIMIT } = require('./helpers');

const ROOT = path.join(__dirname, '..');
const NOBODY = { uid: 65534, gid: 65534 };

/** Why tests as another user cannot run here (undefined when they can). */
function usersSkip() {
  if (process.platform !== 'linux') return 'other users are tested on Linux only';
  if (process.getuid() !== 0) return 'switching to the user nobody needs root';
  try {
    const [, uid, gid] = fs.readFileSync('/etc/passwd', 'utf8').match(/^nobody:[^:]*:(\d+):(\d+):/m) ?? [];
    if (Number(uid) !== NOBODY.uid || Number(gid) !== NOBODY.gid) return 'no user nobody with uid/gid 65534';
  } catch (e) {
    return `cannot read /etc/passwd (${e.code})`;
  }
  for (const dir of ['/', ...ancestors(process.execPath)]) {
    const st = fs.statSync(dir);
    if (!(st.mode & 0o001))
      return `nobody cannot reach ${process.execPath} (${dir} is ${(st.mode & 0o777).toString(8)})`;
  }
  return undefined;
}

function ancestors(file) {
  const out = [];
  for (let d = path.dirname(file); d !== path.dirname(d); d = path.dirname(d)) out.unshift(d);
  return out;
}

let shared;
/**
 * A world-readable copy of the built package (package.json, dist/, the addon and
 * node-gyp-build) plus test/fixtures, made once per test file and removed at exit.
 * Fixtures copied there `require('fslock')` through the package's self-reference, as
 * they do in the checkout. Returns { dir, fixture(name) }.
 */
function userPackage() {
  if (shared) return shared;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fslock-pkg-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  fs.cpSync(path.join(ROOT, 'dist'), path.join(dir, 'dist'), { recursive: true });
  fs.cpSync(path.join(ROOT, 'node_modules', 'node-gyp-build'), path.join(dir, 'node_modules', 'node-gyp-build'), {
    recursive: true,
  });
  const release = path.join(ROOT, 'build', 'Release');
  if (fs.existsSync(release)) {
    fs.mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
    for (const f of fs.readdirSync(release).filter((n) => n.endsWith('.node')))
      fs.copyFileSync(path.join(release, f), path.join(dir, 'build', 'Release', f));
  }
  fs.cpSync(path.join(__dirname, 'fixtures'), path.join(dir, 'fixtures'), { recursive: true });
  // Readable and enterable by everyone, writable by root only.
  spawnSync('chmod', ['-R', 'a+rX,go-w', dir]);
  shared = { dir, fixture: (name) => path.join(dir, 'fixtures', name) };
  return shared;
}

/**
 * A fixture of test/fixtures (or an absolute path inside the user package) run from the
 * user package, as `nobody` (`as: 'root'` runs
 * the same copy as root). Message queue like helpers.spawnFixture: `next(type)`.
 * Killed at the end of the test if still running.
 */
function spawnAs(t, user, name, args = [], opts = {}) {
  const pkg = userPackage();
  const ids = user === 'nobody' ? NOBODY : {};
  const child = fork(path.isAbsolute(name) ? name : pkg.fixture(name), args, {
    cwd: pkg.dir,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, HOME: '/', ...opts.env },
    ...ids, // libuv also drops the supplementary groups (setgroups(0, NULL))
  });
  const queue = [];
  const waiters = [];
  child.on('message', (m) => {
    const i = waiters.findIndex((w) => w.types.includes(m.type));
    if (i >= 0) waiters.splice(i, 1)[0].resolve(m);
    else queue.push(m);
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.pending = () => queue.map((m) => m.type);
  /** The next message of one of `types` (a type or an array of them). */
  child.next = (types, ms = LIMIT) => {
    types = [].concat(types);
    const i = queue.findIndex((m) => types.includes(m.type));
    if (i >= 0) return Promise.resolve(queue.splice(i, 1)[0]);
    const waiter = { types };
    const got = new Promise((resolve) => (waiter.resolve = resolve));
    waiters.push(waiter);
    return within(got, ms, `message '${types.join("' or '")}' from ${user} ${path.basename(name)}`).finally(() => {
      const j = waiters.indexOf(waiter);
      if (j >= 0) waiters.splice(j, 1);
    });
  };
  child.exited = (ms = LIMIT) => within(exited, ms, `exit of ${user} ${name}`);
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

/** Runs a command as `nobody` (setpriv, no supplementary groups); returns spawnSync's result. */
function runAsNobody(cmd, args) {
  return spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', cmd, ...args], {
    encoding: 'utf8',
    timeout: LIMIT,
  });
}

/**
 * A directory that several users share, removed after the test: `sticky` (root's,
 * mode 1777 like /tmp) or `nobody` (owned by nobody, mode 0755). Its parent is a
 * private root directory made enterable (0711) so that nobody reaches it.
 */
function sharedDir(t, kind) {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'fslock-users-'));
  fs.chmodSync(parent, 0o711);
  t.after(() => fs.rmSync(parent, { recursive: true, force: true }));
  const dir = path.join(parent, kind);
  fs.mkdirSync(dir);
  if (kind === 'sticky') fs.chmodSync(dir, 0o1777);
  else {
    fs.chownSync(dir, NOBODY.uid, NOBODY.gid);
    fs.chmodSync(dir, 0o755);
  }
  return dir;
}

/**
 * Sets `fs.<name>` (protected_symlinks, protected_hardlinks, protected_regular, ...)
 * to `value` for this test; the previous value is put back after it, pass or fail.
 * Returns false (with the reason as a diagnostic) where the sysctl cannot be written.
 */
function setSysctl(t, name, value) {
  const file = `/proc/sys/fs/${name}`;
  let before;
  try {
    before = fs.readFileSync(file, 'utf8').trim();
    fs.writeFileSync(file, `${value}\n`);
  } catch (e) {
    t.diagnostic(`cannot set fs.${name} (${e.code})`);
    return false;
  }
  t.after(() => fs.writeFileSync(file, `${before}\n`));
  return fs.readFileSync(file, 'utf8').trim() === String(value);
}

module.exports = { NOBODY, usersSkip, userPackage, spawnAs, runAsNobody, sharedDir, setSysctl };
