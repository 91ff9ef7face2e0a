'use strict';
// Two real NFS clients: two QEMU guests (scripts/nfs.js), guest 1 = the kernel nfsd and
// client A, guest 2 = client B, each its own kernel (NLM on v3, v4 state and leases on
// v4.2). Real processes in the guests (test/fixtures/nfs-worker.js, nfs-locks.c), real
// SIGKILL, a real nfsd restart; no retries in the tests, every wait bounded.
//
// The test processes in the guests choose their backend themselves: both backends run
// in one pass, also together, whatever FSLOCK_BACKEND says. The file is a CI step of its
// own, `npm run test:nfs` (FSLOCK_NFS=1): booting the guests and running node in them
// under TCG takes 3-8 minutes on a busy 2-core machine, more than the 240 s `npm test`
// gives one file, and the guests' two emulated CPUs would slow every file running beside
// them. Under `npm test` it is skipped with that reason. Root, Linux, x86-64 only;
// elsewhere skipped with the reason. FSLOCK_STRESS=1 adds the long cases
// (test/fixtures/nfs-stress.js).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { stress } = require('./helpers');
const nfs = require('../scripts/nfs');
const { cache } = require('../scripts/tooling');

const ROOT = path.join(__dirname, '..');
const LOCKS = path.join(cache, 'nfs', 'bin', 'nfs-locks'); // test/fixtures/nfs-locks.c, built here
const HOSTS = { 1: 'fslock-nfs-g1', 2: 'fslock-nfs-g2' };
const VERSIONS = ['v3', 'v4.2'];
let setup;
let skip =
  process.env.FSLOCK_NFS === '1'
    ? undefined
    : 'NFS runs as its own step, npm run test:nfs (two QEMU guests; both backends in one pass)';
let base; // this run's directory name on the export

before(
  () => {
    if (skip) return console.log(`nfs: skipped: ${skip}`);
    try {
      setup = nfs.up({
        life: stress ? 7200 : 1200,
        mounts: [...VERSIONS, ...VERSIONS.map((v) => `${v}-coherent`), 'v3-nolock', 'v4.2-local'],
        memory: 1536,
      });
    } catch (e) {
      if (!e.unavailable) throw e;
      skip = e.message;
      return console.log(`nfs: skipped: ${skip}`);
    }
    fs.mkdirSync(path.dirname(LOCKS), { recursive: true });
    execFileSync('gcc', ['-O2', '-Wall', '-o', LOCKS, path.join(__dirname, 'fixtures', 'nfs-locks.c')]);
    base = `run-${process.pid}`;
    nfs.runSync(
      setup,
      1,
      Object.entries(setup.mounts)
        .map(([n, m]) => `mkdir -p ${m}/${base}/${n}`)
        .join(' && '),
    );
    console.log(`nfs: guests up in ${setup.ms} ms ${JSON.stringify(setup.steps)}`);
  },
  { timeout: 900_000 },
);

after(() => {
  if (setup) console.log(`nfs: guests down in ${nfs.down(setup)} ms`);
  setup = undefined;
});
// A runner that gives up on this file (a timeout, ^C) ends it with a signal: no `after`.
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.once(sig, () => {
    if (setup) nfs.down(setup);
    process.exit(128 + require('node:os').constants.signals[sig]);
  });
}

const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
/**
 * A path on mount `m` (a MOUNTS name), the same in both guests. Every mount shows the
 * same export: each has its own directory in it.
 */
const at = (m, name) => `${setup.mounts[m]}/${base}/${m}/${name}`;
/** A control file the host creates to let a guest process go on. */
const go = (n, name) => path.join(setup.guests[n - 1].ctl, `go-${process.pid}-${name}`);
const signalGo = (file) => fs.writeFileSync(file, '');

function worker(n, backend, cfg) {
  return nfs.start(
    setup,
    n,
    `cd ${q(ROOT)} && FSLOCK_BACKEND=${backend} exec ${q(process.execPath)} test/fixtures/nfs-worker.js ${q(JSON.stringify(cfg))}`,
  );
}

/** nfs-locks steps in guest n: resolves the parsed step reports. */
function locks(n, steps) {
  return nfs.start(setup, n, `exec ${LOCKS} ${steps.map(q).join(' ')}`);
}
locks.path = LOCKS;
const outcome = (r) => (r.ok ? 'ok' : r.errno);

// --- capabilities and local-lock mounts -------------------------------------------------

test('capabilities() on NFS v3 and v4.2 from both clients: nfs / nfs4, shared, crossHostLocks', async (t) => {
  if (skip) return t.skip(skip);
  const dirs = VERSIONS.map((v) => path.dirname(at(v, 'x')));
  for (const n of [1, 2]) {
    const { caps } = await worker(n, 'native', { role: 'caps', dirs }).line((l) => l.type === 'caps');
    const got = dirs.map((d) => [
      caps[d].fsType,
      caps[d].shared,
      caps[d].crossHostLocks,
      caps[d].flock,
      caps[d].ofdLocks,
    ]);
    t.diagnostic(`client ${n}: ${JSON.stringify(caps)}`);
    assert.deepEqual(got, [
      ['nfs', true, true, true, true],
      ['nfs4', true, true, true, true],
    ]);
  }
});

test('local-lock mounts: v3 nolock keeps every lock on its client; v4.2 ignores local_lock=all', async (t) => {
  if (skip) return t.skip(skip);
  // /proc/mounts shows what the kernel made of the options.
  const mounts = (await nfs.run(setup, 2, 'cat /proc/mounts')).stdout;
  const opts = (m) => mounts.split('\n').find((l) => l.split(' ')[1] === setup.mounts[m]);
  assert.match(opts('v3-nolock'), /nolock.*local_lock=all/);
  assert.match(opts('v4.2-local'), /local_lock=none/, 'NFSv4 ignores local_lock=all');
  const res = {};
  for (const m of ['v3-nolock', 'v4.2-local']) {
    const file = at(m, 'local.lock');
    const holder = locks(1, [`open:0:${file}`, 'flock:0', 'ofd:0', 'say:held', `wait:${go(1, m)}`]);
    await holder.line((l) => l.say === 'held');
    const other = (await locks(2, [`open:0:${file}`, 'flock:0', 'ofd:0']).done()).stdout;
    signalGo(go(1, m));
    await holder.done();
    res[m] = other
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .slice(1)
      .map(outcome);
  }
  t.diagnostic(`client B's flock, OFD while client A holds both: ${JSON.stringify(res)}`);
  assert.deepEqual(res, { 'v3-nolock': ['ok', 'ok'], 'v4.2-local': ['EAGAIN', 'EAGAIN'] });
});

test('capabilities() says crossHostLocks: false on a nolock mount', async (t) => {
  if (skip) return t.skip(skip);
  const dir = path.dirname(at('v3-nolock', 'x'));
  const { caps } = await worker(2, 'native', { role: 'caps', dirs: [dir] }).line((l) => l.type === 'caps');
  assert.equal(caps[dir].crossHostLocks, false, JSON.stringify(caps[dir]));
});

// --- flock(2) + OFD on one descriptor ------------------------------------------------------

test('flock then an OFD lock on one descriptor (the Linux path lock): no self-deadlock, excludes both ways', async (t) => {
  if (skip) return t.skip(skip);
  const seen = {};
  await Promise.all(
    VERSIONS.map(async (v) => {
      const f = at(v, 'flock-ofd');
      const a = locks(1, [
        ...[`open:0:${f}`, 'flock:0', 'ofdw:0', `open:1:${f}`, 'flock:1', 'ofd:1', 'say:held'],
        ...[`wait:${go(1, `fo1-${v}`)}`, 'unofd:0', 'say:unofd', `wait:${go(1, `fo2-${v}`)}`, 'flock:1'],
      ]);
      await a.line((l) => l.say === 'held');
      const probe = async () =>
        (await locks(2, [`open:0:${f}`, 'flock:0', 'ofd:0']).done()).stdout
          .split('\n')
          .filter(Boolean)
          .slice(1)
          .map((l) => outcome(JSON.parse(l)));
      const whileHeld = await probe();
      signalGo(go(1, `fo1-${v}`));
      await a.line((l) => l.say === 'unofd');
      const afterUnofd = await probe(); // A's flock is still held as far as A's kernel knows
      signalGo(go(1, `fo2-${v}`));
      const own = (await a.done()).stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .filter((r) => r.step);
      seen[v] = {
        own: own.filter((r) => !/^(open|wait)/.test(r.step)).map((r) => `${r.step}=${outcome(r)}`),
        otherClientWhileHeld: whileHeld,
        otherClientAfterUnofd: afterUnofd,
      };
    }),
  );
  t.diagnostic(JSON.stringify(seen));
  for (const v of VERSIONS) {
    assert.deepEqual(
      seen[v],
      {
        // Both granted on one descriptor (same owner); a second descriptor of the same
        // process is refused both; A's kernel still refuses it the flock after the OFD unlock.
        own: ['flock:0=ok', 'ofdw:0=ok', 'flock:1=EAGAIN', 'ofd:1=EAGAIN', 'unofd:0=ok', 'flock:1=EAGAIN'],
        otherClientWhileHeld: ['EAGAIN', 'EAGAIN'],
        // On the server both were one whole-file lock of one owner: unlocking the OFD lock
        // gave up the flock too, and the other client takes both (as on GlusterFS).
        otherClientAfterUnofd: ['ok', 'ok'],
      },
      v,
    );
  }
});

// --- exclusion and counters --------------------------------------------------------------

const N = stress ? 10 : 3;
// [client A's processes, client B's]: each [backend, api]. Where a fallback process takes
// part, the mount does not cache names and attributes (the `-coherent` mounts): a
// fallback process sees another client's holder only through the lock file, and with
// default caching a mixed run had holders inside together (FSLOCK_STRESS runs that).
const SCENARIOS = {
  native: [[['native', 'withLock']], [['native', 'lock']]],
  fallback: [[['fallback', 'lock']], [['fallback', 'withLock']]],
  mixed: [[['native', 'lock']], [['fallback', 'withLock']]],
  update: [[['native', 'update']], [['native', 'update']]],
};
// The fallback's lease, 60 s instead of 10: under a loaded host a guest's process can be
// starved for 10 s, and a lapsed lease is then reported (ELOCKLOST), correctly, as lost
// (seen once at load 13 on 2 cores). update() takes no lease: it runs native here.
const LEASE = 60_000;

test('exclusion across the clients, native, fallback and mixed, v3 and v4.2: no overlap, exact counters', async (t) => {
  if (skip) return t.skip(skip);
  const runs = [];
  for (const v of VERSIONS) {
    for (const [name, clients] of Object.entries(SCENARIOS)) {
      const m = name === 'native' || name === 'update' ? v : `${v}-coherent`;
      const file = (s) => at(m, `${name}.${s}`);
      runs.push({ v, name, clients, counter: file('counter'), lock: file('lock'), inside: file('inside') });
    }
  }
  await nfs.run(setup, 1, runs.map((r) => `echo 0 > ${r.counter}`).join('\n'));
  const t0 = Date.now();
  // Every scenario at once: each guest has one CPU, and node's start-up is its cost.
  for (const r of runs) {
    r.jobs = r.clients.flatMap((procs, i) =>
      procs.map(([backend, api]) =>
        worker(i + 1, backend, { role: 'counter', ...r, clients: undefined, n: N, api, lease: LEASE }),
      ),
    );
  }
  for (const r of runs) {
    r.reports = await Promise.all(r.jobs.map((j) => j.line((l) => l.type === 'done', 600_000)));
    r.total = Number((await nfs.run(setup, 2, `cat ${r.counter}`)).stdout);
  }
  t.diagnostic(
    `${runs.length} scenarios, ${runs.reduce((s, r) => s + r.jobs.length, 0)} processes: ${Date.now() - t0} ms`,
  );
  const bad = [];
  for (const r of runs) {
    const sum = (k) => r.reports.reduce((s, x) => s + x[k], 0);
    const got = {
      counter: r.total,
      ok: sum('ok'),
      overlaps: sum('overlaps'),
      lockFailures: sum('lockFailures'),
      ioFailures: sum('ioFailures'),
      who: r.reports.map((x) => `${x.host}/${x.backend}`).join(' '),
    };
    const want = r.jobs.length * N;
    t.diagnostic(`${r.v} ${r.name}: ${JSON.stringify(got)} ${r.reports.flatMap((x) => x.errors).join(' | ')}`);
    const expectWho = r.clients.flatMap((procs, i) => procs.map(([backend]) => `${HOSTS[i + 1]}/${backend}`)).join(' ');
    if (
      JSON.stringify(got) !==
      JSON.stringify({ counter: want, ok: want, overlaps: 0, lockFailures: 0, ioFailures: 0, who: expectWho })
    )
      bad.push(`${r.v} ${r.name}: ${JSON.stringify(got)}`);
  }
  assert.deepEqual(bad, []);
});

// --- holders seen from the other client, and a SIGKILLed holder ----------------------------

test("isLocked() and lockHolder() from client B name client A's holder; SIGKILL of it hands the lock to B", async (t) => {
  if (skip) return t.skip(skip);
  const cases = [];
  for (const v of VERSIONS) for (const backend of ['native', 'fallback']) cases.push({ v, backend });
  await Promise.all(
    cases.map(async (c) => {
      const lock = at(c.backend === 'native' ? c.v : `${c.v}-coherent`, `held-${c.backend}.lock`);
      // A fallback holder on another host can be given up only by its lease: 2 s here.
      const lease = c.backend === 'fallback' ? 2000 : undefined;
      const holder = worker(1, c.backend, { role: 'holder', lock, lease, release: go(1, `never-${c.v}-${c.backend}`) });
      const granted = await holder.line((l) => l.type === 'granted');
      // The waiter asks first (lock({ wait: false }), isLocked, lockHolder), then waits.
      const waiter = worker(2, c.backend, {
        role: 'holder',
        lock,
        lease,
        probeFirst: true,
        release: go(2, `w-${c.v}-${c.backend}`),
      });
      c.probe = await waiter.line((l) => l.type === 'probe');
      const killedAt = Date.now();
      holder.kill();
      await holder.done();
      const got = await waiter.line((l) => l.type === 'granted', 120_000);
      c.handOffMs = Date.now() - killedAt;
      signalGo(go(2, `w-${c.v}-${c.backend}`));
      c.release = (await waiter.line((l) => l.type === 'released' || l.type === 'release-failed')).type;
      c.holderPid = granted.pid;
      c.waiterHost = got.host;
    }),
  );
  for (const c of cases) {
    t.diagnostic(
      `${c.v} ${c.backend}: probe ${JSON.stringify(c.probe)}; hand-off after SIGKILL ${c.handOffMs} ms (host clock, incl. polling)`,
    );
  }
  assert.deepEqual(
    cases.map((c) => ({
      v: c.v,
      backend: c.backend,
      tried: c.probe.tried.code,
      locked: c.probe.locked,
      holder: c.probe.holder && [c.probe.holder.pid, c.probe.holder.hostname],
      waiter: c.waiterHost,
      release: c.release,
    })),
    cases.map((c) => ({
      v: c.v,
      backend: c.backend,
      tried: 'ELOCKED',
      locked: true,
      holder: [c.holderPid, HOSTS[1]],
      waiter: HOSTS[2],
      release: 'released',
    })),
  );
});

// --- an nfsd restart ------------------------------------------------------------------------

/** Stops nfsd (its v4 state goes), sets its grace period (s), starts it again. */
const restartNfsd = (grace) =>
  nfs.run(setup, 1, `rpc.nfsd 0 && echo ${grace} >/proc/fs/nfsd/nfsv4gracetime && sleep 1 && rpc.nfsd 8`, 60_000);

const restart = {};
test('nfsd restarted while client A holds (v3, v4.2): the v3 holder keeps its lock', async (t) => {
  if (skip) return t.skip(skip);
  const holders = VERSIONS.map((v) =>
    worker(1, 'native', { role: 'holder', lock: at(v, 'restart.lock'), release: go(1, `restart-${v}`) }),
  );
  await Promise.all(holders.map((h) => h.line((l) => l.type === 'granted')));
  const t0 = Date.now();
  // v4.2: the server comes back in its grace period and client A reclaims; v3: the locks
  // are lockd's, which an nfsd restart leaves alone (it serves client A's mount too).
  // B's non-blocking attempt waits out the grace period inside the kernel (30 s here, 90
  // by default).
  await restartNfsd(30);
  const probes = await Promise.all(
    VERSIONS.map((v) =>
      worker(2, 'native', { role: 'probe', lock: at(v, 'restart.lock') }).line((l) => l.type === 'probe', 180_000),
    ),
  );
  const lostLog = (await nfs.run(setup, 1, 'dmesg | grep "lost [0-9]* locks" || true')).stdout.trim();
  t.diagnostic(
    `probes from B answered ${Date.now() - t0} ms after the restart began; A's kernel: ${lostLog || 'no lost locks'}`,
  );
  VERSIONS.forEach((v) => signalGo(go(1, `restart-${v}`)));
  const ends = await Promise.all(
    holders.map((h) => h.line((l) => l.type === 'released' || l.type === 'release-failed')),
  );
  const aborted = holders.map((h) => h.lines().find((l) => l.type === 'releasing').aborted);
  const got = VERSIONS.map((v, i) => [
    v,
    probes[i].tried.code,
    probes[i].holder && probes[i].holder.hostname,
    aborted[i],
    ends[i].type,
  ]);
  restart.v42 = got[1];
  t.diagnostic(`${JSON.stringify(got)}`);
  assert.deepEqual(got[0], ['v3', 'ELOCKED', HOSTS[1], false, 'released']);
});

// v4.2 is its own (todo) test: client B got the lock after the grace period in 2 of 4
// runs at load 20-30 and in the full CI runs of 2026-12-05. Client A notices the
// restart late, 42-120 s after it (why is not found; timeo=50 did not help) (with
// flock(1) and Python's lockf alone, no fslock): its reclaim comes after the grace
// period and is refused, and its kernel logs "lost N locks" later still (fslock's holder
// is told then: ELOCKLOST). docs/shared-filesystems.md, the NFS table.
test(
  'nfsd restarted while client A holds, v4.2: the holder keeps its lock through the grace period',
  { todo: "client A's kernel notices the restart after the grace period (42-120 s): its reclaim is refused" },
  (t) => {
    if (skip) return t.skip(skip);
    assert.deepEqual(restart.v42, ['v4.2', 'ELOCKED', HOSTS[1], false, 'released']);
  },
);

// Client B frozen (its QEMU SIGSTOPped: a partition, a paused VM) across an nfsd restart
// and past the grace period: it cannot reclaim in time, client A takes the lock, and B's
// reclaim after it resumes fails (v4.2). What B's descriptor then answers, per call, is
// what a lock-loss watch can use; what fslock tells its holder is the next test.
const lost = {};
test('v4.2: a reclaim that fails after an nfsd restart: the other client gets the lock; the descriptor answers', async (t) => {
  if (skip) return t.skip(skip);
  const file = at('v4.2', 'lost.c');
  const lock = at('v4.2', 'lost.lock');
  const checks = [
    ...['fstat:0', 'pread:0', 'fadvise:0', 'pread:0', 'getlk:0', 'flock:0', 'ofd:0'],
    ...['fadvise:0', 'pread:0', 'pwrite:0', 'fsync:0', 'fstat:0'],
  ];
  // The file holds a byte, written and flushed under the lock: a read can reach the server.
  const cHolder = locks(2, [
    ...[`open:0:${file}`, 'flock:0', 'ofd:0', 'pwrite:0', 'fsync:0', 'say:held'],
    ...[`wait:${go(2, 'lost-c')}`, ...checks],
  ]);
  const fHolder = worker(2, 'native', { role: 'holder', lock, release: go(2, 'lost-f') });
  await cHolder.line((l) => l.say === 'held');
  await fHolder.line((l) => l.type === 'granted');
  nfs.freeze(setup, 2, true);
  t.after(() => nfs.freeze(setup, 2, false));
  const t0 = Date.now();
  await restartNfsd(10);
  // A's blocking requests are granted once the grace period ends with B's state gone.
  const a = locks(1, [
    `open:0:${file}`,
    'flockw:0',
    `open:1:${lock}`,
    'flockw:1',
    'say:took',
    `wait:${go(1, 'lost-a')}`,
  ]);
  await a.line((l) => l.say === 'took', 120_000);
  const tookMs = Date.now() - t0;
  nfs.freeze(setup, 2, false);
  // B's client notices the restart at its next lease renewal and logs the lost locks.
  const log = await nfs.run(
    setup,
    2,
    'for i in $(seq 600); do dmesg | grep -q "lost [0-9]* locks" && break; sleep 0.2; done; dmesg | grep "lost [0-9]* locks"',
    180_000,
  );
  signalGo(go(2, 'lost-c'));
  const out = (await cHolder.done()).stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  const answers = out.slice(-checks.length).map((r) => `${r.step}=${outcome(r)}${r.type ? `:${r.type}` : ''}`);
  signalGo(go(2, 'lost-f'));
  lost.holder = fHolder;
  lost.end = await fHolder.line((l) => l.type === 'released' || l.type === 'release-failed');
  signalGo(go(1, 'lost-a'));
  await a.done();
  t.diagnostic(
    `A took both locks ${tookMs} ms after the restart began; B: ${log.stdout.trim()}; B's descriptor: ${answers.join(' ')}`,
  );
  assert.deepEqual(
    a
      .lines()
      .filter((r) => r.step)
      .map(outcome),
    ['ok', 'ok', 'ok', 'ok', 'ok'],
    'A: open, flock, open, flock, go-ahead',
  );
  assert.match(log.stdout, /lost [0-9]+ locks/);
  assert.deepEqual(answers, [
    'fstat:0=ok',
    'pread:0=ok', // served from the page cache
    'fadvise:0=ok',
    'pread:0=EIO', // sent with the lost lock's state
    'getlk:0=ok:F_WRLCK', // another owner's lock: B's own would never conflict
    'flock:0=EAGAIN',
    'ofd:0=EAGAIN',
    'fadvise:0=ok',
    'pread:0=EIO',
    'pwrite:0=ok', // buffered; the flush fails
    'fsync:0=EIO',
    'fstat:0=ok',
  ]);
});

// The native lock-loss watch (lib/native/lock-watch.ts) finds the loss through B's
// descriptor: the read past the page cache fails with EIO, F_OFD_GETLK shows A's lock.
test('v4.2: fslock tells a native holder that lost its lock in a failed reclaim: Lock.signal aborts, release() rejects ELOCKLOST', async (t) => {
  if (skip) return t.skip(skip);
  assert.ok(lost.holder, 'the previous test ran the scenario');
  const signal = lost.holder.lines().find((l) => l.type === 'lost');
  assert.equal(signal && signal.code, 'ELOCKLOST', 'Lock.signal aborted with ELOCKLOST');
  assert.deepEqual([lost.end.type, lost.end.code], ['release-failed', 'ELOCKLOST']);
});

if (stress)
  require('./fixtures/nfs-stress')({
    test,
    nfs,
    get: () => ({ setup, skip, at, go, signalGo, worker, locks, outcome, HOSTS }),
  });
