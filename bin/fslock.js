#!/usr/bin/env node
'use strict';
// The `fslock` command (lib/cli.ts): fslock [options] LOCKFILE [--] COMMAND [ARGS...]
// Node >= 22.1 keeps the compiled code of fslock's modules on disk between runs (in
// os.tmpdir()/node-compile-cache, or $NODE_COMPILE_CACHE; NODE_DISABLE_COMPILE_CACHE=1
// turns it off), as tsc does: start-up is most of what a short command costs.
require('node:module').enableCompileCache?.();
require('../dist/cjs/cli.js')
  .main(process.argv.slice(2))
  .then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`fslock: ${e && e.stack ? e.stack : e}\n`);
      process.exit(1);
    },
  );
