#!/usr/bin/env node
'use strict';
// The `fslock` command (lib/cli.ts): fslock [options] LOCKFILE [--] COMMAND [ARGS...]
// Start-up is most of what a short command costs (bench/cli.bench.js): Node >= 22.1
// keeps the compiled code on disk between runs (os.tmpdir()/node-compile-cache, or
// $NODE_COMPILE_CACHE; NODE_DISABLE_COMPILE_CACHE=1 turns it off), as tsc does, and the
// command's modules come in one file (scripts/build-cli.js).
require('node:module').enableCompileCache?.();
let cli;
try {
  cli = require('../dist/cjs/cli-bundle.js');
} catch (e) {
  // A build without the bundle (tsc alone): the same modules, one file each.
  if (!(e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes('cli-bundle.js'))) throw e;
  cli = require('../dist/cjs/cli.js');
}
cli.main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`fslock: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  },
);
