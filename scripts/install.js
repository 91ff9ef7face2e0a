#!/usr/bin/env node
// The package's install step. It never fails the install:
//   1. a prebuilt binary (or an earlier build) that loads here: done;
//   2. otherwise, or with --build-from-source, compile with node-gyp;
//   3. if that is impossible (no compiler, no python, no headers): say so in one line
//      and exit 0 — fslock then runs its pure-JS fallback (fslock.backend ===
//      'fallback', fslock.loadError says why). FSLOCK_BACKEND=native makes that an error
//      at load time for those who need the native backend.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');

function fromSource() {
  const v = process.env.npm_config_build_from_source;
  return process.argv.includes('--build-from-source') || v === 'true' || v === 'fslock';
}

/** Whether the binding that node-gyp-build would pick loads, tried in a child process. */
function loads() {
  const probe = `require('node-gyp-build')(${JSON.stringify(root)})`;
  const r = spawnSync(process.execPath, ['-e', probe], { stdio: 'ignore', env: { ...process.env, FSLOCK_BACKEND: '' } });
  return r.status === 0;
}

function nodeGyp() {
  // npm passes its bundled node-gyp to install scripts; a devDependency one otherwise.
  if (process.env.npm_config_node_gyp && fs.existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp;
  try {
    return require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return undefined;
  }
}

function main() {
  if (!fromSource() && loads()) return;
  const gyp = nodeGyp();
  if (gyp) {
    const r = spawnSync(process.execPath, [gyp, 'rebuild'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status === 0 && loads()) return;
    const why = `${r.stderr || ''}`.split('\n').filter((l) => /error|not found|ERR!/i.test(l)).slice(0, 3).join(' | ');
    console.warn(`fslock: no prebuilt binary for ${process.platform}-${process.arch} and the native build failed${why ? ` (${why.trim()})` : ''}; using the pure-JS fallback (see README "Fallback backend").`);
    return;
  }
  console.warn(`fslock: no prebuilt binary for ${process.platform}-${process.arch} and no node-gyp to build one; using the pure-JS fallback (see README "Fallback backend").`);
}

try {
  main();
} catch (e) {
  // Whatever happened, the install goes on: the fallback needs nothing from here.
  console.warn(`fslock: install step skipped (${e && e.message}); using the pure-JS fallback.`);
}
