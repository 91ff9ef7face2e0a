'use strict';
// Hand-off latency: a process releases a lock another process is waiting for; how long
// until the waiter has it? Every fslock mode beside its C floor (bench/c/handoff.c: two
// C processes making the same system calls), and proper-lockfile and lockfile at their
// fastest polling, all in this run. A distribution, not a mean: the holder releases
// 2–5 ms after the waiter started waiting, at a random phase of any poll interval.
// Ratios are of the same run; on a loaded machine the C floor moves the most (a waiter
// that is not on a CPU when the lock is released waits for the scheduler).
const { fork, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { benchDir, compileC, record, quick } = require('./util');
const { acquirer } = require('./handoff-impls');
const fslock = require('fslock');

const ROUNDS = quick ? 60 : 400;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function handoffs(impl, target, env) {
  const child = fork(path.join(__dirname, 'fixtures-handoff.js'), [impl, target], { env });
  const holder = acquirer(impl, target, false);
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
    const release = await holder();
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

function quantiles(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { p50: q(0.5), p90: q(0.9), p99: q(0.99) };
}

const rows = [];
function summary(name, samples, floor) {
  const q = quantiles(samples);
  rows.push({ name, ...q });
  const f = floor && rows.find((r) => r.name === floor);
  const ratio = f ? `${(q.p50 / f.p50).toFixed(1)}x` : '—';
  console.log(`| ${name} | ${q.p50.toFixed(1)} | ${q.p90.toFixed(1)} | ${q.p99.toFixed(1)} | ${ratio} |`);
  record('distribution', 'Lock hand-off latency between two processes (µs)', { name, samples });
  return q;
}

function cFloor(bin, mode, file) {
  const out = execFileSync(bin, [mode, file, String(ROUNDS)], { encoding: 'utf8' });
  return out.trim().split('\n').map(Number);
}

async function main() {
  // One run covers every implementation: skip the second (fallback) pass of bench/run.js.
  if (process.env.FSLOCK_BACKEND === 'fallback') return;
  const dir = benchDir();
  const at = (name) => path.join(dir, name);
  console.log(
    `## Lock hand-off between processes — node ${process.version}, ${ROUNDS} hand-offs each${quick ? ' (quick)' : ''}\n`,
  );
  console.log('| implementation | p50 µs | p90 µs | p99 µs | p50 / its C floor |\n|---|---:|---:|---:|---:|');
  const bin = compileC('handoff');
  const C = {
    create: 'C floor: create/unlink lock file (lock() default calls)',
    keep: 'C floor: kept lock file (lock({ keep }) calls)',
    ofd: 'C floor: F_OFD_SETLKW, file stays',
    flock: 'C floor: flock, file stays',
    'ofd-loop': 'C floor: F_OFD_SETLKW on a thread that wakes an epoll loop',
  };
  for (const m of Object.keys(C)) summary(C[m], cFloor(bin, m, at(`c-${m}.lock`)));
  // What no Node program can go below on this machine: an idle event loop woken by
  // another process (a byte through a FIFO), no lock at all.
  execFileSync('mkfifo', [at('node.fifo')]);
  const nodeFloor = 'Node floor: an idle event loop woken through a FIFO (no lock)';
  summary(nodeFloor, await handoffs('node-fifo', at('node.fifo'), process.env));
  const base = fslock.backend === 'native';
  const fsl = `fslock [${fslock.backend}]`;
  summary(`${fsl} lock()`, await handoffs('fslock', at('n.lock'), process.env), base && C.create);
  if (base) {
    summary(`${fsl} lock({ keep: true })`, await handoffs('fslock-keep', at('k.lock'), process.env), C.keep);
    fs.writeFileSync(at('r.data'), '');
    summary(`${fsl} lockRange (OFD)`, await handoffs('fslock-range', at('r.data'), process.env), C.ofd);
    fs.writeFileSync(at('f.data'), '');
    summary(`${fsl} flock`, await handoffs('fslock-flock', at('f.data'), process.env), C.flock);
    summary(
      'fslock [fallback] lock()',
      await handoffs('fslock', at('f.lock'), { ...process.env, FSLOCK_BACKEND: 'fallback' }),
    );
  }
  fs.writeFileSync(at('p.json'), '{}');
  const pl = summary('proper-lockfile (1 ms retries)', await handoffs('proper-lockfile', at('p.json'), process.env));
  const lf = summary('lockfile (1 ms polling)', await handoffs('lockfile', at('l.lock'), process.env));
  const peer = Math.min(pl.p50, lf.p50);
  console.log(
    '\nTargets (issue 15, p50): keep and descriptor locks ≤ 2x their C floor, default ≤ 2.5x; ≥ 4x below every peer.',
  );
  const loop = rows.find((r) => r.name === C['ofd-loop']).p50;
  const node = rows.find((r) => r.name === nodeFloor).p50;
  for (const r of rows.filter((x) => x.name.startsWith('fslock'))) {
    console.log(
      `- ${r.name}: ${(peer / r.p50).toFixed(1)}x below the fastest peer; ` +
        `${(r.p50 / loop).toFixed(1)}x the threaded C floor, ${(r.p50 / node).toFixed(1)}x the Node floor`,
    );
  }
}

main().then(() => process.exit(0));
