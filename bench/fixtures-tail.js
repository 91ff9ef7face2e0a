'use strict';
// One of the processes of the wait-tail benchmark (bench/locks.bench.js): takes turns
// on one lock until `ms` have passed, holding it `holdUs` each time (busy: a short
// critical section), and sends back every wait (request → granted) in microseconds.
// argv: impl target holdUs ms ; impl: fslock | fslock-keep | fslock-range
const fs = require('node:fs');
const fslock = require('fslock');
const [impl, target, holdArg, msArg] = process.argv.slice(2);
const holdUs = Number(holdArg);
const ms = Number(msArg);

async function main() {
  const waits = [];
  const range = { start: 0, length: 0 };
  const fd = impl === 'fslock-range' ? fs.openSync(target, 'r+') : -1;
  const keep = impl === 'fslock-keep';
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const t0 = performance.now();
    let release;
    if (fd >= 0) {
      await fslock.lockRange(fd, range);
      release = () => fslock.unlockRangeSync(fd, range);
    } else {
      const l = await fslock.lock(target, { keep });
      release = () => l.releaseSync();
    }
    const t1 = performance.now();
    waits.push((t1 - t0) * 1000);
    while ((performance.now() - t1) * 1000 < holdUs);
    release();
  }
  return waits;
}
process.on('message', (m) => {
  if (m === 'go') main().then((waits) => process.send(waits, () => process.exit(0)));
});
process.send('ready');
