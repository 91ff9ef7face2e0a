// uv-style concurrent installs into one cache directory: several processes install
// overlapping package sets; each package is unpacked once, under its own lock, into a
// temp directory that is moved into place whole, so nobody sees half a package.
// Run: node examples/concurrent-installs.js [cacheDir]
'use strict';
const { fork } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { withLock, moveAtomic } = require('fslock');

async function install(cache, name) {
  const dest = path.join(cache, name);
  if (fs.existsSync(dest)) return 'cached';
  return withLock(path.join(cache, `.${name}.lock`), async () => {
    if (fs.existsSync(dest)) return 'cached'; // another process finished it while we waited
    const tmp = fs.mkdtempSync(path.join(cache, `.${name}-`));
    for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(tmp, `file${i}.js`), `// ${name} ${i}\n`);
    await moveAtomic(tmp, dest, { overwrite: false }); // the package appears whole
    return 'installed';
  });
}

if (process.argv[2] === '--worker') {
  const [cache, ...names] = process.argv.slice(3);
  Promise.all(names.map((n) => install(cache, n))).then((r) => process.send(r));
} else {
  const cache = process.argv[2] || fs.mkdtempSync(path.join(os.tmpdir(), 'pkg-cache-'));
  const sets = [
    ['left-pad', 'lodash', 'react'],
    ['lodash', 'react', 'vue'],
    ['react', 'vue', 'left-pad'],
    ['lodash', 'vue'],
  ];
  const runs = sets.map(
    (names) => new Promise((resolve) => fork(__filename, ['--worker', cache, ...names]).on('message', resolve)),
  );
  Promise.all(runs).then((results) => {
    const installed = results.flat().filter((r) => r === 'installed').length;
    const complete = fs
      .readdirSync(cache)
      .filter((n) => !n.startsWith('.'))
      .every((n) => fs.readdirSync(path.join(cache, n)).length === 20);
    console.log(
      `4 processes, 11 installs of 4 packages: ${installed} unpacked, the rest reused; all complete: ${complete}`,
    );
  });
}
