'use strict';
// System calls per uncontended acquire + release, counted by `strace -f -c` (Linux):
// N cycles minus a run of none (Node's start-up and the module load), divided by N. The
// same for another build beside it when BENCH_BASELINE names its package directory
// (e.g. a worktree of an earlier commit with its own `npm ci`), so a change shows its
// calls before and after in one run.
//
//   node bench/syscalls.js            (BENCH_BASELINE=/path/to/old/checkout)
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const N = 2000;
const here = path.join(__dirname, '..');
const builds = [['this build', here]];
if (process.env.BENCH_BASELINE) builds.unshift(['baseline', path.resolve(process.env.BENCH_BASELINE)]);

if (process.platform !== 'linux') {
  console.log('syscalls: strace is Linux only; skipped');
  process.exit(0);
}
require('../scripts/tooling').ensurePackages([['strace', 'strace']]);

const modes = [
  ['lockSync() (kept, the default)', '{}'],
  ['lockSync({ keep: false })', '{ keep: false }'],
];

/** Per-syscall call counts of `node -e` running `cycles` cycles of `opts` on a lock path. */
function counts(pkg, opts, cycles, dir) {
  const out = path.join(dir, `strace-${process.hrtime.bigint()}`);
  const code =
    `const f = require(${JSON.stringify(pkg)}); const p = ${JSON.stringify(path.join(dir, 'c.lock'))};` +
    `f.lockSync(p, ${opts}).releaseSync();` + // the first cycle creates the file either way
    `for (let i = 0; i < ${cycles}; i++) f.lockSync(p, ${opts}).releaseSync();`;
  execFileSync('strace', ['-f', '-c', '-o', out, process.execPath, '-e', code], {
    env: { ...process.env, FSLOCK_BACKEND: 'native' },
  });
  const calls = {};
  for (const line of fs.readFileSync(out, 'utf8').split('\n')) {
    const f = line.trim().split(/\s+/);
    // % time, seconds, usecs/call, calls, [errors], syscall
    if (f.length >= 5 && /^\d/.test(f[0]) && f[f.length - 1] !== 'total') calls[f[f.length - 1]] = Number(f[3]);
  }
  return calls;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fslock-syscalls-'));
try {
  console.log(`## System calls per lockSync()+releaseSync() cycle (strace -f -c, ${N} cycles minus none)\n`);
  for (const [label, opts] of modes) {
    const per = builds.map(([, pkg]) => {
      const base = counts(pkg, opts, 0, dir);
      const full = counts(pkg, opts, N, dir);
      const d = {};
      for (const [k, v] of Object.entries(full)) {
        const n = (v - (base[k] ?? 0)) / N;
        if (n >= 0.5) d[k] = n;
      }
      return d;
    });
    const names = [...new Set(per.flatMap((d) => Object.keys(d)))].sort();
    console.log(`### ${label}\n`);
    console.log(`| system call | ${builds.map(([b]) => b).join(' | ')} |\n|---|${builds.map(() => '---:').join('|')}|`);
    for (const k of names) console.log(`| ${k} | ${per.map((d) => (d[k] ?? 0).toFixed(1)).join(' | ')} |`);
    const total = (d) => Object.values(d).reduce((a, b) => a + b, 0);
    console.log(`| **total** | ${per.map((d) => total(d).toFixed(1)).join(' | ')} |\n`);
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
