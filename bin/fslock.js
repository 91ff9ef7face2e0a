#!/usr/bin/env node
'use strict';
// The `fslock` command (lib/cli.ts): fslock [options] LOCKFILE [--] COMMAND [ARGS...]
require('../dist/cjs/cli.js')
  .main(process.argv.slice(2))
  .then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`fslock: ${e && e.stack ? e.stack : e}\n`);
      process.exit(1);
    },
  );
