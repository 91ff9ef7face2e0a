'use strict';
// createUnique in a directory where the first 2,000 names are taken (a log or cache
// directory that has filled up): fslock against the loop users write by hand, an
// exclusive create ('wx') of name(0), name(1), ... until one succeeds — which, unlike
// createUnique, can show a half-written file. Each call's file is removed again, so
// every call starts from the same 2,000 taken names.
const fs = require('node:fs');
const path = require('node:path');
const { measure, measureSync, table, benchDir, MS, quick } = require('./util');
const fslock = require('fslock');

const TAKEN = 2000;
const data = Buffer.alloc(1024, 'x');
const name = (n) => `entry-${n}`;

async function wxLoop(dir) {
  for (let n = 0; ; n++) {
    const p = path.join(dir, name(n));
    try {
      await fs.promises.writeFile(p, data, { flag: 'wx' });
      return p;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
    }
  }
}

function wxLoopSync(dir) {
  for (let n = 0; ; n++) {
    const p = path.join(dir, name(n));
    try {
      fs.writeFileSync(p, data, { flag: 'wx' });
      return p;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
    }
  }
}

async function main() {
  const dir = fs.mkdtempSync(path.join(benchDir(), 'unique-'));
  try {
    for (let n = 0; n < TAKEN; n++) fs.writeFileSync(path.join(dir, name(n)), '');
    console.log(`\n## createUnique past ${TAKEN} taken names (backend ${fslock.backend}${quick ? ', quick' : ''})`);
    // Fewer calls fit in a sample: each is thousands of attempts.
    const ms = MS * 2;
    const opts = { fsync: false };
    const rows = [
      {
        name: 'fslock createUniqueSync',
        ops: measureSync(() => fs.unlinkSync(fslock.createUniqueSync(dir, name, data, opts)), ms),
      },
      {
        name: 'fslock createUnique',
        ops: await measure(async () => fs.unlinkSync(await fslock.createUnique(dir, name, data, opts)), ms),
      },
      { name: "writeFileSync 'wx' loop", ops: measureSync(() => fs.unlinkSync(wxLoopSync(dir)), ms) },
      { name: "fs.promises.writeFile 'wx' loop", ops: await measure(async () => fs.unlinkSync(await wxLoop(dir)), ms) },
    ];
    table(`one call, ${TAKEN} taken names, 1 KB, fsync off`, rows, rows[0].name);
    const us = (r) => (1e6 / r.ops / TAKEN).toFixed(2);
    console.log(
      `\nper taken name: createUniqueSync ${us(rows[0])} µs, createUnique ${us(rows[1])} µs, 'wx' loops ${us(rows[2])} / ${us(rows[3])} µs`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
