'use strict';
// The waiting side of bench/handoff.bench.js: on 'wait', starts waiting for the lock
// with the named implementation, says 'waiting', and on acquiring reports the time
// (process.hrtime, CLOCK_MONOTONIC on Linux: one clock for both processes), releases.
// argv: impl target
const [impl, target] = process.argv.slice(2);

function acquire() {
  if (impl === 'fslock') {
    const fslock = require('fslock');
    return fslock.lock(target).then((l) => () => l.release());
  }
  if (impl === 'proper-lockfile') {
    // Its fastest polling: retry every millisecond (the default fails at once).
    const opts = { realpath: false, retries: { retries: 100000, factor: 1, minTimeout: 1, maxTimeout: 1 } };
    return require('proper-lockfile').lock(target, opts);
  }
  const lf = require('lockfile');
  return new Promise((res, rej) =>
    lf.lock(target, { wait: 1e9, pollPeriod: 1 }, (e) =>
      e ? rej(e) : res(() => new Promise((r) => lf.unlock(target, r))),
    ),
  );
}

process.on('message', async (m) => {
  if (m !== 'wait') return process.exit(0);
  const got = acquire();
  process.send({ type: 'waiting' });
  const release = await got;
  const t1 = process.hrtime.bigint();
  await release();
  process.send({ type: 'got', t1: String(t1) });
});
process.send({ type: 'ready' });
