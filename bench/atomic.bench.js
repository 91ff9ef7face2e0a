'use strict';
// Atomic replace, 4 KB and 1 MB, fsync off and on: fslock (sync and promise) against
// write-file-atomic and atomically in the same run, and a C program making the same
// syscalls (open O_EXCL, stat+fchmod, write, fdatasync, close, rename, directory fsync;
// on Linux also fslock's O_TMPFILE sequence) as the floor. BENCH_DIR picks the
// filesystem (default: os.tmpdir()).
const { execFileSync } = require('node:child_process');
const { measure, measureSync, table, compileC, benchDir, fsTypeOf, MS, quick } = require('./util');
const path = require('node:path');
const fslock = require('fslock');
const wfa = require('write-file-atomic');

async function main() {
  // The disk the user has (os.tmpdir() or BENCH_DIR) and, where there is one, tmpfs:
  // without a device in the way, the cost of the code itself shows.
  await run(benchDir());
  if (!process.env.BENCH_DIR && require('node:fs').existsSync('/dev/shm')) {
    process.env.BENCH_DIR = '/dev/shm';
    await run(benchDir());
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
