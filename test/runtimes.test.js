'use strict';
// Other runtimes that load Node-API addons: Bun (npm `@oven/bun-linux-x64`) and Deno
// (npm `@deno/linux-x64-glibc`, the binary the `deno` package installs on glibc
// Linux), each unpacked into the build cache by scripts/tooling.js. A peer in that
// runtime and a peer in this Node (test/fixtures/runtime-peer.mjs, the same file) share
// one lock: they exclude each other both ways, a waiter is granted after the other's
// last write under the lock, a wait times out and is aborted, an atomic write lands, and
// a worker thread inside the runtime is excluded by the Node holder and granted after.
// Runs for the backend under test (FSLOCK_BACKEND reaches the peers): native in both
// runtimes, or the JS fallback in both. Skipped (with the reason) where a runtime's
// package cannot be had, or off linux-x64.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const fslock = require('..');
const { npmPackage } = require('../scripts/tooling');
const { assertFree, keptLockFiles } = require('./helpers');

const PEER = path.join(__dirname, 'fixtures', 'runtime-peer.mjs');
const RUNTIMES = {
  bun: { spec: '@oven/bun-linux-x64@1.4.5', bin: 'bin/bun', args: (f, l) => [f, l] },
  deno: { spec: '@deno/linux-x64-glibc@2.9.6', bin: 'deno', args: (f, l) => ['run', '-A', f, l] },
};

class Peer {
  constructor(name, cmd, args) {
    this.name = name;
    this.stderr = '';
    this.lines = [];
    this.waiting = [];
    this.child = spawn(cmd, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, DENO_NO_UPDATE_CHECK: '1' },
    });
    this.child.stderr.on('data', (d) => (this.stderr += d));
    readline.createInterface({ input: this.child.stdout }).on('line', (l) => {
      const w = this.waiting.shift();
      if (w) w.resolve(l);
      else this.lines.push(l);
    });
    this.child.on('exit', (code, sig) => {
      for (const w of this.waiting.splice(0))
        w.reject(new Error(`${this.name} exited (${code ?? sig}):\n${this.stderr}`));
    });
  }
  next() {
    if (this.lines.length) return Promise.resolve(this.lines.shift());
    if (this.child.exitCode !== null) return Promise.reject(new Error(`${this.name} exited:\n${this.stderr}`));
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }
  ask(command) {
    this.child.stdin.write(`${command}\n`);
    return this.next();
  }
  async expect(command, reply) {
    assert.equal(await this.ask(command), reply, `${this.name}: ${command}\n${this.stderr}`);
  }
}

// Every step is logged, so that a hang fails with where it was instead of the runner's
// bare timeout (which would also leave the peers running).
let trail = [];
function logged(peer) {
  const ask = peer.ask.bind(peer);
  peer.ask = (command) => {
    trail.push(`${peer.name}> ${command}`);
    return ask(command).then((reply) => (trail.push(`${peer.name}< ${reply}`), reply));
  };
  return peer;
}
function bounded(promise, ms, peers) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `no progress within ${ms / 1000} s; steps:\n${trail.join('\n')}\n${peers.map((p) => `--- ${p.name} stderr:\n${p.stderr}`).join('\n')}`,
          ),
        ),
      ms,
    );
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

for (const [name, rt] of Object.entries(RUNTIMES)) {
  let skip = false;
  let bin;
  if (process.platform !== 'linux' || process.arch !== 'x64' || fs.existsSync('/etc/alpine-release')) {
    skip = `the ${rt.spec} binary is for glibc linux-x64 (this is ${process.platform}-${process.arch})`;
  } else {
    try {
      bin = path.join(npmPackage(rt.spec), rt.bin);
      if (!fs.existsSync(bin)) skip = `${rt.spec} has no ${rt.bin}`;
    } catch (e) {
      skip = `cannot fetch ${rt.spec} from the npm registry: ${e.message.split('\n')[0]}`;
    }
  }
  test(
    `${name} and node exclude each other: waits, timeout, abort, atomic write, worker thread (${fslock.backend})`,
    { skip, timeout: 180_000 },
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `fslock-${name}-`));
      const lockPath = path.join(dir, 'shared.lock');
      const data = path.join(dir, 'data');
      trail = [];
      const r = logged(new Peer(name, bin, rt.args(PEER, lockPath)));
      const n = logged(new Peer('node', process.execPath, [PEER, lockPath]));
      try {
        await bounded(steps(), 120_000, [r, n]);
      } finally {
        r.child.kill('SIGKILL');
        n.child.kill('SIGKILL');
        fs.rmSync(dir, { recursive: true, force: true });
      }

      async function steps() {
        const [rr, nr] = [await r.next(), await n.next()];
        // Native: loaded, no load error. Fallback: chosen by FSLOCK_BACKEND (the peers say why).
        const tail = fslock.backend === 'native' ? '$' : ' FSLOCK_BACKEND=fallback';
        assert.match(
          rr,
          new RegExp(`^ready ${name}-\\S+ ${fslock.backend}${tail}`),
          `${name} did not load the ${fslock.backend} backend`,
        );
        assert.match(nr, new RegExp(`^ready node-${process.versions.node} ${fslock.backend}${tail}`));

        // The runtime holds; node is refused, then waits and is granted after the last write.
        await r.expect('lock', 'ok');
        await n.expect('try', 'err ELOCKED');
        const granted = n.ask('lock');
        await r.expect(`append ${data} ${name}-1`, 'ok');
        await r.expect(`append ${data} ${name}-2`, 'ok');
        await r.expect('release', 'ok');
        assert.equal(await granted, 'ok');
        await n.expect(`read ${data}`, `ok ${name}-1${name}-2`);

        // Node holds; the runtime is refused, times out, is aborted.
        await r.expect('try', 'err ELOCKED');
        await r.expect('timeout 200', 'err ETIMEDOUT');
        await r.expect('abort 200', 'err ABORT_ERR');
        // A worker thread in the runtime: refused while node holds, granted after.
        await r.expect('worker', 'ok ELOCKED');
        await n.expect('release', 'ok');
        await r.expect('workerdone', `ok granted-${fslock.backend} released`);
        // And the runtime's main thread takes it again; node is refused.
        await r.expect('lock', 'ok');
        await n.expect('try', 'err ELOCKED');
        await r.expect('release', 'ok');

        const target = path.join(dir, 'atomic.json');
        await r.expect(`atomic ${target} {"from":"${name}"}`, `ok {"from":"${name}"}`);
        assert.deepEqual(
          fs.readdirSync(dir).sort(),
          keptLockFiles(dir, ['atomic.json', 'data', 'shared.lock']),
          'a temp file was left behind',
        );
        assertFree(lockPath);
        await r.ask('exit').catch(() => {});
        await n.ask('exit').catch(() => {});
      }
    },
  );
}
