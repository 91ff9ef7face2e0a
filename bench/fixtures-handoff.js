'use strict';
// The waiting side of bench/handoff.bench.js: on 'wait', starts waiting for the lock
// with the named implementation, says 'waiting', and on acquiring reports the time
// (process.hrtime, CLOCK_MONOTONIC on Linux: one clock for both processes), releases.
// argv: impl target
const [impl, target] = process.argv.slice(2);
const { acquirer } = require('./handoff-impls');

const acquire = acquirer(impl, target, true);
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
