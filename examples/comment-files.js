// Comment files named "<timestamp>-N.json" with createUnique: writers in several
// processes never take the same name, and a reader listing the directory only ever
// sees complete files (each appears with its whole content at once).
// Run: node examples/comment-files.js [dir]
'use strict';
const { fork } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { createUnique } = require('fslock');

const stamp = '20261123T2100'; // one timestamp for everyone: the names must collide
const name = (attempt) => `${stamp}-${attempt}.json`;

if (process.argv[2] === '--writer') {
  const dir = process.argv[3];
  (async () => {
    for (let i = 0; i < 25; i++) {
      await createUnique(dir, name, JSON.stringify({ author: process.pid, text: 'lgtm '.repeat(500) }), {
        fsync: false,
      });
    }
    process.send('done');
  })();
} else {
  const dir = process.argv[2] || fs.mkdtempSync(path.join(os.tmpdir(), 'comments-'));
  let reads = 0;
  const reader = setInterval(() => {
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.json'))) {
      JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')); // throws on a partial file: never
      reads++;
    }
  }, 1);
  const writers = Array.from(
    { length: 4 },
    () => new Promise((resolve) => fork(__filename, ['--writer', dir]).on('message', resolve)),
  );
  Promise.all(writers).then(() => {
    clearInterval(reader);
    const files = fs.readdirSync(dir).filter((n) => n.endsWith('.json'));
    console.log(`4 writers, 100 comments: ${files.length} distinct files, ${reads} complete reads, none partial`);
  });
}
