#!/usr/bin/env node
// Two machines sharing a filesystem, on one machine: a one-brick GlusterFS volume
// mounted twice. Each FUSE mount is its own GlusterFS client, so a lock taken through
// mount A reaches a process on mount B only through the server's locks translator, the
// path a lock takes between two machines (see shared/GLUSTERFS.md for what was checked).
//
//   node scripts/gluster.js up     prints {"volume", "mounts": [a, b], ...} on stdout
//   node scripts/gluster.js down   tears that down (and any leftover of a killed run)
//
// As a module (test/gluster.test.js): up({ tag }) -> setup, down(setup). Root and Linux
// only; installs glusterfs-server and glusterfs-client with apt when missing. Tool
// output goes to stderr. Every wait is bounded.
//
// Ownership, so that nothing is ever left running or mounted and nothing of anybody
// else is touched:
// - glusterd: started here with our own pid file (PIDFILE); a glusterd that is already
//   running and is not ours is used as it is and never stopped. Ours is stopped by the
//   `down` that deletes the last volume on it.
// - volumes are named `fslock-<tag>`; each has a state file in STATE naming its owner
//   process (pid + start time). A volume whose owner is gone (a killed test run) is a
//   leftover: the next up/down unmounts, stops and deletes it. The CLI's volume
//   (`fslock-cli`) has no owner process and goes only with `down`.
// - up/down of concurrent runs are serialised by a flock(2) on STATE/lock.
// Layout: brick BRICKS/<volume>/brick on a tmpfs mounted at BRICKS/<volume>, mounts
// MOUNTS/<volume>/a and /b, state STATE/<volume>.json.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const STATE = '/run/fslock-gluster';
const PIDFILE = path.join(STATE, 'glusterd.pid');
const BRICKS = '/var/tmp/fslock-gluster';
const MOUNTS = '/mnt/fslock-gluster';
const PREFIX = 'fslock-';
const GLUSTERD_VOLS = '/var/lib/glusterd/vols'; // glusterd's working directory (glusterd.vol)
const log = (...a) => console.error('gluster:', ...a);

/** An error that means "this machine cannot do it" (the test skips), not a bug. */
function unavailable(message) {
  return Object.assign(new Error(message), { unavailable: true });
}

function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Polls `cond` every 200 ms until it returns truthy; throws after `ms`. */
function waitFor(cond, ms, what) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = cond();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end)
      throw new Error(`${what}: not within ${ms} ms${last ? ` (${String(last.message).trim()})` : ''}`);
    sleep(200);
  }
}

/** Runs a command (bounded), returns its stdout; stderr and the status in the error. */
function sh(cmd, args, timeout = 60_000) {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout, encoding: 'utf8' });
}

function gluster(args, timeout = 60_000) {
  return sh('gluster', ['--mode=script', ...args], timeout);
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** Start time of a process (clock ticks since boot), to tell a reused pid apart. */
function startTime(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function cmdline(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

function pids() {
  return fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}

/** SIGTERM, wait for the exit, SIGKILL if it takes over 15 s. */
function terminate(pid, what) {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  try {
    waitFor(() => !alive(pid) || /^Z/.test(procState(pid)), 15_000, `${what} (pid ${pid}) to exit`);
  } catch {
    log(`${what} (pid ${pid}) ignored SIGTERM for 15 s: SIGKILL`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
    waitFor(() => !alive(pid) || /^Z/.test(procState(pid)), 15_000, `${what} (pid ${pid}) to die`);
  }
}

function procState(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return '';
  }
}

// --- environment -----------------------------------------------------------------

function checkMachine() {
  if (process.platform !== 'linux') throw unavailable(`GlusterFS needs Linux (this is ${process.platform})`);
  if (!process.getuid || process.getuid() !== 0) throw unavailable('GlusterFS needs root (glusterd, mount)');
  if (!fs.existsSync('/dev/fuse')) throw unavailable('no /dev/fuse: FUSE is not available here');
  for (const cmd of ['unshare', 'flock', 'mount', 'umount']) {
    if (!require('./tooling').have(cmd)) throw unavailable(`${cmd} is not installed`);
  }
}

/** apt-get install glusterfs-server glusterfs-client when missing (a few seconds, once). */
function ensureGluster() {
  try {
    require('./tooling').ensurePackages([
      ['glusterd', 'glusterfs-server'],
      ['mount.glusterfs', 'glusterfs-client'],
    ]);
  } catch (e) {
    throw unavailable(`could not install GlusterFS: ${String(e.message).split('\n')[0]}`);
  }
}

/** Holds a flock(2) on STATE/lock while fn runs (flock(1) locks our open description). */
function serialised(fn) {
  fs.mkdirSync(STATE, { recursive: true });
  const fd = fs.openSync(path.join(STATE, 'lock'), 'a');
  try {
    const r = spawnSync('flock', ['-x', '-w', '300', '3'], { stdio: ['ignore', 2, 2, fd], timeout: 310_000 });
    if (r.status !== 0) throw new Error(`could not take ${STATE}/lock within 300 s (flock exit ${r.status})`);
    return fn();
  } finally {
    fs.closeSync(fd);
  }
}

// --- glusterd ------------------------------------------------------------------------

/** The glusterd we started, if it is running (pid file + its command line naming it). */
function ourGlusterd() {
  let pid;
  try {
    pid = Number(fs.readFileSync(PIDFILE, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (pid > 0 && alive(pid) && cmdline(pid).includes(PIDFILE)) return pid;
  // A stale pid file; a glusterd of ours may still run (its pid file removed by hand).
  return pids().find((p) => cmdline(p).includes(PIDFILE) && path.basename(cmdline(p)[0]) === 'glusterd');
}

function glusterdAnswers() {
  try {
    gluster(['volume', 'list'], 20_000);
    return true;
  } catch {
    return false;
  }
}

function startGlusterd() {
  if (glusterdAnswers()) return;
  let pid = ourGlusterd();
  if (!pid) {
    // glusterd daemonises; the pid file names the daemon (glusterd(8) -p).
    log('starting glusterd');
    fs.rmSync(PIDFILE, { force: true });
    sh('glusterd', ['-p', PIDFILE], 60_000);
    pid = waitFor(ourGlusterd, 30_000, 'glusterd to write its pid file');
  }
  waitFor(glusterdAnswers, 60_000, `glusterd (pid ${pid}) to answer`);
}

/** Stops our glusterd when no volume is left on it; a glusterd not ours is left alone. */
function stopGlusterdIfIdle() {
  const pid = ourGlusterd();
  if (!pid) return fs.rmSync(PIDFILE, { force: true });
  if (glusterdAnswers() && volumes().length) return; // someone else's volumes: still in use
  log(`stopping glusterd (pid ${pid})`);
  terminate(pid, 'glusterd');
  fs.rmSync(PIDFILE, { force: true });
}

/** Volumes of ours in glusterd's state directory (whether or not glusterd runs). */
function knownVolumes() {
  try {
    return fs.readdirSync(GLUSTERD_VOLS).filter((v) => v.startsWith(PREFIX));
  } catch {
    return [];
  }
}

function volumes() {
  return gluster(['volume', 'list'], 20_000)
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s && !/^No volumes present/i.test(s));
}

// --- instances (one volume, two mounts) --------------------------------------------------

function instance(volume) {
  return {
    volume,
    // The brick lives on a tmpfs of its own: removing thousands of gfid links from a
    // brick on a slow shared disk took 6-9 s; an umount takes none. (tmpfs has the
    // trusted.* extended attributes a brick needs.)
    brickFs: path.join(BRICKS, volume),
    brick: path.join(BRICKS, volume, 'brick'),
    mounts: [path.join(MOUNTS, volume, 'a'), path.join(MOUNTS, volume, 'b')],
    stateFile: path.join(STATE, `${volume}.json`),
  };
}

function readState(volume) {
  try {
    return JSON.parse(fs.readFileSync(instance(volume).stateFile, 'utf8'));
  } catch {
    return undefined;
  }
}

/** A volume of ours whose owner process is gone (CLI volumes have no owner: never). */
function isLeftover(volume) {
  if (!volume.startsWith(PREFIX)) return false;
  const st = readState(volume);
  if (!st) return true;
  if (st.owner == null) return false;
  return startTime(st.owner) !== st.ownerStart;
}

/** /proc/mounts entries of GlusterFS mounts of `volume` (or under MOUNTS). */
function mountsOf(volume) {
  const dirs = instance(volume).mounts;
  return fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'fuse.glusterfs' && (dirs.includes(f[1]) || f[0].endsWith(`:/${volume}`)))
    .map((f) => f[1].replace(/\\040/g, ' '));
}

function unmount(dir) {
  for (let i = 0; i < 10; i++) {
    try {
      sh('umount', [dir], 30_000);
      return;
    } catch (e) {
      if (!mountsOfDir(dir)) return;
      if (i < 9)
        sleep(300); // busy: a child process that has not exited yet
      else log(`umount ${dir}: ${String(e.stderr || e.message).trim()}; detaching it (umount -l)`);
    }
  }
  sh('umount', ['-l', dir], 30_000);
}

function rmdir(dir) {
  try {
    fs.rmdirSync(dir);
  } catch (e) {
    if (e.code !== 'ENOENT') log(`could not remove ${dir}: ${e.code}`);
  }
}

function mountsOfDir(dir) {
  return fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === dir);
}

/** GlusterFS processes (FUSE clients, brick daemons) serving `volume`, e.g. after umount -l. */
function strays(volume) {
  return pids().filter((p) => {
    const argv = cmdline(p);
    const exe = path.basename(argv[0] || '');
    if (exe !== 'glusterfs' && exe !== 'glusterfsd') return false;
    // FUSE clients: --volfile-id=/VOL; brick daemons: --volfile-id VOL.HOST.BRICK-PATH.
    const id = argv
      .map((a, i) => (a.startsWith('--volfile-id=') ? a.slice(13) : argv[i - 1] === '--volfile-id' ? a : undefined))
      .find((a) => a !== undefined);
    return id !== undefined && (id.replace(/^\//, '') === volume || id.startsWith(`${volume}.`));
  });
}

/** Unmount, stop, delete, remove: each step tolerates what an earlier crash left. */
function teardown(volume) {
  const inst = instance(volume);
  const t0 = Date.now();
  const steps = [];
  const step = (what) => steps.push(`${what} ${Date.now() - t0}`);
  for (const dir of mountsOf(volume)) unmount(dir);
  step('umount');
  for (const p of strays(volume).filter((p) => (cmdline(p)[0] || '').endsWith('glusterfs')))
    terminate(p, `FUSE client of ${volume}`);
  if (glusterdAnswers() && volumes().includes(volume)) {
    try {
      gluster(['volume', 'stop', volume, 'force']);
    } catch (e) {
      if (!/not started|does not exist/i.test(String(e.stderr)))
        throw new Error(`gluster volume stop ${volume}: ${String(e.stderr || e.message).trim()}`);
    }
    step('stop');
    gluster(['volume', 'delete', volume]);
    step('delete');
  }
  for (const p of strays(volume)) terminate(p, `glusterfs process of ${volume}`);
  step('processes');
  if (mountsOfDir(inst.brickFs)) unmount(inst.brickFs);
  fs.rmSync(inst.brickFs, { recursive: true, force: true });
  step('brick');
  // Not recursive: should a mount still be attached, its content is not ours to delete.
  for (const dir of [...inst.mounts, path.join(MOUNTS, volume)]) rmdir(dir);
  step('mount points');
  fs.rmSync(inst.stateFile, { force: true });
  log(`${volume} torn down in ${Date.now() - t0} ms (ms since start: ${steps.join(', ')})`);
}

/** Leftovers of killed runs: state files, volumes and mounts whose owner is gone. */
function cleanLeftovers() {
  const names = new Set();
  for (const f of fs.existsSync(STATE) ? fs.readdirSync(STATE) : []) {
    if (f.startsWith(PREFIX) && f.endsWith('.json')) names.add(f.slice(0, -5));
  }
  for (const l of fs.readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const f = l.split(' ');
    const m = f[2] === 'fuse.glusterfs' && /:\/(fslock-[\w.-]+)$/.exec(f[0]);
    if (m) names.add(m[1]);
  }
  if (fs.existsSync(BRICKS)) for (const b of fs.readdirSync(BRICKS)) names.add(b);
  for (const v of knownVolumes()) names.add(v);
  if (glusterdAnswers()) for (const v of volumes()) if (v.startsWith(PREFIX)) names.add(v);
  for (const v of names) {
    if (isLeftover(v)) {
      log(`removing leftover volume ${v}`);
      teardown(v);
    }
  }
}

/** Both mounts work and see each other's writes (the FUSE clients are connected). */
function mountsWork(a, b) {
  const probe = `.fslock-probe-${process.pid}`;
  const token = `${Date.now()}-${Math.random()}`;
  fs.writeFileSync(path.join(a, probe), token);
  try {
    const seen = readThroughFd(path.join(b, probe));
    return seen === token;
  } finally {
    fs.rmSync(path.join(a, probe), { force: true });
  }
}

// Node 20's readFileSync aborts the process when close() fails with ESTALE
// (shared/GLUSTERFS.md): read through a descriptor closed here.
// A file another client replaced can still be found under its old entry for about a
// second and then fails with ESTALE: the test's own checks look again (bounded).
function readThroughFd(file) {
  for (let attempt = 0; ; attempt++) {
    let fd;
    try {
      fd = fs.openSync(file, 'r');
      const buf = Buffer.alloc(4096);
      return buf.subarray(0, fs.readSync(fd, buf, 0, buf.length, 0)).toString();
    } catch (e) {
      if ((e.code !== 'ESTALE' && !/-116/.test(String(e.code))) || attempt >= 100) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    } finally {
      if (fd !== undefined)
        try {
          fs.closeSync(fd);
        } catch {}
    }
  }
}

// --- the API -------------------------------------------------------------------------

/**
 * Client caching off, for `coherent` volumes: GlusterFS clients otherwise show another
 * client's renames and writes up to about a second late (md-cache = stat-prefetch,
 * quick-read, io-cache, open-behind, read-ahead, readdir-ahead; write-behind delays
 * writes), and the kernel's FUSE caches add their own second (mount options below).
 */
const COHERENT_OPTIONS = [
  'performance.stat-prefetch',
  'performance.quick-read',
  'performance.io-cache',
  'performance.open-behind',
  'performance.read-ahead',
  'performance.readdir-ahead',
  'performance.write-behind',
];
const COHERENT_MOUNT = 'attribute-timeout=0,entry-timeout=0';

/**
 * Creates, starts and mounts (twice) the volume `fslock-<tag>`; returns
 * { volume, brick, mounts: [a, b], hostname, coherent, ms }. `coherent`: client caching
 * off (COHERENT_OPTIONS, COHERENT_MOUNT). `tag` defaults to this process's pid,
 * and this process is its owner (a later run cleans it up should this one be killed);
 * `owner: null` makes a volume that only `down` removes.
 */
function up({ tag = `p${process.pid}`, owner = process.pid, coherent = false } = {}) {
  const t0 = Date.now();
  checkMachine();
  ensureGluster();
  const volume = PREFIX + tag;
  const inst = instance(volume);
  const host = os.hostname();
  serialised(() => {
    startGlusterd(); // first: leftover volumes are known to glusterd only
    cleanLeftovers();
    if (volumes().includes(volume) && mountsOf(volume).length === 2 && mountsWork(...inst.mounts)) return; // idempotent
    if (
      volumes().includes(volume) ||
      mountsOf(volume).length ||
      fs.existsSync(inst.brickFs) ||
      fs.existsSync(inst.stateFile)
    )
      teardown(volume); // half set up
    fs.mkdirSync(inst.brickFs, { recursive: true });
    sh('mount', ['-t', 'tmpfs', '-o', 'size=512m,mode=0755', `${volume}-brick`, inst.brickFs]);
    fs.mkdirSync(inst.brick);
    for (const m of inst.mounts) fs.mkdirSync(m, { recursive: true });
    fs.writeFileSync(
      inst.stateFile,
      JSON.stringify({ volume, owner, ownerStart: owner == null ? null : startTime(owner) }),
    );
    // gluster refuses 127.0.0.1/localhost as a brick host; the hostname (resolving to
    // loopback) works. `force`: the brick is on the root filesystem.
    gluster(['volume', 'create', volume, `${host}:${inst.brick}`, 'force']);
    if (coherent) for (const o of COHERENT_OPTIONS) gluster(['volume', 'set', volume, o, 'off']);
    gluster(['volume', 'start', volume]);
    const opts = coherent ? ['-o', COHERENT_MOUNT] : [];
    for (const m of inst.mounts) {
      // mount.glusterfs returns once the client runs; the volume may still be connecting.
      waitFor(
        () => (sh('mount', ['-t', 'glusterfs', ...opts, `127.0.0.1:/${volume}`, m], 60_000), true),
        60_000,
        `mount ${m}`,
      );
    }
  });
  waitFor(
    () => mountsWork(inst.mounts[0], inst.mounts[1]) && mountsWork(inst.mounts[1], inst.mounts[0]),
    60_000,
    'both mounts to work',
  );
  const ms = Date.now() - t0;
  log(`${volume} up in ${ms} ms: ${inst.mounts.join(', ')}`);
  return { volume, brick: inst.brick, mounts: inst.mounts, hostname: host, coherent, ms };
}

/** Tears down the volume of `setup` (and leftovers); stops our glusterd if idle. Returns ms. */
function down(setup = { volume: `${PREFIX}cli` }) {
  const t0 = Date.now();
  if (process.platform !== 'linux' || process.getuid() !== 0) return 0;
  serialised(() => {
    if (glusterdAnswers() || mountsOf(setup.volume).length || fs.existsSync(instance(setup.volume).stateFile))
      teardown(setup.volume);
    // A glusterd killed with its volumes keeps them in its state directory, and
    // brings them back (started) when it next starts: delete them now.
    if (!glusterdAnswers() && knownVolumes().some(isLeftover)) startGlusterd();
    cleanLeftovers();
    stopGlusterdIfIdle();
  });
  for (const dir of [MOUNTS, BRICKS]) {
    try {
      fs.rmdirSync(dir); // when empty: other runs may still have volumes there
    } catch {}
  }
  return Date.now() - t0;
}

// --- faults (test/gluster-faults.test.js) ---------------------------------------------

/** The pid of the brick process (glusterfsd) serving `setup`'s volume, or undefined. */
function brickPid(setup) {
  return strays(setup.volume).find((p) => path.basename(cmdline(p)[0] || '') === 'glusterfsd');
}

/**
 * SIGKILLs the brick process of `setup`'s volume (a server crash): every client loses
 * its connection, and the brick its locks. Returns once the process is gone, reaped:
 * glusterd takes a brick whose /proc entry remains (a zombie not yet reaped by init,
 * about a second here) for a running one, and `volume start force` then does nothing.
 */
function killBrick(setup) {
  const pid = brickPid(setup);
  if (!pid) throw new Error(`no brick process for ${setup.volume}`);
  process.kill(pid, 'SIGKILL');
  waitFor(() => !fs.existsSync(`/proc/${pid}`), 30_000, `brick ${pid} of ${setup.volume} to be reaped`);
  return pid;
}

/** `gluster volume start VOL force`: starts the killed brick again; returns its new pid. */
function startBrick(setup) {
  gluster(['volume', 'start', setup.volume, 'force']);
  return waitFor(() => brickPid(setup), 30_000, `the brick of ${setup.volume} to start`);
}

/**
 * `gluster volume set VOL key value`, then both mounts again: a mounted client takes
 * up a changed option on its own, but some time later, and nothing tells when.
 */
function setOption(setup, key, value) {
  gluster(['volume', 'set', setup.volume, key, value]);
  const opts = setup.coherent ? ['-o', COHERENT_MOUNT] : [];
  for (const m of setup.mounts) {
    unmount(m);
    waitFor(
      () => (sh('mount', ['-t', 'glusterfs', ...opts, `127.0.0.1:/${setup.volume}`, m], 60_000), true),
      60_000,
      `mount ${m}`,
    );
  }
  waitFor(() => mountsWork(setup.mounts[0], setup.mounts[1]), 60_000, 'both mounts to work');
}

module.exports = {
  up,
  down,
  readThroughFd,
  killBrick,
  startBrick,
  setOption,
  COHERENT_OPTIONS,
  COHERENT_MOUNT,
};

if (require.main === module) {
  const cmd = process.argv[2];
  try {
    if (cmd === 'up') process.stdout.write(JSON.stringify(up({ tag: 'cli', owner: null })) + '\n');
    else if (cmd === 'down') log(`down in ${down()} ms`);
    else {
      console.error('usage: node scripts/gluster.js up|down');
      process.exitCode = 2;
    }
  } catch (e) {
    console.error(`gluster ${cmd}: ${e.message}`);
    process.exitCode = 1;
  }
}
