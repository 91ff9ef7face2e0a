'use strict';
// examples/: each program runs as a user would run it (its own directory, its own
// worker processes) and reports what it guarantees; the numbers are checked here.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { promisify } = require('node:util');
const { tmpdir, LIMIT } = require('./helpers');

async function example(t, file) {
  const dir = tmpdir(t);
  const { stdout } = await promisify(execFile)(process.execPath, [path.join(__dirname, '..', 'examples', file), dir], {
    timeout: LIMIT * 2,
    encoding: 'utf8',
  });
  return stdout.trim();
}

test('shared-cache.js: 4 processes, expiring entry rewritten on misses, never torn or missing', async (t) => {
  const out = await example(t, 'shared-cache.js');
  const m = /^4 processes, 800 reads: (\d+) hits, (\d+) rewrites, no torn or missing entry$/.exec(out);
  assert.ok(m, out);
  assert.ok(Number(m[2]) >= 1, 'the entry was never written');
});

test('concurrent-installs.js: each package unpacked once, every package complete', async (t) => {
  assert.equal(
    await example(t, 'concurrent-installs.js'),
    '4 processes, 11 installs of 4 packages: 4 unpacked, the rest reused; all complete: true',
  );
});

test('comment-files.js: 100 comments from 4 writers, 100 distinct names, no partial read', async (t) => {
  assert.match(
    await example(t, 'comment-files.js'),
    /^4 writers, 100 comments: 100 distinct files, \d+ complete reads, none partial$/,
  );
});

test('doctest-stats.js: the artifact is built once, no stats update is lost', async (t) => {
  assert.equal(
    await example(t, 'doctest-stats.js'),
    '4 runs: artifact built 1 time(s); stats {"runs":80,"passed":156} (expected {"runs":80,"passed":156})',
  );
});
