'use strict';
// NODE_DEBUG=fslock (issue 24): a real child process prints one line per wait (who
// holds the lock, as a person reads it), grant (what becomes of the lock file: kept or
// removed), failed call, atomic write (the temp-file strategy) and retry; without
// NODE_DEBUG it prints nothing.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const os = require('node:os');
const path = require('node:path');
const { fork } = require('node:child_process');
const { fslock, native, tmpdir, within, spawnFixture } = require('./helpers');

const HOST = os.hostname();
const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** debug-steps.js with `steps`, NODE_DEBUG as given; resolves its stderr once it is done. */
function steps(t, list, env, onMessage = () => {}) {
  const child = fork(path.join(__dirname, 'fixtures', 'debug-steps.js'), [JSON.stringify(list)], {
    env: { ...process.env, NODE_DEBUG: '', ...env },
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  t.after(() => child.kill('SIGKILL'));
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  child.on('message', onMessage);
  const done = new Promise((resolve, reject) => {
    child.on('exit', (code) =>
      code === 0 ? resolve({ pid: child.pid, err }) : reject(new Error(`exit ${code}: ${err}`)),
    );
  });
  return within(done, 60_000, 'the debug-steps child');
}

test(`NODE_DEBUG=fslock: waits, grants, failures, writes, retries (${fslock.backend})`, async (t) => {
  const dir = tmpdir(t);
  const waited = path.join(dir, 'waited.lock');
  const stale = path.join(dir, 'stale.lock');
  const data = path.join(dir, 'data.json');
  // A holder of `waited` (keep: false: a native waiter then wakes on a removed file and
  // retries), and a holder of `stale` killed with SIGKILL (its record stays).
  const h = spawnFixture(t, 'lock-op.js', ['lock', waited, JSON.stringify({ hold: true, keep: false })]);
  const { pid } = await h.next('started');
  await h.next('granted');
  const k = spawnFixture(t, 'lock-op.js', ['lock', stale, JSON.stringify({ hold: true, keep: true })]);
  const { pid: deadPid } = await k.next('started');
  await k.next('granted');
  k.kill('SIGKILL');
  await k.exited();
  const list = [
    { op: 'wait', path: waited, options: { keep: false } },
    { op: 'elocked', path: path.join(dir, 'e.lock') },
    { op: 'write', path: data },
    { op: 'lock', path: stale, options: { keep: true } },
  ];
  const { pid: child, err } = await steps(t, list, { NODE_DEBUG: 'fslock' }, (m) => {
    if (m.type === 'waiting') h.send({ type: 'release' });
  });
  const line = (re) => assert.match(err, new RegExp(`^FSLOCK ${child}: ${re}$`, 'm'), err);
  line(
    `exclusive '${esc(waited)}': waiting for pid ${pid} \\(lock-op\\.js\\) on ${esc(HOST)} since \\d\\d:\\d\\d:\\d\\d`,
  );
  line(`exclusive '${esc(waited)}': acquired; lock file removed at release`);
  if (native) line(`lock '${esc(waited)}': retry \\(the lock file was removed or replaced\\)`);
  line(
    `exclusive '${esc(path.join(dir, 'e.lock'))}': failed: ELOCKED: lock is held by this process \\(pid ${child}\\).*`,
  );
  const strategy = native && process.platform === 'linux' ? 'O_TMPFILE' : 'named';
  line(`write '${esc(data)}': 5 bytes, ${strategy} temp file, rename, flushed, [\\d.]+ ms`);
  line(`exclusive '${esc(stale)}': acquired; lock file kept at release`);
  if (!native)
    line(
      `lock '${esc(stale)}': retry \\(taking over a lock file whose holder is gone\\), left by pid ${deadPid} \\(lock-op\\.js\\) on ${esc(HOST)}`,
    );
  for (const l of err.split('\n').filter(Boolean))
    assert.match(l, new RegExp(`^FSLOCK ${child}: `), 'only fslock lines');
});

test(`without NODE_DEBUG (or with other sections), nothing is printed (${fslock.backend})`, async (t) => {
  const dir = tmpdir(t);
  const list = [
    { op: 'elocked', path: path.join(dir, 'e.lock') },
    { op: 'write', path: path.join(dir, 'data') },
  ];
  assert.equal((await steps(t, list, {})).err, '');
  assert.doesNotMatch((await steps(t, list, { NODE_DEBUG: 'net,fs' })).err, /FSLOCK/);
});
