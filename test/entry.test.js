'use strict';
// The package's entry points: CommonJS and ESM expose the same functions (one module
// instance underneath), the backend is reported, and FSLOCK_BACKEND is honoured.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { fslock } = require('./helpers');

test('ESM and CommonJS entry points export the same API', async () => {
  const esm = await import('fslock');
  for (const name of [
    'lock',
    'lockSync',
    'withLock',
    'isLocked',
    'lockHolder',
    'flock',
    'flockSync',
    'lockRange',
    'unlockRange',
  ]) {
    assert.equal(typeof fslock[name], 'function', `cjs ${name}`);
    assert.equal(esm[name], fslock[name], `esm ${name} is the same function`);
  }
  assert.equal(esm.backend, fslock.backend);
  assert.equal(esm.default, fslock);
  // Types ship for both.
  const pkg = require('../package.json');
  assert.ok(fs.existsSync(path.join(__dirname, '..', pkg.exports['.'].require.types)));
  assert.ok(fs.existsSync(path.join(__dirname, '..', pkg.exports['.'].import.types)));
});

test('backend and loadError say which backend runs and why', () => {
  assert.equal(fslock.backend, process.env.FSLOCK_BACKEND === 'fallback' ? 'fallback' : fslock.backend);
  if (fslock.backend === 'native') assert.equal(fslock.loadError, undefined);
  else assert.ok(fslock.loadError instanceof Error, 'the reason is kept');
  const run = (env) =>
    spawnSync(process.execPath, ['-p', "require('fslock').backend"], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
  assert.equal(run({ FSLOCK_BACKEND: 'fallback' }).stdout.trim(), 'fallback');
  if (process.env.FSLOCK_BACKEND !== 'fallback' && fslock.backend === 'native') {
    assert.equal(run({ FSLOCK_BACKEND: 'native' }).stdout.trim(), 'native');
  }
});

test('FSLOCK_BACKEND=native with a binding that cannot load is a hard error that says why', (t) => {
  // A copy of the package whose binary is missing: node-gyp-build finds nothing.
  const root = path.join(__dirname, '..');
  const copy = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'fslock-nobin-'));
  t.after(() => fs.rmSync(copy, { recursive: true, force: true }));
  fs.cpSync(path.join(root, 'dist'), path.join(copy, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(root, 'package.json'), path.join(copy, 'package.json'));
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(copy, 'node_modules'));
  const script = `const f = require(${JSON.stringify(copy)}); console.log(f.backend, f.loadError && f.loadError.message.slice(0, 40))`;
  const soft = spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, FSLOCK_BACKEND: '' },
    encoding: 'utf8',
  });
  assert.equal(soft.status, 0, soft.stderr);
  assert.match(soft.stdout, /^fallback \S/, 'falls back, keeping the reason');
  const hard = spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, FSLOCK_BACKEND: 'native' },
    encoding: 'utf8',
  });
  assert.notEqual(hard.status, 0);
  assert.match(hard.stderr, /FSLOCK_BACKEND=native but the native binding did not load/);
  assert.match(hard.stderr, /Possible solutions/);
});
