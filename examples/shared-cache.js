// A cachy-style cache shared by several processes: an entry expires after TTL ms and
// whoever misses rewrites it; readers read without any lock and never see the entry
// torn or missing, because every write is an atomic replace.
// Run: node examples/shared-cache.js [dir]   (forks 4 workers on one cache directory)
'use strict';
const { fork } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { withLock, writeFileAtomic } = require('fslock');

const TTL = 20; // ms: short, so that entries expire during the demo

async function get(dir, key, compute) {
  const file = path.join(dir, `${key}.json`);
  const read = () => JSON.parse(fs.readFileSync(file, 'utf8')); // plain read, no lock
  if (fs.existsSync(file) && Date.now() - read().at < TTL) return { value: read().value, hit: true };
  // Miss: one process recomputes under the entry's lock, the others wait and reuse it.
  return withLock(`${file}.lock`, async () => {
    if (fs.existsSync(file) && Date.now() - read().at < TTL) return { value: read().value, hit: true };
    const value = await compute();
    await writeFileAtomic(file, JSON.stringify({ at: Date.now(), value }), { fsync: false });
    return { value, hit: false };
  });
}

async function worker(dir) {
  let hits = 0;
  let misses = 0;
  for (let i = 0; i < 200; i++) {
    const { value, hit } = await get(dir, 'answer', async () => 'x'.repeat(10_000)); // a big entry
    if (value.length !== 10_000) throw new Error('torn entry'); // never happens
    hit ? hits++ : misses++;
  }
  process.send({ hits, misses });
}

if (process.argv[2] === '--worker') {
  worker(process.argv[3]);
} else {
  const dir = process.argv[2] || fs.mkdtempSync(path.join(os.tmpdir(), 'cache-'));
  const runs = Array.from({ length: 4 }, () => {
    const child = fork(__filename, ['--worker', dir]);
    return new Promise((resolve, reject) => {
      child.on('message', resolve);
      child.on('exit', (code) => code && reject(new Error(`worker exited with ${code}`)));
    });
  });
  Promise.all(runs).then((r) => {
    const misses = r.reduce((n, x) => n + x.misses, 0);
    console.log(`4 processes, 800 reads: ${800 - misses} hits, ${misses} rewrites, no torn or missing entry`);
  });
}
