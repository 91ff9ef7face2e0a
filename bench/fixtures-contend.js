'use strict';
// One of the processes of the contended benchmark: `count` acquire+release cycles of
// one lock path with the named implementation, a tiny critical section in between.
// argv: impl lockTarget count ; prints nothing, exits 0 when done.
const [impl, target, countArg] = process.argv.slice(2);
const count = Number(countArg);

async function main() {
  if (impl === 'fslock') {
    const fslock = require('fslock');
    for (let i = 0; i < count; i++) {
      const l = await fslock.lock(target);
      await l.release();
    }
  } else if (impl === 'proper-lockfile') {
    const pl = require('proper-lockfile');
    // Its fastest polling: retry every millisecond (the default fails at once).
    const opts = { realpath: false, retries: { retries: 100000, factor: 1, minTimeout: 1, maxTimeout: 1 } };
    for (let i = 0; i < count; i++) {
      const release = await pl.lock(target, opts);
      await release();
    }
  } else if (impl === 'lockfile') {
    const lf = require('lockfile');
    const lock = (p) =>
      new Promise((res, rej) => lf.lock(p, { wait: 1e9, pollPeriod: 1 }, (e) => (e ? rej(e) : res())));
    const unlock = (p) => new Promise((res, rej) => lf.unlock(p, (e) => (e ? rej(e) : res())));
    for (let i = 0; i < count; i++) {
      await lock(target);
      await unlock(target);
    }
  }
}
process.on('message', (m) => {
  if (m === 'go') main().then(() => process.send('done', () => process.exit(0)));
});
process.send('ready');
