'use strict';
// The fslock command's start-up: `fslock LOCK true` beside `node -e 0` (the floor any
// Node command pays) and util-linux `flock LOCK true`, interleaved round by round so
// that all three see the same machine load. Wall time of the whole command, spawned
// and waited for (spawnSync, output ignored). Prints each one's median and p10, and
// fslock's ratio to `node -e 0`: of the medians, and the median of each round's own
// ratio (both measured within milliseconds of each other). Issue 27 asks for <= 1.3x.
//
// FSLOCK_BIN=/path/to/bin/fslock.js measures another build (e.g. a checkout of an older
// version) in the same run, as a fourth row.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { benchDir, quick, record } = require('./util');

const BIN = path.join(__dirname, '..', 'bin', 'fslock.js');
const ROUNDS = Number(process.env.BENCH_ROUNDS) || (quick ? 12 : 40);
const dir = benchDir();
const backend = process.env.FSLOCK_BACKEND || 'native';

const hasFlock = spawnSync('flock', ['--version'], { stdio: 'ignore' }).status === 0;
const rows = [
  { name: 'node -e 0', argv: [process.execPath, '-e', '0'] },
  { name: 'fslock LOCK true', argv: [process.execPath, BIN, path.join(dir, 'a.lock'), 'true'] },
  ...(process.env.FSLOCK_BIN
    ? [
        {
          name: `other fslock LOCK true`,
          argv: [process.execPath, process.env.FSLOCK_BIN, path.join(dir, 'c.lock'), 'true'],
        },
      ]
    : []),
  ...(hasFlock ? [{ name: 'flock(1) LOCK true', argv: ['flock', path.join(dir, 'b.lock'), 'true'] }] : []),
];

function once(argv) {
  const t = performance.now();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

for (const r of rows) {
  once(r.argv); // warm the page cache
  r.ms = [];
}
for (let i = 0; i < ROUNDS; i++) for (const r of rows) r.ms.push(once(r.argv));

const sorted = (a) => [...a].sort((x, y) => x - y);
const q = (a, p) => sorted(a)[Math.min(a.length - 1, Math.floor(p * a.length))];
const base = rows[0];
console.log(
  `\n### fslock command start-up (${backend} backend, ${ROUNDS} interleaved rounds, Node ${process.version})\n`,
);
console.log('| command | median ms | p10 ms | ratio to node -e 0 (medians) | median of per-round ratios |');
console.log('|---|---:|---:|---:|---:|');
for (const r of rows) {
  const perRound = r.ms.map((ms, i) => ms / base.ms[i]);
  const ratio = r === base ? '—' : `${(q(r.ms, 0.5) / q(base.ms, 0.5)).toFixed(2)}x`;
  const paired = r === base ? '—' : `${q(perRound, 0.5).toFixed(2)}x`;
  console.log(`| ${r.name} | ${q(r.ms, 0.5).toFixed(1)} | ${q(r.ms, 0.1).toFixed(1)} | ${ratio} | ${paired} |`);
}
record('table', `fslock command start-up (${backend})`, {
  rows: rows.map((r) => ({ name: r.name, ops: 1000 / q(r.ms, 0.5) })),
});
fs.rmSync(path.join(dir, 'a.lock'), { force: true });
