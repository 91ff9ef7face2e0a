// @ts-check
// Plain CommonJS JavaScript, checked with checkJs: require() of every entry point.
'use strict';
const fslock = require('fslock');
const properLockfile = require('fslock/proper-lockfile');
const writeFileAtomic = require('fslock/write-file-atomic');

async function main() {
  const l = await fslock.lock('x.lock');
  await l.release();
  /** @type {boolean} */
  const released = l.released;
  await (
    await properLockfile('file')
  )();
  properLockfile.lockSync('file');
  properLockfile.unlockSync('file');
  await writeFileAtomic('f', 'x');
  writeFileAtomic.sync('f', 'x', { mode: 0o600 });
  return `require ${released}`;
}

async function typeErrors() {
  // @ts-expect-error sync returns nothing
  await writeFileAtomic.sync('f', 'x').then;
}
module.exports = { main, typeErrors };
