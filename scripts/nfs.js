#!/usr/bin/env node
// Two real Linux NFS clients on one machine whose own kernel has no NFS: two QEMU guests
// (TCG emulation, Debian's kernel) on a private IPv6 link. Guest 1 runs the kernel nfsd
// and mounts its own export (client A), guest 2 mounts it too (client B): two kernels,
// NLM on v3, stateful locks and leases on v4 (shared/NFS.md has the recipe it follows).
//
//   node scripts/nfs.js up [v3,v4.2,...]   boots both guests, mounts; prints the setup (JSON)
//   node scripts/nfs.js run N 'script'     runs a bash script in guest N, prints its output
//   node scripts/nfs.js down               tears that down (and any leftover of a killed run)
//
// As a module (test/nfs.test.js): up({ tag, mounts }) -> setup; run(setup, guest, script),
// start(...) for a job that keeps running (scripts/nfs-jobs.js); down(setup). The guest's
// PID 1 is scripts/nfs-guest.sh; what it boots from, scripts/nfs-assets.js. Root, Linux and x86-64 only (the
// guests run the host's own binaries, seen over 9p): elsewhere up() throws an error with
// `unavailable` set and the reason. Tool output goes to stderr; every wait is bounded.
//
// Nothing is installed on the host: the Debian packages (QEMU, the kernel, nfs-utils,
// rpcbind, busybox, kmod) are fetched with `apt-get download` and unpacked with
// `dpkg-deb -x` into a cache (scripts/tooling.js's, under nfs/<kernel>), with the
// initramfs built from them. The network: guest 1's QEMU listens on 127.0.0.1, guest 2's
// connects (-netdev socket); the guests talk over IPv6 ULA addresses fd42:4e46:5300::1
// and ::2 on that link only. No QEMU user network, no IPv4 address.
//
// Ownership, as scripts/gluster.js: an instance `<tag>` has a state file STATE/<tag>.json
// naming its owner process (pid + start time) and its files under WORK/<tag>; its QEMU
// processes are found by their command line (fslock.ctl=WORK/<tag>/...). An instance
// whose owner is gone is a leftover that the next up/down removes; the CLI's instance
// (`cli`) has no owner and goes with `down`. Each QEMU also runs under timeout(1) (`life`),
// so a guest outlives no one for long. up/down of concurrent runs are serialised by a
// flock(2) on STATE/lock.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const tooling = require('./tooling');
const assets = require('./nfs-assets');
const { start, run, runSync } = require('./nfs-jobs');

const STATE = '/run/fslock-nfs';
// The guests mount their own tmpfs over /run, /mnt, /var/lib and /var/tmp: the control
// directories must be elsewhere to be the same path inside and out.
const WORK = '/tmp/fslock-nfs';
const GUEST_INIT = path.join(__dirname, 'nfs-guest.sh');
const SERVER = 'fd42:4e46:5300::1';
const log = (...a) => console.error('nfs:', ...a);

/** Mounts by name: NFS options, and the export path (v4 mounts the pseudo-root). */
const MOUNTS = {
  v3: 'vers=3',
  'v4.0': 'vers=4.0',
  'v4.1': 'vers=4.1',
  'v4.2': 'vers=4.2',
  // Locks that stay on the client: NLM off (v3), or every lock kept local.
  'v3-nolock': 'vers=3,nolock',
  'v3-local': 'vers=3,local_lock=all',
  'v4.2-local': 'vers=4.2,local_lock=all',
  // No attribute or name caching: every lookup and stat asks the server (what processes
  // without a kernel lock, the fallback's, need to see each other's lock files at once).
  'v3-coherent': 'vers=3,lookupcache=none,actimeo=0',
  'v4.2-coherent': 'vers=4.2,lookupcache=none,actimeo=0',
  // Long attribute caching (FSLOCK_STRESS): against the fallback's leases.
  'v4.2-actimeo': 'vers=4.2,actimeo=60',
};

function unavailable(message) {
  return Object.assign(new Error(message), { unavailable: true });
}

function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function waitFor(cond, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const v = cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    sleep(100);
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

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

// --- environment -------------------------------------------------------------------

function checkMachine() {
  if (process.platform !== 'linux') throw unavailable(`the NFS guests need Linux (this is ${process.platform})`);
  if (process.arch !== 'x64')
    throw unavailable(`the NFS guests run the host's x86-64 binaries (this is ${process.arch})`);
  if (!process.getuid || process.getuid() !== 0) throw unavailable('the NFS guests need root (9p export of /)');
  for (const cmd of ['apt-get', 'dpkg-deb', 'flock', 'timeout', 'gzip']) {
    if (!tooling.have(cmd)) throw unavailable(`${cmd} is not installed`);
  }
}

/** Holds a flock(2) on STATE/lock while fn runs (flock(1) locks our open description). */
function serialised(fn) {
  fs.mkdirSync(STATE, { recursive: true });
  const fd = fs.openSync(path.join(STATE, 'lock'), 'a');
  try {
    const r = spawnSync('flock', ['-x', '-w', '600', '3'], { stdio: ['ignore', 2, 2, fd], timeout: 610_000 });
    if (r.status !== 0) throw new Error(`could not take ${STATE}/lock within 600 s (flock exit ${r.status})`);
    return fn();
  } finally {
    fs.closeSync(fd);
  }
}

// --- instances ---------------------------------------------------------------------

function instance(tag) {
  const dir = path.join(WORK, tag);
  return {
    tag,
    dir,
    stateFile: path.join(STATE, `${tag}.json`),
    guests: [1, 2].map((n) => ({ n, ctl: path.join(dir, `g${n}`), hostname: `fslock-nfs-g${n}` })),
  };
}

/** QEMU processes of instance `tag` (their command line names its control directory). */
function qemus(tag) {
  const marker = `fslock.ctl=${path.join(WORK, tag)}/`;
  return fs
    .readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((p) => {
      const argv = cmdline(p);
      return /qemu-system-x86_64$/.test(argv[0] || '') && argv.some((a) => a.includes(marker));
    });
}

/** User + system CPU seconds a process has used (/proc/PID/stat utime, stime). */
function cpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Math.round((Number(f[11]) + Number(f[12])) / 100); // USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}

function terminate(pid) {
  try {
    process.kill(pid, 'SIGCONT'); // a guest paused by freeze() handles no signal until then
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  try {
    waitFor(() => !alive(pid), 15_000, `QEMU (pid ${pid}) to exit`);
  } catch {
    log(`QEMU (pid ${pid}) ignored SIGTERM for 15 s: SIGKILL`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
    waitFor(() => !alive(pid), 15_000, `QEMU (pid ${pid}) to die`);
  }
}

function teardown(tag) {
  const inst = instance(tag);
  const t0 = Date.now();
  // The guests hold nothing that must survive (their disks are tmpfs): QEMU exits on
  // SIGTERM at once; timeout(1) around it then exits too.
  const pids = qemus(tag);
  const cpu = pids.map(cpuSeconds); // what the emulated guests cost the host
  for (const p of pids) terminate(p);
  fs.rmSync(inst.dir, { recursive: true, force: true });
  fs.rmSync(inst.stateFile, { force: true });
  log(`${tag} torn down in ${Date.now() - t0} ms${cpu.length ? ` (QEMU CPU time: ${cpu.join(' s, ')} s)` : ''}`);
}

function readState(tag) {
  try {
    return JSON.parse(fs.readFileSync(instance(tag).stateFile, 'utf8'));
  } catch {
    return undefined;
  }
}

function isLeftover(tag) {
  const st = readState(tag);
  if (!st) return true;
  if (st.owner == null) return false;
  return startTime(st.owner) !== st.ownerStart;
}

function cleanLeftovers() {
  const tags = new Set();
  for (const f of fs.existsSync(STATE) ? fs.readdirSync(STATE) : []) if (f.endsWith('.json')) tags.add(f.slice(0, -5));
  for (const d of fs.existsSync(WORK) ? fs.readdirSync(WORK) : []) tags.add(d);
  for (const tag of tags) {
    if (isLeftover(tag)) {
      log(`removing leftover instance ${tag}`);
      teardown(tag);
    }
  }
}

/** Ports with a listening TCP socket on this machine (/proc/net/tcp{,6}). */
function listening() {
  const ports = new Set();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {}
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === '0A') ports.add(parseInt(cols[1].split(':').pop(), 16));
    }
  }
  return ports;
}

function startGuest(a, inst, g, port, life, memory) {
  fs.rmSync(g.ctl, { recursive: true, force: true });
  fs.mkdirSync(g.ctl, { recursive: true });
  const net = g.n === 1 ? `socket,id=n0,listen=127.0.0.1:${port}` : `socket,id=n0,connect=127.0.0.1:${port}`;
  const append = [
    'console=ttyS0 loglevel=5 panic=-1 rw',
    `fslock.guest=${g.n} fslock.ctl=${g.ctl} fslock.root=${a.root} fslock.init=${GUEST_INIT}`,
    // Distinct v4 client identities; NLM's grace as short as nfsd's (nfs-guest.sh).
    `nfs.nfs4_unique_id=fslock-nfs-g${g.n} lockd.nlm_grace_period=10`,
  ].join(' ');
  const qemuArgs = [
    ...['-L', path.join(a.root, 'usr/share/qemu'), '-L', path.join(a.root, 'usr/share/seabios')],
    ...['-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot'],
    ...['-machine', 'pc', '-cpu', 'max', '-smp', '1', '-m', String(memory)],
    ...['-serial', `file:${path.join(g.ctl, 'console.log')}`, '-monitor', 'none'],
    ...['-kernel', a.kernel, '-initrd', a.initrd, '-append', append],
    // The host's root, read-only: the guests run the host's node and the project's build.
    ...['-fsdev', 'local,id=r,path=/,security_model=none,readonly=on,multidevs=remap'],
    ...['-device', 'virtio-9p-pci,fsdev=r,mount_tag=hostroot'],
    ...['-fsdev', `local,id=c,path=${g.ctl},security_model=none`, '-device', 'virtio-9p-pci,fsdev=c,mount_tag=ctl'],
    ...['-netdev', net, '-device', `virtio-net-pci,netdev=n0,mac=52:54:00:12:34:0${g.n},romfile=`],
  ];
  const out = fs.openSync(path.join(g.ctl, 'qemu.log'), 'a');
  const child = spawn('timeout', ['--kill-after=10', String(life), a.qemu, ...qemuArgs], {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, LD_LIBRARY_PATH: a.libraryPath },
  });
  fs.closeSync(out);
  child.unref();
  return child.pid;
}

function tail(file, n = 15) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '(none)';
  }
}

function bootBoth(a, inst, life, memory) {
  for (let attempt = 0; ; attempt++) {
    const used = listening();
    let port;
    do port = 47100 + Math.floor(Math.random() * 900);
    while (used.has(port));
    const t1 = startGuest(a, inst, inst.guests[0], port, life, memory);
    try {
      // Guest 2 connects at start: guest 1's QEMU must be listening first.
      waitFor(() => listening().has(port) || !alive(t1), 30_000, `QEMU of guest 1 to listen on 127.0.0.1:${port}`);
      if (!alive(t1)) throw new Error(`QEMU of guest 1 exited: ${tail(path.join(inst.guests[0].ctl, 'qemu.log'), 3)}`);
    } catch (e) {
      for (const p of qemus(inst.tag)) terminate(p);
      if (attempt < 4 && /in use/i.test(e.message)) continue; // another program took the port
      throw e;
    }
    return [t1, startGuest(a, inst, inst.guests[1], port, life, memory)];
  }
}

/** Waits for both guests' agents; `pids`: their timeout(1) processes (QEMU's parents). */
function ready(inst, pids, ms) {
  for (const g of inst.guests) {
    try {
      // A guest that panics ends its QEMU (panic=-1, -no-reboot): no use waiting.
      waitFor(
        () => {
          if (fs.existsSync(path.join(g.ctl, 'ready'))) return true;
          const gone = pids.findIndex((p) => !alive(p));
          if (gone >= 0) throw new Error(`the QEMU of guest ${gone + 1} ended`);
        },
        ms,
        `guest ${g.n} to boot`,
      );
    } catch (e) {
      const why = [
        `console:\n${tail(path.join(g.ctl, 'console.log'))}`,
        `init.log:\n${tail(path.join(g.ctl, 'init.log'))}`,
      ];
      throw new Error(`${e.message}\n${why.join('\n')}\nqemu.log: ${tail(path.join(g.ctl, 'qemu.log'), 5)}`);
    }
  }
}

/** The mount command of mount `name` (MOUNTS) at /mnt/nfs/<name>. */
function mountScript(name) {
  const opts = MOUNTS[name];
  if (!opts) throw new Error(`unknown NFS mount ${name} (known: ${Object.keys(MOUNTS).join(', ')})`);
  const src = /vers=3/.test(opts) ? `[${SERVER}]:/mnt/export` : `[${SERVER}]:/`;
  // nosharecache: each mount its own superblock, whatever mounts of the same export exist.
  return `mkdir -p /mnt/nfs/${name} && mount.nfs ${src} /mnt/nfs/${name} -o ${opts},nosharecache`;
}

// --- the API -------------------------------------------------------------------------

/**
 * Boots both guests and mounts `mounts` (names of MOUNTS) at /mnt/nfs/<name> in each;
 * returns { tag, dir, guests: [{n, ctl, hostname}], mounts: {name: dir}, ms, steps }.
 * `owner` (default this process) owns the instance; `owner: null` makes one that only
 * `down` removes. `life`: seconds after which the guests end whatever happens.
 */
function up({
  tag = `p${process.pid}`,
  owner = process.pid,
  mounts = ['v3', 'v4.2'],
  life = 3600,
  memory = 1024,
} = {}) {
  const t0 = Date.now();
  const steps = {};
  checkMachine();
  const inst = instance(tag);
  let a;
  let pids;
  serialised(() => {
    cleanLeftovers();
    if (qemus(tag).length || fs.existsSync(inst.dir) || fs.existsSync(inst.stateFile)) teardown(tag);
    a = assets.ensure(log);
    steps.assets = Date.now() - t0;
    fs.mkdirSync(inst.dir, { recursive: true });
    fs.writeFileSync(
      inst.stateFile,
      JSON.stringify({ tag, owner, ownerStart: owner == null ? null : startTime(owner) }),
    );
    pids = bootBoth(a, inst, life, memory);
  });
  const setup = { tag, dir: inst.dir, guests: inst.guests, mounts: {}, server: SERVER, kernel: a.kernelVersion };
  try {
    ready(inst, pids, 300_000);
    steps.boot = Date.now() - t0 - steps.assets;
    mountAll(setup, mounts);
    steps.mount = Date.now() - t0 - steps.assets - steps.boot;
  } catch (e) {
    serialised(() => teardown(tag));
    throw e;
  }
  setup.ms = Date.now() - t0;
  setup.steps = steps;
  log(`${tag} up in ${setup.ms} ms (${JSON.stringify(steps)}), mounts ${mounts.join(', ')}`);
  return setup;
}

/** Mounts `names` (MOUNTS) in both guests of a running setup, both guests at once. */
function mountAll(setup, names) {
  const script = names.map(mountScript).join(' && ');
  const jobs = [1, 2].map((g) => start(setup, g, script));
  for (const job of jobs) {
    waitFor(() => job.status() !== undefined, 60_000 * names.length, `mounts in guest ${job.guest}`);
    if (job.status() !== 0)
      throw new Error(`guest ${job.guest}: mounting ${names}: exit ${job.status()}\n${job.output()}`);
  }
  for (const name of names) setup.mounts[name] = `/mnt/nfs/${name}`;
}

function qemuOf(setup, n) {
  const pids = qemus(setup.tag).filter((p) => cmdline(p).some((a) => a.includes(`fslock.guest=${n} `)));
  if (pids.length !== 1) throw new Error(`guest ${n}: ${pids.length} QEMU processes`);
  return pids[0];
}

/** SIGSTOP (pause) or SIGCONT (resume) the QEMU of guest `n`: a client cut off, frozen. */
function freeze(setup, n, frozen) {
  process.kill(qemuOf(setup, n), frozen ? 'SIGSTOP' : 'SIGCONT');
}

/** SIGKILL the QEMU of guest `n`: a machine that dies at once (down() still cleans up). */
function kill(setup, n) {
  const pid = qemuOf(setup, n);
  process.kill(pid, 'SIGKILL');
  waitFor(() => !alive(pid), 15_000, `QEMU of guest ${n} to die`);
}

/** Stops the guests of `setup` and removes its files (and leftovers). Returns ms. */
function down(setup = { tag: 'cli' }) {
  const t0 = Date.now();
  if (process.platform !== 'linux' || !process.getuid || process.getuid() !== 0) return 0;
  serialised(() => {
    teardown(setup.tag);
    cleanLeftovers();
  });
  try {
    fs.rmdirSync(WORK); // when empty: other runs may still have instances
  } catch {}
  return Date.now() - t0;
}

/** The CLI's setup (the `cli` instance), rebuilt from its directory. */
function cliSetup() {
  const inst = instance('cli');
  if (!qemus('cli').length) throw new Error('no guests running: node scripts/nfs.js up first');
  return { tag: 'cli', dir: inst.dir, guests: inst.guests };
}

module.exports = { up, down, run, runSync, start, mountAll, freeze, kill, MOUNTS, SERVER, unavailable };

if (require.main === module) {
  const [cmd, ...rest] = process.argv.slice(2);
  try {
    if (cmd === 'up') {
      const mounts = rest[0] ? rest[0].split(',') : undefined;
      process.stdout.write(JSON.stringify(up({ tag: 'cli', owner: null, mounts })) + '\n');
    } else if (cmd === 'run') {
      const job = start(cliSetup(), Number(rest[0]), rest[1]);
      waitFor(() => job.status() !== undefined, Number(rest[2] || 600) * 1000, 'the job');
      process.stdout.write(job.output());
      process.exitCode = job.status();
    } else if (cmd === 'down') log(`down in ${down()} ms`);
    else {
      console.error("usage: node scripts/nfs.js up [v3,v4.2,...] | run 1|2 'script' [seconds] | down");
      process.exitCode = 2;
    }
  } catch (e) {
    console.error(`nfs ${cmd}: ${e.message}`);
    process.exitCode = 1;
  }
}
