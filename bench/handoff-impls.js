'use strict';
// The lock implementations of the hand-off benchmark (bench/handoff.bench.js), shared by
// the holding and the waiting process: acquirer(impl, target, waiting) returns a
// function that acquires and resolves to a release function.
const fs = require('node:fs');

function acquirer(impl, target, waiting) {
  if (impl === 'fslock' || impl === 'fslock-keep') {
    const fslock = require('fslock');
    const keep = impl === 'fslock-keep';
    return () => fslock.lock(target, { keep }).then((l) => () => l.release());
  }
  if (impl === 'fslock-range' || impl === 'fslock-flock') {
    // Descriptor locks on a file that stays: one descriptor per process.
    const fslock = require('fslock');
    const fd = fs.openSync(target, 'r+');
    const range = { start: 0, length: 0 };
    if (impl === 'fslock-range')
      return () => fslock.lockRange(fd, range).then(() => () => fslock.unlockRangeSync(fd, range));
    return () => fslock.flock(fd, 'exclusive').then(() => () => fslock.flockSync(fd, 'unlock'));
  }
  if (impl === 'node-fifo') {
    // No lock: the floor of any Node program woken by another process. The "release"
    // writes a byte into a FIFO that the waiter's event loop reads (one wake-up of an
    // idle loop, then a JavaScript callback and a promise).
    if (waiting) {
      const fifo = new (require('node:net').Socket)({
        fd: fs.openSync(target, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK),
        readable: true,
        writable: false,
      });
      return () => new Promise((resolve) => fifo.once('data', () => resolve(() => {})));
    }
    let w;
    return async () => () => {
      w ??= fs.openSync(target, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
      fs.writeSync(w, 'x');
    };
  }
  if (impl === 'proper-lockfile') {
    // Its fastest polling: retry every millisecond (the default fails at once).
    const opts = waiting
      ? { realpath: false, retries: { retries: 100000, factor: 1, minTimeout: 1, maxTimeout: 1 } }
      : { realpath: false };
    return () => require('proper-lockfile').lock(target, opts);
  }
  const lf = require('lockfile');
  const opts = waiting ? { wait: 1e9, pollPeriod: 1 } : {};
  return () =>
    new Promise((res, rej) =>
      lf.lock(target, opts, (e) => (e ? rej(e) : res(() => new Promise((r) => lf.unlock(target, r))))),
    );
}

module.exports = { acquirer };
