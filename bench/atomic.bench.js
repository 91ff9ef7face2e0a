'use strict';
// Atomic replace, 4 KB and 1 MB, fsync off and on: fslock (sync and promise) against
// write-file-atomic and atomically in the same run, and a C program making the same
// syscalls (open O_EXCL, stat+fchmod, write, fdatasync, close, rename, directory fsync;
// on Linux also fslock's O_TMPFILE sequence) as the floor. BENCH_DIR picks the
// filesystem (default: os.tmpdir()).
//
// FSLOCK_BASELINE=<another checkout, built>: only this build against that one, in one
// process and interleaved (A B A B ...: load on a shared machine hits both alike), on a
// plain file and on one with a POSIX ACL and a user attribute — how a change to the
// write path costs what it costs (issue 23: the metadata carried per write).
const { execFileSync } = require('node:child_process');
const { measure, measureSync, table, compileC, benchDir, fsTypeOf, MS, quick, fmt } = require('./util');
const fs = require('node:fs');
const path = require('node:path');
const fslock = require('fslock');
const wfa = require('write-file-atomic');

async function main() {
  if (process.env.FSLOCK_BASELINE) return baseline(process.env.FSLOCK_BASELINE);
  // The disk the user has (os.tmpdir() or BENCH_DIR) and, where there is one, tmpfs:
  // without a device in the way, the cost of the code itself shows.
  await run(benchDir());
  if (!process.env.BENCH_DIR && require('node:fs').existsSync('/dev/shm')) {
    process.env.BENCH_DIR = '/dev/shm';
    await run(benchDir());
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Runs `fn` (sync, or returning a promise) for `ms`; returns ops/s and the CPU time
 * (user + system) per op in µs — the cost of the code itself, which the machine's load
 * shifts much less than the wall clock.
 */
async function sample(fn, ms) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  let now = t0;
  while (now - t0 < ms) {
    for (let i = 0; i < 32; i++) {
      const r = fn();
      if (r) await r;
    }
    n += 32;
    now = performance.now();
  }
  const cpu = process.cpuUsage(cpu0);
  return { ops: (n * 1000) / (now - t0), cpu: (cpu.user + cpu.system) / n };
}

/** This build against the build at `dir`: medians of interleaved rounds, and their ratio. */
async function baseline(dir) {
  const base = require(path.resolve(dir));
  if (base.backend !== fslock.backend) throw new Error(`baseline backend ${base.backend}, this ${fslock.backend}`);
  const rounds = quick ? 3 : 9;
  const ms = quick ? 200 : 500;
  const places = [process.env.BENCH_DIR || require('node:os').tmpdir()];
  if (!process.env.BENCH_DIR && fs.existsSync('/dev/shm')) places.push('/dev/shm');
  const acl = process.platform === 'linux' && fslock.backend === 'native';
  console.log(
    `\n## This build against ${path.resolve(dir)} (backend ${fslock.backend}; medians of ${rounds} interleaved rounds of ${ms} ms)`,
  );
  console.log(
    '\n| filesystem | file | write | baseline | this build | ops/s ratio | CPU µs/op baseline | this | CPU ratio |',
  );
  console.log('|---|---|---|---:|---:|---:|---:|---:|---:|');
  for (const place of places) {
    process.env.BENCH_DIR = place;
    const d = benchDir();
    const fsType = fsTypeOf(d);
    for (const decorated of acl ? [false, true] : [false]) {
      const target = (who) => {
        const p = path.join(d, `${who}-${decorated}`);
        fs.writeFileSync(p, 'x');
        if (decorated) {
          execFileSync('setfacl', ['-m', 'u:nobody:rw', p]);
          execFileSync('setfattr', ['-n', 'user.bench', '-v', 'kept', p]);
        }
        return p;
      };
      const a = target('base');
      const b = target('this');
      const data = Buffer.alloc(4096, 'x');
      for (const [what, mk] of [
        ['4 KB sync, fsync off', (lib, p) => () => lib.writeFileAtomicSync(p, data, { fsync: false })],
        ['4 KB promise, fsync off', (lib, p) => () => lib.writeFileAtomic(p, data, { fsync: false })],
        ['4 KB sync, fsync on', (lib, p) => () => lib.writeFileAtomicSync(p, data)],
      ]) {
        const runs = { base: [], this: [] };
        const fa = mk(base, a);
        const fb = mk(fslock, b);
        await sample(fa, 100);
        await sample(fb, 100);
        for (let i = 0; i < rounds; i++) {
          // Alternating which goes first: neither always meets the other's leftovers.
          const order = i % 2 ? [fb, fa] : [fa, fb];
          const got = [];
          for (const f of order) got.push(await sample(f, ms));
          const [ra, rb] = i % 2 ? [got[1], got[0]] : got;
          runs.base.push(ra);
          runs.this.push(rb);
        }
        const m = (rs, k) => median(rs.map((r) => r[k]));
        const [x, y] = [m(runs.base, 'ops'), m(runs.this, 'ops')];
        const [cx, cy] = [m(runs.base, 'cpu'), m(runs.this, 'cpu')];
        const file = decorated ? 'ACL + user.* attribute' : 'plain';
        console.log(
          `| ${fsType} | ${file} | ${what} | ${fmt(x)} | ${fmt(y)} | ${(y / x).toFixed(3)} | ${cx.toFixed(1)} | ${cy.toFixed(1)} | ${(cy / cx).toFixed(3)} |`,
        );
      }
    }
  }
}

const linuxTmpFile = process.platform === 'linux' && fslock.backend === 'native';

async function run(dir) {
  const atomically = await import('atomically');
  const c = compileC('atomic_write');
  const fsType = fsTypeOf(dir);
  console.log(`\n## Atomic replace (${fsType}, backend ${fslock.backend}${quick ? ', quick' : ''})`);
  const summary = [];
  for (const fsync of [false, true]) {
    for (const size of [4096, 1 << 20]) {
      const data = Buffer.alloc(size, 'x');
      const p = (n) => path.join(dir, `${n}-${size}-${fsync}`);
      // fsync'd writes are slow: fewer and longer samples are still meaningful.
      const ms = fsync ? MS * 2 : MS;
      const rows = [
        {
          name: 'fslock writeFileAtomicSync',
          ops: measureSync(() => fslock.writeFileAtomicSync(p('f'), data, { fsync }), ms),
        },
        {
          name: 'fslock writeFileAtomic',
          ops: await measure(() => fslock.writeFileAtomic(p('f'), data, { fsync }), ms),
        },
        { name: 'write-file-atomic .sync', ops: measureSync(() => wfa.sync(p('w'), data, { fsync }), ms) },
        { name: 'write-file-atomic (promise)', ops: await measure(() => wfa(p('w'), data, { fsync }), ms) },
        {
          name: 'atomically writeFileSync',
          ops: measureSync(() => atomically.writeFileSync(p('a'), data, { fsync }), ms),
        },
        { name: 'atomically writeFile', ops: await measure(() => atomically.writeFile(p('a'), data, { fsync }), ms) },
      ];
      const n = Math.max(20, Math.round((rows[0].ops * ms) / 1000));
      const floor = (...extra) =>
        1e6 / Number(execFileSync(c, [dir, String(size), String(n), fsync ? '1' : '0', ...extra]).toString());
      rows.push({ name: 'C floor (named temp)', ops: floor() });
      // fslock's native backend on Linux writes an unnamed O_TMPFILE file (item: no
      // temp left by a killed writer): its floor is that sequence.
      if (linuxTmpFile) {
        try {
          rows.push({ name: 'C floor (O_TMPFILE, as fslock on Linux)', ops: floor('tmpfile') });
        } catch {
          // no O_TMPFILE on this filesystem: fslock uses a named temp there too
        }
      }
      const title = `${size === 4096 ? '4 KB' : '1 MB'}, fsync ${fsync ? 'on (fslock also fsyncs the directory)' : 'off'}`;
      table(title, rows, rows[0].name);
      const ops = Object.fromEntries(rows.map((r) => [r.name, r.ops]));
      summary.push({
        case: title,
        syncVsWfa: ops['fslock writeFileAtomicSync'] / ops['write-file-atomic .sync'],
        asyncVsWfa: ops['fslock writeFileAtomic'] / ops['write-file-atomic (promise)'],
        syncVsAtomically: ops['fslock writeFileAtomicSync'] / ops['atomically writeFileSync'],
        cOverSync:
          (ops['C floor (O_TMPFILE, as fslock on Linux)'] ?? ops['C floor (named temp)']) /
          ops['fslock writeFileAtomicSync'],
      });
    }
  }
  console.log('\n### Ratios (targets: fsync off ≥ 2.5x write-file-atomic and ≤ 1.5x the C floor; fsync on ≥ 1.3x)\n');
  console.log(
    '| case | sync vs write-file-atomic | promise vs write-file-atomic | sync vs atomically | fslock sync time / C floor |',
  );
  console.log('|---|---:|---:|---:|---:|');
  for (const s of summary) {
    console.log(
      `| ${s.case} | ${s.syncVsWfa.toFixed(2)}x | ${s.asyncVsWfa.toFixed(2)}x | ${s.syncVsAtomically.toFixed(2)}x | ${s.cOverSync.toFixed(2)}x |`,
    );
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
