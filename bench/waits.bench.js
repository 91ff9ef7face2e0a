#!/usr/bin/env node
// Many concurrent waits in one process (issue 15, "scale with the number of waits"):
// N lock() waits on distinct paths held by another process, then that process
// releases them all. Per N, in a fresh process: threads (/proc/self/status) and RSS
// before and while waiting, and time-to-grant — per wait from the holder's release of
// that path (p50/p99/max), and until the last one is granted. Native waits block up to
// 32 pool threads in the kernel and poll the rest (native/wait_pool.cc).
// BENCH_QUICK=1: N = 100, 1000 only. `node bench/waits.bench.js 10000` runs one N.
'use strict';
const { fork } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const holderScript = path.join(__dirname, '..', 'test', 'fixtures', 'many-holder.js');

function status() {
  const s = fs.readFileSync('/proc/self/status', 'utf8');
  return { threads: Number(/Threads:\s+(\d+)/.exec(s)[1]), rssMB: Number(/VmRSS:\s+(\d+)/.exec(s)[1]) / 1024 };
}

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

async function one(n) {
  const fslock = require('fslock');
  const dir = fs.mkdtempSync(path.join(process.env.BENCH_DIR || os.tmpdir(), 'fslock-waits-'));
  const holder = fork(holderScript, [dir, String(n), 'stamps'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = () => new Promise((resolve) => holder.once('message', resolve));
  await next();
  const before = status();
  const grantedAt = new Array(n);
  const waits = [];
  for (let i = 0; i < n; i++) {
    waits.push(
      fslock
        .lock(path.join(dir, `p${i}.lock`))
        .then((l) => ((grantedAt[i] = performance.timeOrigin + performance.now()), l)),
    );
  }
  // Let every wait reach its thread (or the poll queue) before measuring.
  await new Promise((resolve) => setTimeout(resolve, 100 + n / 20));
  const waiting = status();
  const releasedP = next();
  const t0 = performance.timeOrigin + performance.now();
  holder.send({ type: 'release' });
  const locks = await Promise.all(waits);
  const { stamps } = await releasedP;
  const lat = grantedAt.map((g, i) => g - stamps[i]).sort((a, b) => a - b);
  const all = Math.max(...grantedAt) - t0;
  for (const l of locks) l.releaseSync();
  holder.kill();
  fs.rmSync(dir, { recursive: true, force: true });
  return { n, before, waiting, p50: pct(lat, 50), p99: pct(lat, 99), max: lat[lat.length - 1], all };
}

async function main() {
  if (process.argv[2] === '--one') {
    process.send(await one(Number(process.argv[3])));
    return;
  }
  const fslock = require('fslock');
  const ns = process.argv[2]
    ? [Number(process.argv[2])]
    : process.env.BENCH_QUICK === '1'
      ? [100, 1000]
      : [100, 1000, 10000];
  console.log(`\n## waits.bench.js — concurrent waits in one process (backend=${fslock.backend})`);
  console.log(
    '| waits | threads before → waiting | RSS MB before → waiting | grant after release p50 / p99 / max (ms) | all granted (ms) |',
  );
  console.log('|---|---|---|---|---|');
  for (const n of ns) {
    const child = fork(__filename, ['--one', String(n)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const r = await new Promise((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) => code && reject(new Error(`n=${n}: exit ${code}`)));
    });
    const f = (x) => x.toFixed(1);
    console.log(
      `| ${n} | ${r.before.threads} → ${r.waiting.threads} | ${r.before.rssMB.toFixed(0)} → ${r.waiting.rssMB.toFixed(0)} | ` +
        `${f(r.p50)} / ${f(r.p99)} / ${f(r.max)} | ${f(r.all)} |`,
    );
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
