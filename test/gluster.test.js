'use strict';
// Two machines on one shared filesystem: a GlusterFS volume mounted twice
// (scripts/gluster.js), each mount its own client, so a lock reaches the other mount
// only through the server, as between two machines. Processes on "client B" also run
// under another hostname (their own UTS namespace), as on a second machine. Real
// processes, real SIGKILL/SIGSTOP, no retries in the tests; every wait is bounded.
// Root only (glusterd, mount, unshare): elsewhere the file is skipped with the reason.
// Setup once for the file, torn down in `after` (nothing left mounted or running).
// FSLOCK_STRESS=1 runs the long versions.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { fslock, stress, within } = require('./helpers');
const gluster = require('../scripts/gluster');
const { HOST_B, LIMIT, spawnOn } = require('./gluster-clients');

let setup;
let coherent; // a second volume with client caching off (scripts/gluster.js COHERENT_OPTIONS)
let skip;
const dirs = {}; // this run's directory on each volume, as client A and client B see it

before(
  () => {
    try {
      setup = gluster.up();
      coherent = gluster.up({ tag: `p${process.pid}c`, coherent: true });
    } catch (e) {
      if (!e.unavailable) throw e;
      skip = e.message;
      console.log(`gluster: skipped: ${skip}`);
      return;
    }
    // A directory of this run's own on each volume, seen through both clients.
    const sub = `run-${fslock.backend}-${process.pid}`;
    for (const [where, s] of [
      ['default', setup],
      ['coherent', coherent],
    ]) {
      dirs[where] = s.mounts.map((m) => path.join(m, sub));
      fs.mkdirSync(dirs[where][0]);
    }
  },
  { timeout: 300_000 },
);

after(
  () => {
    for (const s of [coherent, setup]) {
      if (!s) continue;
      const ms = gluster.down(s);
      console.log(`gluster: ${s.volume} torn down in ${ms} ms`);
    }
  },
  { timeout: 300_000 },
);

/**
 * Paths of `name` in this run's directory as client A and client B see it, on the
 * volume with default client caching or on the `coherent` one.
 */
function onBoth(name, where = 'default') {
  const [a, b] = dirs[where];
  return { A: path.join(a, name), B: path.join(b, name) };
}

/**
 * Pairs of critical sections of different contenders that overlap in time. Each report
 * has `intervals`: [enter, leave] on the machine's monotonic clock (ns, as strings).
 */
function overlapping(reports) {
  const all = reports
    .flatMap((r, who) => r.intervals.map(([a, b]) => ({ who, enter: BigInt(a), leave: BigInt(b) })))
    .sort((x, y) => (x.enter < y.enter ? -1 : x.enter > y.enter ? 1 : 0));
  const found = [];
  let last; // the section that leaves last among those entered so far
  for (const s of all) {
    if (last && s.enter < last.leave) found.push([last.who, s.who, String(last.leave - s.enter) + ' ns']);
    if (!last || s.leave > last.leave) last = s;
  }
  return found;
}

/**
 * Contenders on both clients increment one counter `n` times each (`apis`: how the two
 * processes of a client lock: withLock, lock, update), each increment
 * under the lock; returns their reports. `backends` = [client A's, client B's].
 */
async function counterRun(t, name, backends, n, apis = ['withLock', 'lock']) {
  // Fallback processes on several hosts judge the lock file by what their client shows
  // of it: they need a volume whose clients do not cache (README "Shared and network
  // filesystems"). Native processes need nothing: their locks are held by the server.
  const where = backends.includes('fallback') ? 'coherent' : 'default';
  const lock = onBoth(`${name}.lock`, where);
  const counter = onBoth(`${name}.counter`, where);
  fs.writeFileSync(counter.A, '0');
  const t0 = Date.now();
  const kids = [];
  for (const [i, client] of ['A', 'A', 'B', 'B'].entries()) {
    const cfg = {
      lock: lock[client],
      counter: counter[client],
      n,
      api: apis[i % 2],
    };
    kids.push(spawnOn(t, client, backends[client === 'A' ? 0 : 1], 'gluster-counter.js', cfg));
  }
  const reports = await Promise.all(kids.map((k) => k.next('done', 480_000)));
  const total = Number(gluster.readThroughFd(counter.B));
  t.diagnostic(`${name} (${where} volume): 4 processes x ${n} increments in ${Date.now() - t0} ms; counter=${total}`);
  for (const r of reports) {
    t.diagnostic(
      `  ${r.host} ${r.backend}: ok=${r.ok} lockFailures=${r.lockFailures} ioFailures=${r.ioFailures} ${r.ms} ms ${r.errors.join(' | ')}`,
    );
  }
  const overlaps = overlapping(reports);
  if (overlaps.length)
    t.diagnostic(`  overlapping critical sections (first 3): ${JSON.stringify(overlaps.slice(0, 3))}`);
  const sum = (k) => reports.reduce((s, r) => s + r[k], 0);
  assert.deepEqual(
    {
      overlaps: overlaps.length,
      sections: reports.reduce((n, r) => n + r.intervals.length, 0),
      lockFailures: sum('lockFailures'),
      ioFailures: sum('ioFailures'),
      ok: sum('ok'),
      counter: total,
    },
    { overlaps: 0, sections: 4 * n, lockFailures: 0, ioFailures: 0, ok: 4 * n, counter: 4 * n },
  );
  assert.deepEqual(
    reports.map((r) => r.host),
    [setup.hostname, setup.hostname, HOST_B, HOST_B],
    'client B runs under another hostname',
  );
  assert.deepEqual(
    reports.map((r) => r.backend),
    [backends[0], backends[0], backends[1], backends[1]],
  );
}

const N = { native: stress ? 600 : 100, fallback: stress ? 200 : 30 };
const suite = fslock.backend;

test(
  `${suite} processes, 2 per client: locked increments are exact, no overlap, no failed call`,
  { timeout: 600_000 },
  async (t) => {
    if (skip) return t.skip(skip);
    await counterRun(t, `same-${suite}`, [suite, suite], N[suite]);
  },
);

test(`update() from ${suite} processes, 2 per client: no update lost`, { timeout: 600_000 }, async (t) => {
  if (skip) return t.skip(skip);
  await counterRun(t, `update-${suite}`, [suite, suite], N[suite], ['update', 'update']);
});

test(
  'fallback processes only, 2 per client (client B another host; client caching off)',
  { timeout: 600_000 },
  async (t) => {
    if (skip) return t.skip(skip);
    await counterRun(t, 'fallback', ['fallback', 'fallback'], N.fallback);
  },
);

test(
  'mixed: native processes on client A, fallback processes on client B (another host; client caching off)',
  { timeout: 600_000 },
  async (t) => {
    if (skip) return t.skip(skip);
    await counterRun(t, 'mixed', ['native', 'fallback'], N.fallback);
  },
);

test(
  'a native holder on client A for 15 s is never entered by a fallback waiter on client B',
  { timeout: 300_000 },
  async (t) => {
    if (skip) return t.skip(skip);
    const holdMs = stress ? 40_000 : 15_000;
    const lock = onBoth('held.lock');
    const marker = onBoth('held.inside');
    const holder = spawnOn(t, 'A', 'native', 'gluster-holder.js', { lock: lock.A, marker: marker.A });
    const granted = await holder.next('granted');
    const waiter = spawnOn(t, 'B', 'fallback', 'gluster-holder.js', { lock: lock.B, marker: marker.B, tryFirst: true });
    const tried = await waiter.next('tried');
    assert.equal(
      tried.code,
      'ELOCKED',
      `a fallback lock({ wait: false }) on client B while held on A: ${tried.message || 'granted'}`,
    );
    // The hold itself is the scenario (longer than the fallback's default lease of
    // 10 s): whether the waiter entered is asked of the marker file and the timestamps.
    const early = await waiter.next('granted', holdMs).then(
      (m) => m,
      () => undefined,
    );
    holder.send({ type: 'release' });
    const releasing = await holder.next('releasing');
    await holder.next('released');
    const late = early || (await waiter.next('granted'));
    t.diagnostic(
      `waiter granted ${late.at - granted.at} ms after the holder, ${late.at - releasing.at} ms after its release; overlap=${late.overlap}`,
    );
    assert.equal(
      early,
      undefined,
      `the fallback waiter entered while the native holder held (after ${early && early.at - granted.at} ms)`,
    );
    assert.ok(late.at >= releasing.at, 'waiter granted before the holder released');
    assert.equal(late.overlap, false, 'the waiter found the holder inside (marker)');
    waiter.send({ type: 'release' });
    await waiter.next('released');
  },
);

test(
  'SIGKILL hand-off across clients: a native waiter on B gets the lock of a killed holder on A',
  { timeout: 300_000 },
  async (t) => {
    if (skip) return t.skip(skip);
    const rounds = stress ? 10 : 2;
    for (let i = 0; i < rounds; i++) {
      const lock = onBoth(`killed-${i}.lock`);
      // A fallback holder on another host can only be given up by its lease: 2 s here.
      const holder = spawnOn(t, 'A', suite, 'gluster-holder.js', { lock: lock.A, lease: 2000 });
      await holder.next('granted');
      const waiter = spawnOn(t, 'B', 'native', 'gluster-holder.js', { lock: lock.B, tryFirst: true });
      const tried = await waiter.next('tried');
      assert.equal(
        tried.code,
        'ELOCKED',
        `native lock({ wait: false }) on B while a ${suite} holder holds on A: ${tried.message || 'granted'}`,
      );
      const killedAt = Date.now();
      holder.kill('SIGKILL');
      assert.equal((await holder.exited()).signal, 'SIGKILL');
      const granted = await waiter.next('granted', 120_000);
      t.diagnostic(
        `round ${i}: ${suite} holder on A SIGKILLed, native waiter on B granted after ${granted.at - killedAt} ms`,
      );
      assert.ok(granted.at >= killedAt);
      waiter.send({ type: 'release' });
      await waiter.next('released');
    }
  },
);

test(
  'isLocked() and lockHolder() on client B under lock churn on client A: no call throws',
  { timeout: 300_000 },
  async (t) => {
    if (skip) return t.skip(skip);
    const ms = stress ? 60_000 : 6_000;
    const lock = onBoth('churn.lock');
    // Holds of a few ms: B reads a fallback holder's record through its client's caches
    // (about 1 s for entries and attributes), so holds of microseconds may all fall
    // between what B can see; kernel locks (native) are asked of the server every time.
    const churners = [0, 1].map(() =>
      spawnOn(t, 'A', suite, 'gluster-churn.js', { lock: lock.A, role: 'churn', ms, hold: 20 }),
    );
    const probes = [spawnOn(t, 'B', suite, 'gluster-churn.js', { lock: lock.B, role: 'probe', ms })];
    const c = await Promise.all(churners.map((k) => k.next('done', ms + LIMIT)));
    const p = await Promise.all(probes.map((k) => k.next('done', ms + LIMIT)));
    for (const r of [...c, ...p]) {
      t.diagnostic(
        `${r.host} ${r.backend}: calls=${r.calls} failures=${r.failures} locked=${r.locked} holders=${r.holders} badHolders=${r.badHolders} ${r.errors.join(' | ')}`,
      );
    }
    assert.deepEqual(
      [...c, ...p].map((r) => r.failures),
      [0, 0, 0],
      'failed calls (churn A, churn A, probe B)',
    );
    assert.ok(c.every((r) => r.calls > 0) && p[0].calls > 0);
    assert.equal(p[0].badHolders, 0, 'lockHolder() gave a holder without pid, hostname or a valid date');
    assert.ok(p[0].locked > 0, 'isLocked() on B never saw the lock held by the churn on A');
  },
);

test(
  'lease loss: a SIGSTOPped fallback holder on A loses its lock to a waiter on B, and is told so',
  { timeout: 300_000 },
  async (t) => {
    if (skip) return t.skip(skip);
    const lease = 2000;
    const lock = onBoth('lease.lock');
    const holder = spawnOn(t, 'A', 'fallback', 'gluster-holder.js', { lock: lock.A, lease });
    const granted = await holder.next('granted');
    const waiter = spawnOn(t, 'B', 'fallback', 'gluster-holder.js', { lock: lock.B, lease, tryFirst: true });
    const tried = await waiter.next('tried');
    assert.equal(tried.code, 'ELOCKED', 'the holder on A was not holding');
    // While the holder runs it refreshes its record (every lease/4): 1.5 leases of
    // waiting on B must not take it.
    const stolen = await waiter.next('granted', 1.5 * lease).catch(() => undefined);
    assert.equal(stolen, undefined, `the waiter on B took the lock of a running holder (lease ${lease} ms)`);
    holder.kill('SIGSTOP');
    const stoppedAt = Date.now();
    // Stopped until the waiter has it: the lease lapses unrefreshed, the record is reclaimed.
    const taken = await waiter.next('granted', 120_000);
    holder.kill('SIGCONT');
    const contAt = Date.now();
    // The holder can know at its next refresh (every lease/4) after it runs again.
    const lost = granted.hasSignal
      ? await holder.next('lost', 20_000).catch((e) => ({ error: e.message }))
      : { error: 'the Lock has no signal' };
    holder.send({ type: 'release' });
    const release = await Promise.race([holder.next('released'), holder.next('release-failed')]);
    t.diagnostic(
      `waiter on B granted ${taken.at - stoppedAt} ms after SIGSTOP (lease ${lease} ms); holder hasSignal=${granted.hasSignal}; ` +
        `lost: ${lost.error || `${lost.code} ${lost.at - contAt} ms after SIGCONT`}; release: ${release.type} ${release.code || ''} ${release.message || ''}`,
    );
    assert.equal(granted.hasSignal, true, 'Lock.signal is an AbortSignal');
    assert.equal(lost.code, 'ELOCKLOST', `Lock.signal aborted with ELOCKLOST (${lost.error || lost.code})`);
    assert.deepEqual([release.type, release.code], ['release-failed', 'ELOCKLOST']);
    waiter.send({ type: 'release' });
    assert.equal((await waiter.next('released')).type, 'released');
  },
);

test(
  "other programs' locks across the clients: flock(1) and POSIX record locks on A exclude fslock on B, both ways",
  { timeout: 300_000 },
  async (t) => {
    if (skip) return t.skip(skip);
    if (fslock.backend !== 'native')
      return t.skip('the fallback takes no kernel lock (what it sees and does not exclude: test/interop.test.js)');
    const { execFileSync, spawn } = require('node:child_process');
    const bin = path.join(require('node:os').tmpdir(), `fslock-interop-locker-${process.pid}`);
    execFileSync('cc', [path.join(__dirname, 'fixtures', 'interop-locker.c'), '-o', bin]);
    t.after(() => fs.rmSync(bin, { force: true }));
    const lockers = [
      [
        'util-linux flock(1)',
        (action, p) =>
          action === 'hold'
            ? ['flock', '-x', p, 'sh', '-c', 'echo held; cat >/dev/null']
            : ['sh', '-c', 'flock -n "$0" true && echo free || echo busy', p],
      ],
      ['C fcntl(F_SETLK)', (action, p) => [bin, 'posix', 'ex', action, p]],
      ['C flock(2)', (action, p) => [bin, 'flock', 'ex', action, p]],
    ];
    const tries = (argv) => execFileSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: LIMIT }).trim();
    for (const [name, argv] of lockers) {
      const lock = onBoth(`${name.replace(/\W+/g, '-')}.lock`);
      // It holds through client A; fslock through client B waits for it.
      const [cmd, ...args] = argv('hold', lock.A);
      const other = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
      t.after(() => other.kill('SIGKILL'));
      await within(
        new Promise((resolve) => other.stdout.on('data', (d) => String(d).includes('held') && resolve())),
        LIMIT,
        `${name} to hold`,
      );
      await assert.rejects(fslock.lock(lock.B, { wait: false }), { code: 'ELOCKED' }, `${name}: fslock on B`);
      assert.equal(await fslock.isLocked(lock.B), true, `${name}: isLocked on B`);
      assert.equal((await fslock.lockHolder(lock.B))?.record, false);
      const waiting = fslock.lock(lock.B);
      other.stdin.end();
      const held = await within(waiting, LIMIT, `${name}: fslock on B after it released`);
      // fslock holds through client B; it tries through client A.
      assert.equal(tries(argv('try', lock.A)), 'busy', `${name} on A while fslock on B holds`);
      await held.release();
      assert.equal(tries(argv('try', lock.A)), 'free', `${name} on A after fslock released`);
    }
  },
);
