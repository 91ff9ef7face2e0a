#!/usr/bin/env node
// `npm run bench`: every bench/*.bench.js in turn, each in its own process, with the
// native backend and then the fallback (where the file measures backends itself it
// says so). BENCH_QUICK=1 for short runs; BENCH_DIR to bench another filesystem.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const args = process.argv.slice(2);
// --json FILE: the results as JSON lines too (bench/util.js record()), for scripts/charts.js.
const jsonAt = args.indexOf('--json');
if (jsonAt >= 0) {
  process.env.BENCH_JSON = path.resolve(args[jsonAt + 1]);
  fs.writeFileSync(process.env.BENCH_JSON, '');
  args.splice(jsonAt, 2);
}
const only = args;
const files = fs
  .readdirSync(__dirname)
  .filter((f) => f.endsWith('.bench.js'))
  .filter((f) => !only.length || only.some((o) => f.includes(o)))
  .sort();
let failed = false;
const backends = process.env.FSLOCK_BACKEND ? [process.env.FSLOCK_BACKEND] : ['native', 'fallback'];
for (const f of files) {
  for (const backend of backends) {
    const env = { ...process.env, FSLOCK_BACKEND: backend };
    const r = spawnSync(process.execPath, [path.join(__dirname, f)], { stdio: 'inherit', env });
    if (r.status !== 0) failed = true;
  }
}
process.exit(failed ? 1 : 0);
