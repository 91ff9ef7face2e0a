'use strict';
// Fixture processes on the two clients of a GlusterFS volume (scripts/gluster.js), for
// test/gluster.test.js and test/gluster-faults.test.js: client A runs under this
// machine's hostname, client B in a UTS namespace of its own under HOST_B, as on a
// second machine.
const path = require('node:path');
const { spawn } = require('node:child_process');
const { within } = require('./helpers');

const HOST_B = 'fslock-host-b';
const LIMIT = 60_000;

/**
 * A fixture process on client A (this hostname) or client B (HOST_B, its own UTS
 * namespace), with FSLOCK_BACKEND=backend; `next(type)` resolves with its next message
 * of that type, and rejects at once if the process exits first.
 */
function spawnOn(t, client, backend, fixture, config) {
  const script = path.join(__dirname, 'fixtures', fixture);
  const argv = [script, JSON.stringify(config)];
  const [cmd, args] =
    client === 'B'
      ? ['unshare', ['-u', 'sh', '-c', 'hostname "$0" && exec "$@"', HOST_B, process.execPath, ...argv]]
      : [process.execPath, argv];
  // The IPC channel (fd 3, NODE_CHANNEL_FD) survives unshare and sh's exec.
  const child = spawn(cmd, args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, FSLOCK_BACKEND: backend },
  });
  const queue = [];
  const waiters = [];
  let exit;
  child.on('message', (m) => {
    const i = waiters.findIndex((w) => w.type === m.type);
    if (i >= 0) waiters.splice(i, 1)[0].resolve(m);
    else queue.push(m);
  });
  const exitError = (type) => {
    const failed = queue.find((m) => m.type === 'failed');
    const why = failed ? `: ${failed.code} ${failed.message}` : '';
    return new Error(`${fixture} on ${client} exited (${exit.code ?? exit.signal}) before '${type}'${why}`);
  };
  child.on('exit', (code, signal) => {
    exit = { code, signal };
    // Messages sent just before exiting arrive before 'exit'; what is still awaited never will.
    setImmediate(() => waiters.splice(0).forEach((w) => w.reject(exitError(w.type))));
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.next = (type, ms = LIMIT) => {
    const i = queue.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(queue.splice(i, 1)[0]);
    if (exit) return Promise.reject(exitError(type));
    const w = { type };
    const got = new Promise((resolve, reject) => Object.assign(w, { resolve, reject }));
    waiters.push(w);
    // On timeout the waiter goes: a later next(type) gets the message.
    return within(got, ms, `message '${type}' from ${fixture} on ${client}`).catch((e) => {
      if (waiters.includes(w)) waiters.splice(waiters.indexOf(w), 1);
      throw e;
    });
  };
  child.exited = (ms = LIMIT) => within(exited, ms, `exit of ${fixture} on ${client}`);
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
  });
  return child;
}

module.exports = { HOST_B, LIMIT, spawnOn };
