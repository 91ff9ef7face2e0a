'use strict';
// Hand-off latency: a process releases a lock another process is waiting for; how long
// until the waiter has it? fslock (kernel-woken on the native backend, polling on the
// fallback) against proper-lockfile and lockfile at their fastest polling, and the C
// floor (bench/c/handoff.c: two processes, flock(2)). A distribution, not a mean: the
// holder releases a few ms after the waiter started waiting, at a random phase of any
// poll interval.
const { fork } = require('node:child_process');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { benchDir, compileC, record, quick } = require('./util');
const fslock = require('fslock');
const properLockfile = require('proper-lockfile');
const lockfile = require('lockfile');

const ROUNDS = quick ? 60 : 300;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function holder(impl, target) {
  if (impl === 'fslock') return fslock.lock(target).then((l) => () => l.release());
  if (impl === 'proper-lockfile') return properLockfile.lock(target, { realpath: false });
  return new Promise((res, rej) =>
    lockfile.lock(target, {}, (e) => (e ? rej(e) : res(() => new Promise((r) => lockfile.unlock(target, r))))),
  );
}

async function handoffs(impl, target, env) {
  const child = fork(path.join(__dirname, 'fixtures-handoff.js'), [impl, target], { env });
  const queue = [];
  let wake;
  child.on('message', (m) => {
    queue.push(m);
    if (wake) wake();
  });
  const next = async (type) => {
    for (;;) {
      const i = queue.findIndex((m) => m.type === type);
      if (i >= 0) return queue.splice(i, 1)[0];
      await new Promise((r) => (wake = r));
    }
  };
  await next('ready');
  const samples = [];
  for (let i = 0; i < ROUNDS; i++) {
    const release = await holder(impl, target);
    child.send('wait');
    await next('waiting');
    await sleep(2 + Math.random() * 3); // the waiter is inside its wait (or poll loop) now
    const t0 = process.hrtime.bigint();
    await release();
    const { t1 } = await next('got');
    samples.push(Number(BigInt(t1) - t0) / 1000);
  }
  child.send('exit');
  return samples;
}

function summary(name, samples) {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  console.log(`| ${name} | ${q(0.5).toFixed(0)} | ${q(0.9).toFixed(0)} | ${q(0.99).toFixed(0)} |`);
  record('distribution', 'Lock hand-off latency between two processes (µs)', { name, samples });
}

async function main() {
  // One run covers every implementation: skip the second (fallback) pass of bench/run.js.
  if (process.env.FSLOCK_BACKEND === 'fallback') return;
  const dir = benchDir();
  console.log(
    `## Lock hand-off between processes — node ${process.version}, ${ROUNDS} hand-offs each${quick ? ' (quick)' : ''}\n`,
  );
  console.log('| implementation | p50 µs | p90 µs | p99 µs |\n|---|---:|---:|---:|');
  const c = execFileSync(compileC('handoff'), [path.join(dir, 'c.lock'), String(ROUNDS)], { encoding: 'utf8' });
  summary('C floor (flock, two processes)', c.trim().split('\n').map(Number));
  summary(`fslock [${fslock.backend}]`, await handoffs('fslock', path.join(dir, 'n.lock'), process.env));
  summary(
    'fslock [fallback]',
    await handoffs('fslock', path.join(dir, 'f.lock'), { ...process.env, FSLOCK_BACKEND: 'fallback' }),
  );
  fs.writeFileSync(path.join(dir, 'p.json'), '{}');
  summary('proper-lockfile (1 ms retries)', await handoffs('proper-lockfile', path.join(dir, 'p.json'), process.env));
  summary('lockfile (1 ms polling)', await handoffs('lockfile', path.join(dir, 'l.lock'), process.env));
}

main().then(() => process.exit(0));
