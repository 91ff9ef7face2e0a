'use strict';
// Node's permission model binds fslock as it binds node:fs: a real child process under
// `--permission` (Node 20: `--experimental-permission`) with `--allow-addons`, write
// access to one directory and read access to a few, calls every fslock function that
// takes a path (test/fixtures/permission-ops.js). Refused calls fail with node's own
// ERR_ACCESS_DENIED (code, permission, resource, the same message node:fs gives) and
// leave nothing behind; allowed ones work. Both backends (FSLOCK_BACKEND is passed on;
// the native one must really load in the child). test:node-versions runs it on 22 and 24.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { fslock, tmpdir } = require('./helpers');

const ROOT = path.join(__dirname, '..');
const modelFlag = process.allowedNodeEnvironmentFlags.has('--permission')
  ? '--permission'
  : '--experimental-permission';
const skip = process.allowedNodeEnvironmentFlags.has(modelFlag) ? undefined : 'this Node has no permission model';

function runModel(t) {
  const base = fs.realpathSync(tmpdir(t));
  const dirs = Object.fromEntries(['inside', 'outside', 'unreadable'].map((n) => [n, path.join(base, n)]));
  for (const d of Object.values(dirs)) fs.mkdirSync(d);
  fs.writeFileSync(path.join(dirs.outside, 'existing'), 'old');
  fs.writeFileSync(path.join(dirs.outside, 'target'), 'outside');
  fs.writeFileSync(path.join(dirs.unreadable, 'data'), 'secret');
  fs.writeFileSync(path.join(dirs.inside, 'movable'), 'm');
  fs.writeFileSync(path.join(dirs.inside, 'real'), 'old');
  fs.symlinkSync(path.join(dirs.outside, 'target'), path.join(dirs.inside, 'link-out'));
  fs.symlinkSync('real', path.join(dirs.inside, 'link-in'));
  const reads = [ROOT, dirs.inside, dirs.outside, '/etc/alpine-release']; // node-gyp-build looks there
  const args = [
    modelFlag,
    '--allow-addons',
    ...reads.map((r) => `--allow-fs-read=${r}`),
    `--allow-fs-write=${dirs.inside}`,
    path.join(__dirname, 'fixtures', 'permission-ops.js'),
    JSON.stringify(dirs),
  ];
  const out = execFileSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { dirs, report: JSON.parse(out) };
}

test(
  'every path-taking call is refused outside --allow-fs-*, with node:fs own error, and works inside',
  { skip },
  async (t) => {
    const { dirs, report } = runModel(t);
    assert.equal(
      report.backend,
      fslock.backend,
      'the child runs the same backend (the addon loads under --allow-addons)',
    );
    const { write, read } = report.node;
    assert.equal(write.code, 'ERR_ACCESS_DENIED');
    assert.equal(read.code, 'ERR_ACCESS_DENIED');
    for (const [name, r] of Object.entries(report.refused)) {
      const reading = /isLocked|lockHolder|readFile|check/.test(name);
      const like = reading ? read : write;
      assert.equal(r.code, 'ERR_ACCESS_DENIED', `${name}: ${JSON.stringify(r)}`);
      assert.equal(r.permission, like.permission, name);
      assert.equal(r.message, like.message, `${name}: node's own message`);
      assert.deepEqual(r.keys, like.keys, `${name}: node's own properties`);
      const where = reading ? dirs.unreadable : /link/.test(name) ? dirs.outside : dirs.outside;
      assert.ok(r.resource.startsWith(where + path.sep), `${name}: resource ${r.resource}`);
    }
    // Nothing was created, replaced or removed where writing is not allowed.
    assert.deepEqual(fs.readdirSync(dirs.outside).sort(), ['existing', 'target']);
    assert.equal(fs.readFileSync(path.join(dirs.outside, 'existing'), 'utf8'), 'old');
    assert.equal(fs.readFileSync(path.join(dirs.outside, 'target'), 'utf8'), 'outside');
    assert.equal(fs.readFileSync(path.join(dirs.inside, 'movable'), 'utf8'), 'm', 'the refused move left its source');
    for (const [name, r] of Object.entries(report.granted)) assert.deepEqual(r, { ok: true }, name);
    assert.equal(fs.readFileSync(path.join(dirs.inside, 'real'), 'utf8'), 'through');
    assert.equal(fs.readFileSync(path.join(dirs.inside, 'a'), 'utf8'), 'y+');
  },
);
