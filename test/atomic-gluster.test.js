'use strict';
// The README quick start on a shared filesystem: two processes on each of two GlusterFS
// clients (one volume of this file's own, mounted twice by scripts/gluster.js; client B's
// processes under another hostname) increment one JSON counter with the pattern as the
// README writes it — lock, fslock.readFile, writeFileAtomic, release. With node:fs's
// readFile the same loop lost increments and failed calls with ESTALE (issue 23: 226 of
// 600); with fslock.readFile the count must be exact, no call may fail, and no two
// critical sections may overlap. Native processes on a volume with default client
// caching; fallback processes on one with client caching off, which fallback locks
// across hosts need (README, "Shared and network filesystems"). Root only; the reason
// is shown where it cannot run.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { fslock, within, stress } = require('./helpers');
const gluster = require('../scripts/gluster');

const HOST_B = 'fslock-host-b';
const coherent = fslock.backend === 'fallback';
let setup;
let skip;

before(
  () => {
    try {
      setup = gluster.up({ tag: `p${process.pid}r${coherent ? 'c' : ''}`, coherent });
    } catch (e) {
      if (!e.unavailable) throw e;
      skip = e.message;
    }
  },
  { timeout: 300_000 },
);

after(
  () => {
    if (setup) gluster.down(setup);
  },
  { timeout: 300_000 },
);

/** A counter process on client A (this hostname) or B (its own UTS namespace, HOST_B). */
function contender(t, client, cfg) {
  const argv = [path.join(__dirname, 'fixtures', 'atomic-readme-counter.js'), JSON.stringify(cfg)];
  const [cmd, args] =
    client === 'B'
      ? ['unshare', ['-u', 'sh', '-c', 'hostname "$0" && exec "$@"', HOST_B, process.execPath, ...argv]]
      : [process.execPath, argv];
  const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const done = new Promise((resolve, reject) => {
    child.on('message', (m) => m.type === 'done' && resolve(m));
    child.on('exit', (code, signal) =>
      reject(new Error(`counter on ${client} exited (${code ?? signal}) before done`)),
    );
  });
  return within(done, 480_000, `counter on ${client}`);
}

/** Pairs of critical sections of different processes that overlap in time. */
function overlaps(reports) {
  const all = reports
    .flatMap((r, who) => r.intervals.map(([a, b]) => ({ who, enter: BigInt(a), leave: BigInt(b) })))
    .sort((x, y) => (x.enter < y.enter ? -1 : x.enter > y.enter ? 1 : 0));
  let last;
  let found = 0;
  for (const s of all) {
    if (last && s.enter < last.leave) found++;
    if (!last || s.leave > last.leave) last = s;
  }
  return found;
}

test(
  `README quick start, ${fslock.backend} processes, 2 per client on GlusterFS (${coherent ? 'client caching off' : 'default caching'}): exact, no failed call`,
  { timeout: 600_000 },
  async (t) => {
    if (skip) return t.skip(skip);
    const n = coherent ? (stress ? 100 : 30) : stress ? 500 : 150;
    const sub = `readme-${process.pid}`;
    const [a, b] = setup.mounts.map((m) => path.join(m, sub));
    fs.mkdirSync(a);
    fs.writeFileSync(path.join(a, 'cache.json'), JSON.stringify({ hits: 0 }));
    const on = (dir) => ({ lock: path.join(dir, 'cache.json.lock'), data: path.join(dir, 'cache.json'), n });
    const t0 = Date.now();
    const reports = await Promise.all([
      contender(t, 'A', on(a)),
      contender(t, 'A', on(a)),
      contender(t, 'B', on(b)),
      contender(t, 'B', on(b)),
    ]);
    const final = JSON.parse(gluster.readThroughFd(path.join(b, 'cache.json')));
    t.diagnostic(`4 processes x ${n} increments in ${Date.now() - t0} ms; hits=${final.hits}`);
    for (const r of reports)
      t.diagnostic(`  ${r.host} ${r.backend}: ok=${r.ok} failed=${r.failed} ${r.ms} ms ${r.errors.join(' | ')}`);
    assert.deepEqual(
      reports.map((r) => [r.host, r.backend]),
      [
        [setup.hostname, fslock.backend],
        [setup.hostname, fslock.backend],
        [HOST_B, fslock.backend],
        [HOST_B, fslock.backend],
      ],
    );
    assert.deepEqual(
      { failed: reports.reduce((s, r) => s + r.failed, 0), overlaps: overlaps(reports), hits: final.hits },
      { failed: 0, overlaps: 0, hits: 4 * n },
    );
  },
);
