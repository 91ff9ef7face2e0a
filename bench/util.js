'use strict';
// Small timing helpers shared by the benchmarks. Each measurement runs for at least
// `ms` after a warm-up and reports operations per second; every benchmark file runs
// fslock and its competitors in the same process run and prints ratios.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const quick = process.env.BENCH_QUICK === '1';
const MS = quick ? 300 : 1500;

async function measure(fn, ms = MS) {
  const warmEnd = performance.now() + Math.min(200, ms / 4);
  while (performance.now() < warmEnd) await fn();
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 16; i++) await fn();
    n += 16;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

function measureSync(fn, ms = MS) {
  const warmEnd = performance.now() + Math.min(200, ms / 4);
  while (performance.now() < warmEnd) fn();
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 256; i++) fn();
    n += 256;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

function fmt(opsPerSec) {
  if (opsPerSec >= 1e6) return `${(opsPerSec / 1e6).toFixed(2)} M/s`;
  if (opsPerSec >= 1e3) return `${(opsPerSec / 1e3).toFixed(1)} k/s`;
  return `${opsPerSec.toFixed(1)} /s`;
}

/**
 * The filesystem of `dir` as the mount table names it (`ext4`, `tmpfs`, `xfs`…): findmnt
 * (util-linux). `stat -f -c %T` names by superblock magic, which ext2, ext3 and ext4
 * share ("ext2/ext3" for ext4); it stays the answer where there is no findmnt.
 */
function fsTypeOf(dir) {
  for (const [cmd, args] of [
    ['findmnt', ['-n', '-o', 'FSTYPE', '--target', dir]],
    ['stat', ['-f', '-c', '%T', dir]],
  ]) {
    try {
      // A path under stacked mounts gets a line for each; the last is the one in use.
      const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
        .trim()
        .split('\n')
        .pop();
      if (out) return out;
    } catch {
      // not here: the next one
    }
  }
  return undefined;
}

/**
 * `npm run bench -- --json FILE` (BENCH_JSON): every table and distribution is also
 * appended to FILE as one JSON line { bench, backend, node, kind, title, rows|samples },
 * which scripts/charts.js draws.
 */
function record(kind, title, data) {
  if (!process.env.BENCH_JSON) return;
  const bench = path.basename(require.main ? require.main.filename : 'unknown', '.bench.js');
  const backend = process.env.FSLOCK_BACKEND || 'native';
  const dir = process.env.BENCH_DIR || os.tmpdir();
  const line = { bench, backend, node: process.version, quick, fs: fsTypeOf(dir), kind, title, ...data };
  fs.appendFileSync(process.env.BENCH_JSON, `${JSON.stringify(line)}\n`);
}

/** Prints a markdown table; `base` names the row the ratios are relative to. */
function table(title, rows, base) {
  record('table', title, { rows: rows.map((r) => ({ name: r.name, ops: r.ops })) });
  const baseRow = rows.find((r) => r.name === base);
  console.log(`\n### ${title}\n`);
  console.log('| implementation | ops/s | µs/op | fslock speed-up |');
  console.log('|---|---:|---:|---:|');
  for (const r of rows) {
    const ratio = baseRow ? baseRow.ops / r.ops : 1;
    console.log(
      `| ${r.name} | ${fmt(r.ops)} | ${(1e6 / r.ops).toFixed(2)} | ${r.name === base ? '—' : `${ratio.toFixed(2)}x`} |`,
    );
  }
}

/** Compiles a C file from bench/c once per run (cc -O2) and returns the binary. */
function compileC(name) {
  const out = path.join(os.tmpdir(), `fslock-bench-${name}-${process.pid}`);
  execFileSync('cc', ['-O2', '-o', out, path.join(__dirname, 'c', `${name}.c`)]);
  process.on('exit', () => fs.rmSync(out, { force: true }));
  return out;
}

function benchDir() {
  const dir = fs.mkdtempSync(path.join(process.env.BENCH_DIR || os.tmpdir(), 'fslock-bench-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

module.exports = { record, measure, measureSync, table, compileC, benchDir, fmt, quick, MS, fsTypeOf };
