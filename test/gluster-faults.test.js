'use strict';
// A GlusterFS server restart under a held lock: the brick process SIGKILLed, then
// `gluster volume start VOL force`, while a holder on client A holds and a waiter on
// client B (another hostname) waits — on a volume of this file's own
// (scripts/gluster.js). The brick drops every lock with the connection; what the holder
// is told depends on the backend and on the volume option client.strict-locks (README,
// "Server restarts and lost connections"). Root only: elsewhere the file is skipped with
// the reason. FSLOCK_STRESS=1 repeats each restart.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { fslock, stress, tmpdir, within } = require('./helpers');
const gluster = require('../scripts/gluster');
const { HOST_B, spawnOn } = require('./gluster-clients');

const backend = fslock.backend;
const ROUNDS = stress ? 4 : 1;
// While the brick is down, calls on the volume fail: ENOTCONN, or EBADFD for a
// descriptor the client had open on the brick.
const UNREACHABLE = ['EBADFD', 'ENOTCONN'];
let setup;
let skip;
let dirs; // [as client A sees it, as client B sees it]
let onServer; // the same directory in the brick: what the server holds, past every client's cache

before(
  () => {
    try {
      // Fallback processes on two hosts judge the lock file by what their client shows:
      // client caching off (as in test/gluster.test.js).
      setup = gluster.up({ tag: `p${process.pid}f`, coherent: backend === 'fallback' });
    } catch (e) {
      if (!e.unavailable) throw e;
      skip = e.message;
      console.log(`gluster: skipped: ${skip}`);
      return;
    }
    const sub = `faults-${backend}-${process.pid}`;
    dirs = setup.mounts.map((m) => path.join(m, sub));
    onServer = path.join(setup.brick, sub);
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

const on = (name) => ({ A: path.join(dirs[0], name), B: path.join(dirs[1], name), name });

/** The holders named in lock file `lock` as the server holds it: "pid@hostname". */
function recordsOnServer(lock) {
  return [...fs.readFileSync(path.join(onServer, lock.name), 'utf8').matchAll(/"pid":(\d+),"hostname":"([^"]*)"/g)].map(
    (m) => `${m[1]}@${m[2]}`,
  );
}

function holder(t, lock) {
  return spawnOn(t, 'A', backend, 'gluster-fault.js', { role: 'holder', lock });
}
function waiter(t, lock) {
  return spawnOn(t, 'B', backend, 'gluster-fault.js', { role: 'waiter', lock });
}
async function prober(t, lock) {
  const p = spawnOn(t, 'A', backend, 'gluster-fault.js', { role: 'probe', lock });
  await p.next('ready');
  p.probe = () => (p.send({ type: 'probe' }), p.next('probed'));
  return p;
}

/** Nothing of type `type` from `child` for `ms`: a duration of the scenario, not a wait for something. */
async function none(child, type, ms) {
  const m = await child.next(type, ms).catch(() => undefined);
  assert.equal(m, undefined, `unexpected '${type}' message: ${JSON.stringify(m)}`);
}

/** Kills the brick, runs `whileDown()`, starts the brick again; returns the times. */
async function restart(t, whileDown = async () => {}) {
  const killedAt = Date.now();
  const pid = gluster.killBrick(setup);
  const reapedAt = Date.now();
  await whileDown();
  const startAt = Date.now();
  const next = gluster.startBrick(setup);
  const startedAt = Date.now();
  t.diagnostic(
    `brick ${pid} SIGKILLed, reaped after ${reapedAt - killedAt} ms; volume start force took ${startedAt - startAt} ms (brick ${next})`,
  );
  return { killedAt, startedAt };
}

test(
  'native: a brick restart with client.strict-locks on: a running holder learns during the outage, one stopped through it as soon as it runs (its descriptor keeps failing), release() rejects, the waiters on B get the locks; ENOTCONN while the brick is down',
  { timeout: 300_000, skip: backend !== 'native' && 'native backend only (kernel locks)' },
  async (t) => {
    if (skip) return t.skip(skip);
    gluster.setOption(setup, 'client.strict-locks', 'on');
    for (let round = 0; round < ROUNDS; round++) {
      const lock = on(`strict-${round}.lock`);
      const a = holder(t, lock.A);
      assert.equal((await a.next('granted')).hasSignal, true);
      const probe = await prober(t, lock.A);
      const b = waiter(t, lock.B);
      // A second holder stopped through the outage (SIGSTOP: a paused VM, a slow machine).
      const stoppedLock = on(`strict-${round}-stopped.lock`);
      const a2 = holder(t, stoppedLock.A);
      await a2.next('granted');
      const b2 = waiter(t, stoppedLock.B);
      // Held for a few checks while B waits: no check may take that for a loss.
      await none(b, 'granted', 1500);
      await none(a, 'lost', 0);
      await none(a2, 'lost', 0);
      a2.kill('SIGSTOP');
      let down;
      const { startedAt } = await restart(t, async () => {
        down = await probe.probe();
      });
      t.diagnostic(`while down: ${JSON.stringify(down, ['isLocked', 'lockHolder', 'tryLock', 'code', 'syscall'])}`);
      for (const call of ['isLocked', 'lockHolder', 'tryLock'])
        assert.ok(
          UNREACHABLE.includes(down[call].code),
          `${call}() while the brick is down: ${JSON.stringify(down[call])}`,
        );
      const lost = await a.next('lost');
      const bWoken = await b.next('wait-error');
      const granted = await b.next('granted', 120_000);
      t.diagnostic(
        `round ${round}: A told ${lost.code} (cause ${lost.cause}) ${granted.at - lost.at} ms before B's grant; ` +
          `B's waiting lock() rejected with ${bWoken.code} (${bWoken.syscall}), granted ${granted.at - startedAt} ms after the brick started`,
      );
      assert.equal(lost.code, 'ELOCKLOST');
      assert.ok(UNREACHABLE.includes(lost.cause), `cause ${lost.cause}: ${lost.message}`);
      assert.ok(UNREACHABLE.includes(bWoken.code), `B's waiting lock(): ${bWoken.code} ${bWoken.message}`);
      assert.deepEqual([granted.holder.value.pid, granted.holder.value.hostname], [granted.pid, HOST_B]);
      a.send({ type: 'release' });
      const released = await a.next('release-failed');
      assert.equal(released.code, 'ELOCKLOST');
      // A's release touched nothing of B's: B's lock and record stand.
      const after = await probe.probe();
      assert.equal(after.isLocked.value, true);
      assert.equal(after.tryLock.code, 'ELOCKED');
      assert.deepEqual(recordsOnServer(lock), [`${granted.pid}@${HOST_B}`]);
      b.send({ type: 'release' });
      await b.next('released');
      // The stopped holder: B's waiter got its lock meanwhile; A's descriptor still fails.
      const granted2 = await b2.next('granted', 120_000);
      const contAt = Date.now();
      a2.kill('SIGCONT');
      const lost2 = await a2.next('lost');
      t.diagnostic(
        `round ${round}: stopped holder told ${lost2.code} (cause ${lost2.cause}) ${lost2.at - contAt} ms after SIGCONT, ` +
          `${lost2.at - granted2.at} ms after B's grant (B granted ${granted2.at - startedAt} ms after the brick started)`,
      );
      assert.equal(lost2.code, 'ELOCKLOST');
      assert.equal(lost2.cause, 'EBADFD', lost2.message);
      a2.send({ type: 'release' });
      assert.equal((await a2.next('release-failed')).code, 'ELOCKLOST');
      assert.deepEqual(recordsOnServer(stoppedLock), [`${granted2.pid}@${HOST_B}`]);
      b2.send({ type: 'release' });
      await b2.next('released');
    }
  },
);

test(
  'native: a brick restart with the defaults (client.strict-locks off): descriptors come back without their locks, and the holders learn it: during the outage, or after it from the lock another holder took or from the lock nobody holds',
  { timeout: 300_000, skip: backend !== 'native' && 'native backend only (kernel locks)' },
  async (t) => {
    if (skip) return t.skip(skip);
    gluster.setOption(setup, 'client.strict-locks', 'off');
    for (let round = 0; round < ROUNDS; round++) {
      // running: A runs through the outage. taken: A is stopped through it (SIGSTOP: a VM
      // paused, a slow machine), and B takes the lock meanwhile. free: stopped, no waiter.
      const cases = ['running', 'taken', 'free'].map((name) => ({ name, lock: on(`default-${round}-${name}.lock`) }));
      for (const c of cases) {
        c.a = holder(t, c.lock.A);
        c.held = await c.a.next('granted');
        if (c.name !== 'free') c.b = waiter(t, c.lock.B);
      }
      const probe = await prober(t, cases[2].lock.A);
      await none(cases[1].b, 'granted', 1500);
      for (const c of cases) await none(c.a, 'lost', 0);
      for (const c of cases.slice(1)) c.a.kill('SIGSTOP');
      const { startedAt } = await restart(t);
      for (const c of cases.slice(0, 2)) c.granted = await c.b.next('granted', 120_000);
      const contAt = Date.now();
      for (const c of cases.slice(1)) c.a.kill('SIGCONT');
      for (const c of cases) c.lost = await c.a.next('lost');
      const [running, taken, free] = cases;
      t.diagnostic(
        `round ${round}: running holder told ${running.granted.at - running.lost.at} ms before B's grant (cause ${running.lost.cause}); ` +
          `stopped ones ${taken.lost.at - contAt} and ${free.lost.at - contAt} ms after SIGCONT (the taken one ${taken.lost.at - taken.granted.at} ms after B's grant); B granted ${running.granted.at - startedAt} ms after the brick started`,
      );
      assert.equal(running.lost.code, 'ELOCKLOST');
      assert.ok(UNREACHABLE.includes(running.lost.cause), `${running.lost.cause}: ${running.lost.message}`);
      assert.equal(taken.lost.code, 'ELOCKLOST');
      assert.match(taken.lost.message, /another process holds a conflicting exclusive lock/);
      assert.equal(free.lost.code, 'ELOCKLOST');
      assert.match(free.lost.message, /the server holds no lock on it/);
      for (const c of cases) {
        c.a.send({ type: 'release' });
        assert.equal((await c.a.next('release-failed')).code, 'ELOCKLOST');
      }
      for (const c of cases.slice(0, 2)) assert.deepEqual(recordsOnServer(c.lock), [`${c.granted.pid}@${HOST_B}`]);
      // The free one: A's record stays (its release cannot know the file is not someone
      // else's now), and the next locker takes it as it would a crashed holder's.
      assert.deepEqual(recordsOnServer(free.lock), [`${free.held.pid}@${setup.hostname}`]);
      assert.equal((await probe.probe()).tryLock.value, 'granted');
      for (const c of cases.slice(0, 2)) {
        c.b.send({ type: 'release' });
        await c.b.next('released');
      }
    }
  },
);

/**
 * The F_OFD_GETLK calls a holder makes while it holds (strace, timestamps between its
 * grant and its release request): the watch's checks, and nothing else.
 */
async function checksWhileHeld(t, lock, holdMs) {
  const trace = path.join(os.tmpdir(), `fslock-watch-${process.pid}-${Date.now()}.strace`);
  t.after(() => fs.rmSync(trace, { force: true }));
  const script = path.join(__dirname, 'fixtures', 'gluster-fault.js');
  const child = spawn(
    'strace',
    [
      '-f',
      '-qq',
      '-ttt',
      '-e',
      'trace=fcntl',
      '-o',
      trace,
      process.execPath,
      script,
      JSON.stringify({ role: 'holder', lock }),
    ],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const granted = await within(new Promise((resolve) => child.once('message', resolve)), 60_000, 'grant under strace');
  await new Promise((r) => setTimeout(r, holdMs)); // the hold is the scenario
  const releaseAt = Date.now();
  child.send({ type: 'release' });
  await within(exited, 60_000, 'exit under strace');
  return fs
    .readFileSync(trace, 'utf8')
    .split('\n')
    .filter((l) => /F_OFD_GETLK/.test(l))
    .map((l) => Number(l.split(/\s+/)[1]) * 1000)
    .filter((at) => at > granted.at && at < releaseAt).length;
}

test(
  'native: a lock on GlusterFS is checked while held, a lock on a local filesystem never',
  { timeout: 120_000, skip: backend !== 'native' && 'native backend only (kernel locks)' },
  async (t) => {
    if (skip) return t.skip(skip);
    try {
      require('../scripts/tooling').ensurePackages([['strace', 'strace']]);
    } catch (e) {
      return t.skip(`no strace: ${e.message}`);
    }
    const local = await checksWhileHeld(t, path.join(tmpdir(t), 'local.lock'), 1600);
    const shared = await checksWhileHeld(t, on('checked.lock').A, 1600);
    t.diagnostic(`F_OFD_GETLK calls while held 1.6 s: ${local} on a local filesystem, ${shared} on GlusterFS`);
    assert.equal(local, 0);
    assert.ok(shared >= 2, `${shared} checks in 1.6 s`);
  },
);

test(
  'native: shared holders on both clients are never told of a loss',
  { timeout: 120_000, skip: backend !== 'native' && 'native backend only (kernel locks)' },
  async (t) => {
    if (skip) return t.skip(skip);
    const lock = on('shared.lock');
    const holders = ['A', 'B'].map((client) =>
      spawnOn(t, client, backend, 'gluster-fault.js', { role: 'holder', lock: lock[client], shared: true }),
    );
    for (const h of holders) await h.next('granted');
    await none(holders[0], 'lost', 1500);
    await none(holders[1], 'lost', 0);
    for (const h of holders) {
      h.send({ type: 'release' });
      await h.next('released');
    }
  },
);

test(
  "fallback: a brick restart keeps a fallback holder's lock (its record is in the file): the waiter on B gets it only after the release",
  { timeout: 300_000, skip: backend !== 'fallback' && 'fallback backend only (records)' },
  async (t) => {
    if (skip) return t.skip(skip);
    for (let round = 0; round < ROUNDS; round++) {
      const lock = on(`fallback-${round}.lock`);
      const a = holder(t, lock.A);
      await a.next('granted');
      const b = waiter(t, lock.B);
      await none(b, 'granted', 1500);
      const { startedAt } = await restart(t);
      // Held on for longer than B's polls and A's refreshes after the restart.
      await none(b, 'granted', 4000);
      await none(a, 'lost', 0);
      a.send({ type: 'release' });
      const released = await a.next('released');
      const granted = await b.next('granted', 120_000);
      const errors = new Map();
      for (let m; (m = await b.next('wait-error', 0).catch(() => undefined));) {
        const k = `${m.code} (${m.syscall})`;
        errors.set(k, (errors.get(k) || 0) + 1);
      }
      t.diagnostic(
        `round ${round}: B granted ${granted.at - released.at} ms after A's release (${granted.at - startedAt} ms after the brick started); B's lock() calls failed meanwhile with: ${[...errors].map(([k, n]) => `${k} x${n}`).join(', ') || 'nothing'}`,
      );
      assert.ok(granted.at >= released.at, 'B was granted before A released');
      b.send({ type: 'release' });
      await b.next('released');
    }
  },
);
