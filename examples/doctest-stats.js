// doctest-style parallel test runs: each run adds its counts to one stats file (a
// read-modify-write under a lock: no update is lost), and the first run builds a
// shared artifact once under withLock; the others wait and reuse it.
// Run: node examples/doctest-stats.js [dir]
'use strict';
const { fork } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { update, withLock, writeFileAtomic } = require('fslock');

async function buildOnce(artifact) {
  return withLock(`${artifact}.lock`, async () => {
    if (fs.existsSync(artifact)) return false; // built by someone else: reuse it
    await writeFileAtomic(artifact, 'compiled docs '.repeat(1000)); // the expensive step
    return true;
  });
}

async function run(dir) {
  const built = await buildOnce(path.join(dir, 'docs.bin'));
  for (let i = 0; i < 20; i++) {
    const passed = 1 + (i % 3);
    await update(
      path.join(dir, 'stats.json'),
      (cur) => {
        const stats = cur ? JSON.parse(cur.toString()) : { runs: 0, passed: 0 };
        return JSON.stringify({ runs: stats.runs + 1, passed: stats.passed + passed });
      },
      { fsync: false },
    );
  }
  process.send(built);
}

if (process.argv[2] === '--run') {
  run(process.argv[3]);
} else {
  const dir = process.argv[2] || fs.mkdtempSync(path.join(os.tmpdir(), 'doctest-'));
  const runs = Array.from(
    { length: 4 },
    () => new Promise((resolve) => fork(__filename, ['--run', dir]).on('message', resolve)),
  );
  Promise.all(runs).then((built) => {
    const stats = JSON.parse(fs.readFileSync(path.join(dir, 'stats.json'), 'utf8'));
    console.log(
      `4 runs: artifact built ${built.filter(Boolean).length} time(s); stats ${JSON.stringify(stats)} (expected {"runs":80,"passed":156})`,
    );
  });
}
