'use strict';
// Processes of fslock 0.1 (lock-file protocol version 1) and of this version on one lock
// path exclude each other (docs/protocol.md, "Compatibility"): a version-1 native
// contender (the same kernel lock and nlink checks, step by step) and 0.1's own fallback
// code, frozen in test/fixtures/v1, against this version's native and fallback. The one
// pair that does not mix — 0.1's fallback with this version's native, which holds an
// empty lock file (a 0.1 native's file in the making) without writing into it while the
// 0.1 fallback takes an empty file older than 2 s as abandoned — is documented there
// (upgrade fallback users together) and not run.
const { test, suite } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { fslock, tmpdir, spawnFixture, stress } = require('./helpers');

const NATIVE = { env: { FSLOCK_BACKEND: 'native' } };
const FALLBACK = { env: { FSLOCK_BACKEND: 'fallback' } };

suite(`protocol version 1 and 2 together (this process: ${fslock.backend})`, () => {
  for (const [name, v2, v1] of [
    ['native', NATIVE, ['native-v1', 'native-v1']],
    ['fallback', FALLBACK, ['native-v1', 'fallback-v1']],
  ]) {
    test(`0.1 ${v1.join(' + ')} + this version's ${name}: nobody overlaps`, async (t) => {
      const dir = tmpdir(t);
      const file = path.join(dir, 'shared.lock');
      const inside = path.join(dir, 'inside');
      fs.mkdirSync(inside);
      const per = stress ? 600 : 80;
      const kids = [
        ...v1.map((k) =>
          spawnFixture(t, 'v1-worker.js', [k, file, inside, String(per)], k === 'native-v1' ? NATIVE : FALLBACK),
        ),
        spawnFixture(t, 'stress-worker.js', [file, inside, String(per), '0'], v2),
        spawnFixture(t, 'stress-worker.js', [file, inside, String(per), '0'], v2),
      ];
      // A contender that fails or dies fails the test at once; no timer is left behind
      // (a pending one would keep this file's process alive).
      const report = (k) =>
        new Promise((resolve, reject) => {
          k.on('message', (m) => {
            if (m.type === 'done') resolve(m);
            else if (m.type === 'error') reject(new Error(m.message));
          });
          k.on('exit', (code, signal) =>
            setTimeout(() => reject(new Error(`a contender exited (${code ?? signal}) without reporting`)), 1000),
          );
        });
      const results = await Promise.all(kids.map(report));
      const overlaps = results.reduce((n, r) => n + r.overlaps, 0);
      t.diagnostic(`${results.reduce((n, r) => n + r.acquired, 0)} acquisitions, ${overlaps} overlaps`);
      assert.equal(overlaps, 0);
      const left = fs.readdirSync(dir).filter((f) => f !== 'inside' && f !== 'shared.lock');
      assert.deepEqual(left, [], 'no temp or claim file left');
    });
  }
});
