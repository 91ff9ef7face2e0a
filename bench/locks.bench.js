'use strict';
// Path locks against proper-lockfile and lockfile (uncontended, and 4 processes
// contending), and a descriptor lock+unlock pair against fs-native-extensions and C.
const { fork, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { measure, measureSync, table, compileC, benchDir, record, MS, quick } = require('./util');
const fslock = require('fslock');
const properLockfile = require('proper-lockfile');
const lockfile = require('lockfile');

async function uncontended(dir) {
  const data = path.join(dir, 'data.json');
  fs.writeFileSync(data, '{}');
  // Not data.json.lock: proper-lockfile makes that directory for data.json, and the
  // default kept lock file would be in its way (ELOCKED).
  const lockPath = path.join(dir, 'fslock.lock');
  const removedPath = path.join(dir, 'removed.lock');
  const rows = [];
  const fsl = `fslock [${fslock.backend}]`;
  // The default: the lock file stays (as flock(1)'s, cargo's and uv's do).
  rows.push({
    name: `${fsl} lock()+release()`,
    ops: await measure(async () => (await fslock.lock(lockPath)).release()),
  });
  rows.push({
    name: `${fsl} lockSync()+releaseSync()`,
    ops: measureSync(() => fslock.lockSync(lockPath).releaseSync()),
  });
  // What the nesting and wait-callback machinery costs when nobody nests or waits.
  const onWait = { onWait: () => {} };
  rows.push({
    name: `${fsl} lock({ onWait })+release(), never called`,
    ops: await measure(async () => (await fslock.lock(lockPath, onWait)).release()),
  });
  // Nobody listening, onWait set but never called, and every diagnostics_channel
  // subscribed (an APM agent), measured in alternation (listenerCost).
  const lc = await listenerCost(lockPath);
  const alt = (label, k) => rows.push({ name: `${fsl} ${label} (median of ${ROUNDS} alternating)`, ops: lc[k].median });
  alt('lock()+release(), nobody listening', 'plain');
  alt('lock({ onWait })+release(), never called', 'onWait');
  alt('lock()+release(), every channel subscribed', 'subscribed');
  alt('lockSync()+releaseSync(), nobody listening', 'plainSync');
  alt('lockSync()+releaseSync(), every channel subscribed', 'subscribedSync');
  rows.push({
    name: `${fsl} withLock(() => {})`,
    ops: await measure(() => fslock.withLock(lockPath, () => {})),
  });
  const remove = { keep: false };
  rows.push({
    name: `${fsl} lock({ keep: false })+release()`,
    ops: await measure(async () => (await fslock.lock(removedPath, remove)).release()),
  });
  rows.push({
    name: `${fsl} lockSync({ keep: false })+releaseSync()`,
    ops: measureSync(() => fslock.lockSync(removedPath, remove).releaseSync()),
  });
  let sys;
  if (fslock.backend === 'native' && process.platform === 'linux') {
    // The same system calls in C (bench/c/lock_cycle.c mirrors `strace -f -e
    // trace=file,desc` of one lock()+release(); bench/syscalls.js counts them).
    const bin = compileC('lock_cycle');
    rows.push({
      name: 'C floor: lock() calls (kept file: open … flock, F_OFD_SETLK … ftruncate)',
      ops: Number(execFileSync(bin, ['keep', path.join(dir, 'c-keep.lock'), String(MS)]).toString()),
    });
    rows.push({
      name: 'C floor: lock({ keep: false }) calls (create … unlink)',
      ops: Number(execFileSync(bin, ['create', path.join(dir, 'c-create.lock'), String(MS)]).toString()),
    });
    sys = Number(execFileSync(bin, ['getppid', '-', String(MS)]).toString());
  }
  rows.push({
    name: 'proper-lockfile lock()+release()',
    ops: await measure(async () => (await properLockfile.lock(data))()),
  });
  rows.push({ name: 'proper-lockfile lockSync()+release()', ops: measureSync(() => properLockfile.lockSync(data)()) });
  const lfLock = (p) => new Promise((res, rej) => lockfile.lock(p, {}, (e) => (e ? rej(e) : res())));
  const lfUnlock = (p) => new Promise((res, rej) => lockfile.unlock(p, (e) => (e ? rej(e) : res())));
  rows.push({
    name: 'lockfile lock()+unlock()',
    ops: await measure(async () => {
      await lfLock(`${lockPath}.lf`);
      await lfUnlock(`${lockPath}.lf`);
    }),
  });
  table('Uncontended path lock: acquire + release', rows, rows[0].name);
  const ops = (prefix) => rows.find((r) => r.name.startsWith(prefix))?.ops;
  const pl = ops('proper-lockfile lock()');
  const line = (label, fast, floor) =>
    `- ${label}: ${(fast / pl).toFixed(1)}x proper-lockfile` +
    (floor ? `, ${(floor / fast).toFixed(2)}x its C floor` : '');
  if (sys) console.log(`\nOne system call here (C, getppid): ${(1e6 / sys).toFixed(3)} µs.`);
  console.log('\nTargets (issues 15, 27): kept (the default) ≤ 1.5x its C floor; removed ≤ 1.3x its C floor.');
  const keptFloor = ops('C floor: lock() calls');
  const removedFloor = ops('C floor: lock({ keep: false })');
  console.log(line('lock() (kept)', ops(`${fsl} lock()+`), keptFloor));
  console.log(line('lockSync() (kept)', ops(`${fsl} lockSync()+`), keptFloor));
  console.log(line('lock() with onWait set, never called', ops(`${fsl} lock({ onWait })`), keptFloor));
  console.log(line('withLock()', ops(`${fsl} withLock(`), keptFloor));
  console.log(line('lock({ keep: false })', ops(`${fsl} lock({ keep: false })`), removedFloor));
  console.log(line('lockSync({ keep: false })', ops(`${fsl} lockSync({ keep: false })`), removedFloor));
  const pct = (a, b) => `${a.median >= b.median ? '+' : ''}${((a.median / b.median - 1) * 100).toFixed(1)}%`;
  const spread = (v) => `${((v.max / v.min - 1) * 100).toFixed(0)}%`;
  console.log(
    `\nListeners (issue 24), medians of ${ROUNDS} alternating windows, against nobody listening: ` +
      `lock() with onWait set ${pct(lc.onWait, lc.plain)}, with every channel subscribed ${pct(lc.subscribed, lc.plain)}; ` +
      `lockSync() with every channel subscribed ${pct(lc.subscribedSync, lc.plainSync)}. ` +
      `Noise: the nobody-listening lock() windows spread ${spread(lc.plain)} (max/min), lockSync() ${spread(lc.plainSync)}.`,
  );
  return rows;
}

const ROUNDS = 7;

/**
 * What listening costs a lock cycle: `onWait` set but never called, and a
 * diagnostics_channel subscriber on every fslock channel (what an APM agent does),
 * against nobody listening. On a shared machine the load changes more between two
 * consecutive table rows than the difference sought, so the variants take turns:
 * ROUNDS rounds of one window each, and the median of each variant's windows.
 */
async function listenerCost(lockPath) {
  const dc = require('node:diagnostics_channel');
  const trace = dc.tracingChannel(fslock.channels.lock);
  const handlers = { start() {}, end() {}, asyncStart() {}, asyncEnd() {}, error() {} };
  const others = Object.values(fslock.channels).filter((c) => c !== fslock.channels.lock);
  const listen = () => {};
  const subscribed = (run) => async () => {
    trace.subscribe(handlers);
    for (const c of others) dc.subscribe(c, listen);
    try {
      return await run();
    } finally {
      trace.unsubscribe(handlers);
      for (const c of others) dc.unsubscribe(c, listen);
    }
  };
  const window = MS / 3;
  const onWait = { onWait: () => {} };
  const cycle = (o) => () => measure(async () => (await fslock.lock(lockPath, o)).release(), window);
  const cycleSync = () => measureSync(() => fslock.lockSync(lockPath).releaseSync(), window);
  const variants = {
    plain: cycle(undefined),
    onWait: cycle(onWait),
    subscribed: subscribed(cycle(undefined)),
    plainSync: cycleSync,
    subscribedSync: subscribed(cycleSync),
  };
  const got = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let r = 0; r < ROUNDS; r++) for (const [k, run] of Object.entries(variants)) got[k].push(await run());
  const stats = (a) => {
    const s = [...a].sort((x, y) => x - y);
    return { median: s[s.length >> 1], min: s[0], max: s[s.length - 1] };
  };
  return Object.fromEntries(Object.entries(got).map(([k, a]) => [k, stats(a)]));
}

/**
 * Waiting under contention: 4 processes take turns on one lock with 50 µs holds; the
 * distribution of every wait (request → granted) beside 4 C processes doing the same
 * with blocking F_OFD_SETLKW (bench/c/wait_tail.c). The kernel lets a releaser take the
 * lock back ahead of waiters, so the tail is long for both; fslock should not add to it.
 */
async function waitTail(dir) {
  const ms = quick ? 1000 : 3000;
  const hold = 50;
  const q = (s, p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  const rows = [];
  const add = (name, waits) => {
    const s = Float64Array.from(waits).sort();
    rows.push({ name, n: s.length, p50: q(s, 0.5), p99: q(s, 0.99), max: s[s.length - 1] });
  };
  if (process.platform === 'linux') {
    const out = execFileSync(compileC('wait_tail'), [path.join(dir, 't-c.lock'), '4', String(hold), String(ms)], {
      maxBuffer: 1 << 28,
    });
    add('C: 4 processes, F_OFD_SETLKW', out.toString().trim().split('\n').map(Number));
  }
  const impls = fslock.backend === 'native' ? ['fslock-range', 'fslock-keep', 'fslock'] : ['fslock'];
  for (const impl of impls) {
    const target = path.join(dir, `t-${impl}.lock`);
    if (impl === 'fslock-range') fs.writeFileSync(target, '');
    const kids = Array.from({ length: 4 }, () =>
      fork(path.join(__dirname, 'fixtures-tail.js'), [impl, target, String(hold), String(ms)]),
    );
    await Promise.all(kids.map((k) => new Promise((r) => k.once('message', r))));
    const results = kids.map((k) => new Promise((r) => k.once('message', r)));
    kids.forEach((k) => k.send('go'));
    add(
      `fslock [${fslock.backend}] ${impl === 'fslock-range' ? 'lockRange' : impl === 'fslock-keep' ? 'lock({ keep })' : 'lock()'}`,
      (await Promise.all(results)).flat(),
    );
  }
  console.log(`\n### Wait under contention: 4 processes, ${hold} µs holds, ${ms / 1000} s each\n`);
  console.log(
    '| implementation | waits | p50 µs | p99 µs | max µs | p99 / C | max / C |\n|---|---:|---:|---:|---:|---:|---:|',
  );
  const c = rows[0].name.startsWith('C') ? rows[0] : undefined;
  for (const r of rows) {
    const rel = (k) => (c && r !== c ? `${(r[k] / c[k]).toFixed(2)}x` : '—');
    console.log(
      `| ${r.name} | ${r.n} | ${r.p50.toFixed(0)} | ${r.p99.toFixed(0)} | ${r.max.toFixed(0)} | ${rel('p99')} | ${rel('max')} |`,
    );
  }
  record('table', 'Wait under contention (4 processes, 50 µs holds): wait µs', { rows });
}

async function contended(dir, impl, perProcess, env = process.env) {
  const target = impl === 'proper-lockfile' ? path.join(dir, `c-${impl}.json`) : path.join(dir, `c-${impl}.lock`);
  if (impl === 'proper-lockfile') fs.writeFileSync(target, '{}');
  const kids = Array.from({ length: 4 }, () =>
    fork(path.join(__dirname, 'fixtures-contend.js'), [impl, target, String(perProcess)], { env }),
  );
  await Promise.all(kids.map((k) => new Promise((r) => k.once('message', r))));
  const start = performance.now();
  kids.forEach((k) => k.send('go'));
  await Promise.all(kids.map((k) => new Promise((r) => k.once('message', r))));
  const secs = (performance.now() - start) / 1000;
  return (4 * perProcess) / secs;
}

function cFloor(bin, mode, file) {
  return Number(execFileSync(bin, [mode, file, String(MS)]).toString());
}

async function descriptorPair(dir) {
  const file = path.join(dir, 'fd-data');
  fs.writeFileSync(file, '');
  const fd = fs.openSync(file, 'r+');
  const bin = compileC('flock_pair');
  const rows = [];
  if (fslock.backend === 'native') {
    rows.push({
      name: 'fslock flockSync(ex)+flockSync(unlock)',
      ops: measureSync(() => {
        fslock.flockSync(fd, 'exclusive');
        fslock.flockSync(fd, 'unlock');
      }),
    });
    rows.push({ name: 'C flock(LOCK_EX|LOCK_NB)+flock(LOCK_UN)', ops: cFloor(bin, 'flock', file) });
    // The Node-API crossing alone: the binding's own flock calls with no JavaScript
    // around them (the package's internals, reached by path from this repository).
    const { binding } = require('../dist/cjs/native/binding.js');
    rows.push({
      name: 'Node-API floor: the binding flock pair, no JavaScript around it',
      ops: measureSync(() => {
        binding.flock(fd, 2);
        binding.flock(fd, 0);
      }),
    });
    const range = { start: 0, length: 0 };
    rows.push({
      name: 'fslock lockRangeSync+unlockRangeSync (OFD)',
      ops: measureSync(() => {
        fslock.lockRangeSync(fd, range);
        fslock.unlockRangeSync(fd, range);
      }),
    });
    rows.push({ name: 'C fcntl(F_OFD_SETLK) wr+unlock', ops: cFloor(bin, 'ofd', file) });
    rows.push({
      name: 'fslock await flock(ex)+flock(unlock)',
      ops: await measure(async () => {
        await fslock.flock(fd, 'exclusive');
        await fslock.flock(fd, 'unlock');
      }),
    });
  }
  try {
    const fsx = require('fs-native-extensions');
    rows.push({
      name: 'fs-native-extensions tryLock+unlock',
      ops: measureSync(() => {
        fsx.tryLock(fd);
        fsx.unlock(fd);
      }),
    });
  } catch (e) {
    console.log(`(fs-native-extensions unavailable: ${e.message})`);
  }
  fs.closeSync(fd);
  if (rows.length) {
    table('Descriptor lock + unlock pair (same fd, uncontended)', rows, rows[0].name);
    const ratio = (a, b) => rows.find((r) => r.name === a).ops / rows.find((r) => r.name === b).ops;
    if (fslock.backend === 'native') {
      console.log(
        `\nC floor / fslock: flock pair ${ratio('C flock(LOCK_EX|LOCK_NB)+flock(LOCK_UN)', 'fslock flockSync(ex)+flockSync(unlock)').toFixed(2)}x, ` +
          `OFD pair ${ratio('C fcntl(F_OFD_SETLK) wr+unlock', 'fslock lockRangeSync+unlockRangeSync (OFD)').toFixed(2)}x (target <= 1.3x, and faster than fs-native-extensions); ` +
          `the bare Node-API crossing ${ratio('C flock(LOCK_EX|LOCK_NB)+flock(LOCK_UN)', 'Node-API floor: the binding flock pair, no JavaScript around it').toFixed(2)}x`,
      );
    }
  }
}

/** fs.readFile latency with nothing waiting, then with 64 lock() calls waiting. */
async function waitersLatency(dir) {
  const file = path.join(dir, 'lat.lock');
  const data = path.join(dir, 'lat.bin');
  fs.writeFileSync(data, Buffer.alloc(4096));
  const sample = async () => {
    const times = [];
    for (let i = 0; i < 400; i++) {
      const t0 = performance.now();
      await fs.promises.readFile(data);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    return { p50: times[200] * 1000, p99: times[396] * 1000 };
  };
  const base = await sample();
  const holder = fork(path.join(__dirname, '..', 'test', 'fixtures', 'holder.js'), [file, 'exclusive']);
  await new Promise((r) => holder.on('message', (m) => m.type === 'granted' && r()));
  const waiters = Array.from({ length: 64 }, () => fslock.lock(file).then((l) => l.release()));
  const loaded = await sample();
  // Timeout accuracy: how late a 100 ms timeout fires.
  const t0 = performance.now();
  await fslock.lock(file, { timeout: 100 }).catch(() => {});
  const late = performance.now() - t0 - 100;
  holder.send({ type: 'release' });
  await Promise.all(waiters);
  holder.kill();
  console.log('\n### fs.readFile(4 KB) latency while 64 lock() calls wait\n');
  console.log('| | p50 µs | p99 µs |\n|---|---:|---:|');
  console.log(`| nothing waiting | ${base.p50.toFixed(0)} | ${base.p99.toFixed(0)} |`);
  console.log(`| 64 lock() waiting | ${loaded.p50.toFixed(0)} | ${loaded.p99.toFixed(0)} |`);
  console.log(`\nA 100 ms timeout fired after ${(100 + late).toFixed(1)} ms.`);
}

async function main() {
  const dir = benchDir();
  console.log(
    `## Locks — node ${process.version}, ${process.platform}-${process.arch}, backend ${fslock.backend}${quick ? ' (quick)' : ''}`,
  );
  const un = await uncontended(dir);
  const k = quick ? 0.25 : 1;
  const rows = [
    {
      name: `fslock [${fslock.backend}]`,
      ops: await contended(dir, 'fslock', Math.round((fslock.backend === 'native' ? 4000 : 300) * k)),
    },
    // The fallback's throughput next to native's, whichever backend this run uses.
    ...(fslock.backend === 'native'
      ? [
          {
            name: 'fslock [fallback]',
            ops: await contended(dir, 'fslock', Math.round(300 * k), { ...process.env, FSLOCK_BACKEND: 'fallback' }),
          },
        ]
      : []),
    { name: 'proper-lockfile (1 ms retries)', ops: await contended(dir, 'proper-lockfile', Math.round(200 * k)) },
    { name: 'lockfile (1 ms polling)', ops: await contended(dir, 'lockfile', Math.round(200 * k)) },
  ];
  table('4 processes contending for one lock: acquisitions per second (all processes)', rows, rows[0].name);
  const pl = un.find((r) => r.name === 'proper-lockfile lock()+release()').ops;
  const plc = rows.find((r) => r.name.startsWith('proper-lockfile')).ops;
  console.log(
    `\nvs proper-lockfile: uncontended ${(un[0].ops / pl).toFixed(1)}x, contended ${(rows[0].ops / plc).toFixed(1)}x (target: contended >= 30x)`,
  );
  await descriptorPair(dir);
  await waitTail(dir);
  await waitersLatency(dir);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
