'use strict';
// Issue 22's stress: random mixes of lock / lockSync / withLock, nested and not, shared
// and exclusive, over three files each reached by two names (a symlinked directory), in
// 2 processes with 2 worker threads each besides their main thread, three async tasks
// per thread. Every operation has a hard time limit: 0 hangs, 0 overlaps, EDEADLK
// exactly where a call would wait for its own thread or context (test/fixtures/mix-worker.js).
// 1,000 operations in `npm test`, 100,000 in `npm run stress`.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { fslock, tmpdir, spawnFixture, stress } = require('./helpers');

test(
  `self-wait stress: lock/lockSync/withLock mixes over aliases, 2 processes x 3 threads (${fslock.backend})`,
  { timeout: stress ? 3_600_000 : 600_000 },
  async (t) => {
    const dir = tmpdir(t);
    fs.mkdirSync(path.join(dir, 'real'));
    fs.symlinkSync(path.join(dir, 'real'), path.join(dir, 'via'), 'dir');
    for (let i = 0; i < 3; i++) fs.mkdirSync(path.join(dir, `inside-${i}`));
    const total = stress ? 100_000 : 1_000;
    const contenders = 2 * 3;
    const seed = Date.now() % 1e9;
    const kids = [0, 1].map((k) =>
      spawnFixture(t, 'mix-worker.js', [
        JSON.stringify({ dir, ops: Math.ceil(total / contenders), workers: 2, seed: seed + k }),
      ]),
    );
    const results = await Promise.all(kids.map((k) => k.next('done', stress ? 3_600_000 : 540_000)));
    const ops = results.reduce((n, r) => n + r.ops, 0);
    const failures = results.flatMap((r) => r.failures);
    t.diagnostic(
      `seed ${seed}: ${ops} operations, ${results.reduce((n, r) => n + r.deadlocks, 0)} EDEADLK where due, ${results.reduce((n, r) => n + r.nested, 0)} re-entrant grants`,
    );
    assert.ok(ops >= total, `only ${ops} operations ran`);
    assert.deepEqual(failures, [], 'hangs, overlaps or wrong verdicts');
    for (let i = 0; i < 3; i++) assert.deepEqual(fs.readdirSync(path.join(dir, `inside-${i}`)), []);
  },
);
