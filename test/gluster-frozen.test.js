'use strict';
// A hung mount costs one operation, not the process: a GlusterFS client's FUSE process
// frozen (SIGSTOP on its glusterfs process: a hung server, a stuck network mount) while
// a holder on that client holds, or while a waiter on it waits. The process's event loop
// must keep running through the freeze — an interval timer keeps ticking and the process
// answers over IPC while its filesystem is frozen — and the lock must come out intact
// when the client runs again. The fallback's heartbeat and the polls of a waiting lock()
// run on timers: they must not block the event loop on a filesystem call. On a volume
// of this file's own (scripts/gluster.js); root only, skipped elsewhere with the reason.
// FSLOCK_STRESS=1 freezes for longer and more often.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { fslock, stress } = require('./helpers');
const gluster = require('../scripts/gluster');
const { spawnOn } = require('./gluster-clients');

const suite = fslock.backend;
// Heartbeat every 250 ms: a freeze spans dozens of them.
const LEASE = 1000;
// Long enough that a process blocked for the freeze cannot pass for one that ran, short
// enough for CI; under the server's ping-timeout (42 s), past which it drops the client.
const FREEZE_MS = stress ? 30_000 : 8_000;
const ROUNDS = stress ? 3 : 1;
// The largest gap between two ticks (every 20 ms) while frozen: generous for a loaded
// 2-core machine, far below the freeze a blocked event loop would show.
const GAP_LIMIT = 2_000;
// How long a process that runs may take to answer over IPC while its mount is frozen.
const ANSWER_MS = 10_000;
let setup;
let skip;
let dirs; // [as client A sees it, as client B sees it]

before(
  () => {
    try {
      // Fallback processes on two hosts judge the lock file by what their client shows:
      // client caching off (as in test/gluster.test.js).
      setup = gluster.up({ tag: `p${process.pid}z`, coherent: suite === 'fallback' });
    } catch (e) {
      if (!e.unavailable) throw e;
      skip = e.message;
      console.log(`gluster: skipped: ${skip}`);
      return;
    }
    const sub = `frozen-${suite}-${process.pid}`;
    dirs = setup.mounts.map((m) => path.join(m, sub));
    fs.mkdirSync(dirs[0]);
  },
  { timeout: 300_000 },
);

after(
  () => {
    if (setup) console.log(`gluster: ${setup.volume} torn down in ${gluster.down(setup)} ms`);
  },
  { timeout: 300_000 },
);

const on = (name) => ({ A: path.join(dirs[0], name), B: path.join(dirs[1], name) });

/** The pid of the glusterfs FUSE client serving `mount` (its last argument). */
function fuseClient(mount) {
  for (const p of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    let argv;
    try {
      argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      continue;
    }
    if (path.basename(argv[0] || '') === 'glusterfs' && argv[argv.length - 1] === mount) return Number(p);
  }
  throw new Error(`no glusterfs client process for ${mount}`);
}

/**
 * Freezes the client of `mount` for FREEZE_MS while `child` measures its event loop;
 * `midway` runs halfway through. Returns the child's report and whether it came while
 * the client was still frozen. The client is resumed whatever happens (also by t.after
 * and at exit: nothing is left stopped).
 */
async function frozen(t, mount, child, midway = async () => {}) {
  child.send({ type: 'measure' });
  await child.next('measuring');
  const pid = fuseClient(mount);
  let resumed = false;
  const resume = () => {
    if (resumed) return;
    resumed = true;
    process.kill(pid, 'SIGCONT');
  };
  t.after(resume);
  process.once('exit', resume);
  process.kill(pid, 'SIGSTOP');
  try {
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, FREEZE_MS / 2)); // the scenario's length, not a wait for something
    await midway();
    await new Promise((r) => setTimeout(r, Math.max(0, FREEZE_MS - (Date.now() - t0))));
    child.send({ type: 'report' });
    const during = await child.next('report', ANSWER_MS).catch(() => undefined);
    resume();
    return { ...(during ?? (await child.next('report'))), whileFrozen: during !== undefined };
  } finally {
    resume();
  }
}

function assertRan(t, who, r) {
  t.diagnostic(
    `${who}: ${r.ticks} ticks in ${r.ms} ms frozen, largest gap ${r.maxGap} ms, answered while frozen: ${r.whileFrozen}`,
  );
  assert.equal(r.whileFrozen, true, `${who} did not answer while its client was frozen (event loop blocked)`);
  assert.ok(r.maxGap < GAP_LIMIT, `${who}'s event loop stopped for ${r.maxGap} ms while its client was frozen`);
}

test(`a ${suite} holder whose client is frozen keeps running, and keeps its lock`, { timeout: 300_000 }, async (t) => {
  if (skip) return t.skip(skip);
  for (let round = 0; round < ROUNDS; round++) {
    const lock = on(`held-${round}.lock`);
    const holder = spawnOn(t, 'A', suite, 'gluster-frozen.js', { role: 'hold', lock: lock.A, lease: LEASE });
    assert.equal((await holder.next('granted')).hasSignal, true);
    const r = await frozen(t, setup.mounts[0], holder);
    assertRan(t, `holder on A (round ${round})`, r);
    assert.equal(r.lost, null, 'the lock was lost: nobody else wanted it');
    assert.equal(await fslock.isLocked(lock.A), true, 'the lock is still held after the client resumed');
    holder.send({ type: 'release' });
    const released = await Promise.race([holder.next('released'), holder.next('release-failed')]);
    assert.deepEqual([released.type, released.code], ['released', undefined], released.message);
    (await fslock.lock(lock.A, { wait: false })).releaseSync();
  }
});

test(
  `a waiting ${suite} lock() whose client is frozen keeps running, and gets the lock once it resumes`,
  { timeout: 300_000 },
  async (t) => {
    if (skip) return t.skip(skip);
    for (let round = 0; round < ROUNDS; round++) {
      const lock = on(`waited-${round}.lock`);
      const holder = spawnOn(t, 'A', suite, 'gluster-frozen.js', { role: 'hold', lock: lock.A, lease: LEASE });
      await holder.next('granted');
      const waiter = spawnOn(t, 'B', suite, 'gluster-frozen.js', { role: 'wait', lock: lock.B, lease: LEASE });
      await waiter.next('waiting');
      // The holder on A (not frozen) releases halfway: the waiter can only learn it
      // from polls (fallback) or the kernel (native) once its own client runs again.
      let releasing;
      const r = await frozen(t, setup.mounts[1], waiter, async () => {
        holder.send({ type: 'release' });
        releasing = await holder.next('releasing');
        await holder.next('released');
      });
      assertRan(t, `waiter on B (round ${round})`, r);
      const granted = await waiter.next('granted');
      assert.ok(granted.at >= releasing.at, 'the waiter was granted before the holder released');
      waiter.send({ type: 'release' });
      const released = await Promise.race([waiter.next('released'), waiter.next('release-failed')]);
      assert.deepEqual([released.type, released.code], ['released', undefined], released.message);
    }
  },
);
