'use strict';
// A lock peer driven line by line over stdin, for scripts/test-arm64.js (the same file
// runs in the host's x64 node and in the arm64 node under qemu). On start it prints
// `ready <arch> <backend> <binary>`; then, per command line, one reply line:
//   lock ex|sh     -> ok                       (waits for the lock)
//   try ex|sh      -> ok | err <code>          (wait: false)
//   release        -> ok
//   append F TEXT  -> ok                       (appends TEXT to F)
//   read F         -> ok <content of F>
//   atomic F TEXT  -> ok <content read back>   (writeFileAtomic, fsync on)
//   exit
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const fslock = require('fslock');

const root = path.join(__dirname, '..', '..');
let binary = '-';
try {
  binary = path.relative(root, require('node-gyp-build').resolve(root));
} catch {}
const lockPath = process.argv[2];
let held;

const commands = {
  async lock(mode) {
    held = await fslock.lock(lockPath, { shared: mode === 'sh' });
    return 'ok';
  },
  async try(mode) {
    try {
      held = await fslock.lock(lockPath, { shared: mode === 'sh', wait: false });
      return 'ok';
    } catch (e) {
      return `err ${e.code}`;
    }
  },
  async release() {
    await held.release();
    held = undefined;
    return 'ok';
  },
  async append(file, ...text) {
    fs.appendFileSync(file, text.join(' '));
    return 'ok';
  },
  async read(file) {
    return `ok ${fs.readFileSync(file, 'utf8')}`;
  },
  async atomic(file, ...text) {
    await fslock.writeFileAtomic(file, text.join(' '));
    return `ok ${fs.readFileSync(file, 'utf8')}`;
  },
  async exit() {
    process.exit(0);
  },
};

console.log(
  `ready ${process.arch} ${fslock.backend} ${binary}${fslock.loadError ? ` ${fslock.loadError.message.split('\n')[0]}` : ''}`,
);
// One command at a time, in order: a waiting `lock` holds back the commands after it.
let chain = Promise.resolve();
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const [name, ...args] = line.trim().split(' ');
  chain = chain
    .then(() => (commands[name] ? commands[name](...args) : `err unknown command ${name}`))
    .catch((e) => `err ${e.code || e.message}`)
    .then((reply) => console.log(reply));
});
