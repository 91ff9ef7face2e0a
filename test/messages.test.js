'use strict';
// The messages a new user reads first: argument errors worded like Node's, the missing
// directory named by capabilities(), an unknown FSLOCK_BACKEND refused with the values
// it accepts.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { fslock, tmpdir, rejectsWith } = require('./helpers');

test('update(): a value of the wrong type returned by fn is described, not quoted as an argument name', async (t) => {
  const p = path.join(tmpdir(t), 'u');
  const e = await rejectsWith(
    fslock.update(p, () => 42),
    { code: 'ERR_INVALID_ARG_TYPE' },
  );
  assert.equal(
    e.message,
    'The value returned by fn must be of type string or an instance of Buffer, TypedArray, or DataView. Received type number (42)',
  );
  assert.ok(e instanceof TypeError);
});

test('argument and option names are worded like Node: "argument" and "property"', async () => {
  const e1 = await rejectsWith(fslock.lock(42), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.match(e1.message, /^The "path" argument must be of type string/);
  const e2 = await rejectsWith(fslock.lock('x.lock', { timeout: 'soon' }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.match(
    e2.message,
    /^The "options\.timeout" property must be of type number\. Received type string \('soon'\)$/,
  );
});

test('capabilities() of a missing directory: ENOENT names the directory, not a probe file', async (t) => {
  const missing = path.join(tmpdir(t), 'missing');
  const e = await rejectsWith(fslock.capabilities(missing), { code: 'ENOENT', path: missing, syscall: 'capabilities' });
  assert.equal(e.message, `ENOENT: no such file or directory, capabilities '${missing}'`);
  assert.doesNotMatch(e.message, /fslock-probe/);
  const file = path.join(__filename, 'sub');
  await rejectsWith(fslock.capabilities(file), { code: 'ENOTDIR', path: file });
});

test('FSLOCK_BACKEND: an unknown value is an error at load that lists the allowed values; empty means unset', () => {
  const load = (value) =>
    spawnSync(process.execPath, ['-e', 'process.stdout.write(require("fslock").backend)'], {
      cwd: path.join(__dirname, '..'),
      env: { ...process.env, FSLOCK_BACKEND: value },
      encoding: 'utf8',
    });
  const bogus = load('bogus');
  assert.notEqual(bogus.status, 0, 'FSLOCK_BACKEND=bogus was accepted');
  assert.match(bogus.stderr, /FSLOCK_BACKEND="bogus" is not a backend: use "native", "fallback", or leave it unset/);
  const typo = load('Native');
  assert.notEqual(typo.status, 0, 'a misspelt "native" must not quietly run the fallback');
  const empty = load('');
  assert.equal(empty.status, 0, empty.stderr);
  assert.ok(['native', 'fallback'].includes(empty.stdout));
  assert.equal(load('fallback').stdout, 'fallback');
});
