#!/usr/bin/env node
// Helpers of the build and cross-test scripts: run a command, install missing Debian
// packages, fetch and unpack an npm package into a cache outside the checkout (node-gyp
// rebuild wipes build/): ~/.cache/fslock-build, or FSLOCK_BUILD_CACHE.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const cache = process.env.FSLOCK_BUILD_CACHE || path.join(require('node:os').homedir(), '.cache', 'fslock-build');

// Output of tools the scripts run shows on stderr: these scripts run as npm lifecycle
// scripts (prepack, install), and under `npm pack --json` whatever they print on stdout
// lands in npm's JSON (a first apt-get install broke test:package that way).
const TO_STDERR = ['ignore', 2, 2];

function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], ...opts });
}

function have(cmd) {
  try {
    run('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

/**
 * apt-get install, once, for whatever of `packages` provides a missing command — as
 * root only (CI is): never through sudo, which would stop a script (an `npm pack`) to
 * ask for a password or change a contributor's machine behind their back. Elsewhere
 * the error says what to install. Each need is [command, package], or [check, package]
 * with a function that says whether it is there (a library, a Python module).
 */
function ensurePackages(needs) {
  const present = (cmd) => (typeof cmd === 'function' ? cmd() : have(cmd));
  const missing = [...new Set(needs.filter(([cmd]) => !present(cmd)).map(([, pkg]) => pkg))];
  if (!missing.length) return;
  if (!have('apt-get')) throw new Error(`missing ${missing.join(', ')} and no apt-get to install them`);
  if (process.getuid && process.getuid() !== 0)
    throw new Error(`missing ${missing.join(', ')}: install them (apt-get install ${missing.join(' ')}, as root)`);
  console.error(`fslock scripts: installing ${missing.join(' ')}`);
  const apt = (...a) =>
    run('apt-get', a, { stdio: TO_STDERR, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  apt('update', '-qq');
  apt('install', '-y', '-qq', '--no-install-recommends', ...missing);
}

/** Where npmPackage(spec) unpacks `spec`, and whether it is there already. */
function cachedPackage(spec) {
  const dir = path.join(cache, spec.replace(/[^a-zA-Z0-9.@-]/g, '_'));
  return { dir, present: fs.existsSync(path.join(dir, 'package.json')) };
}

/** Unpacks an npm package (any version spec) into the cache; returns its directory. */
function npmPackage(spec) {
  const { dir } = cachedPackage(spec);
  if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
  fs.mkdirSync(dir, { recursive: true });
  // npm pack: the registry's tarball, as npm would install it (no network beyond it).
  // --json explicitly: under `npm pack --json` (test:package -> prepack) npm_config_json
  // is inherited, and the plain output would be JSON anyway.
  // maxBuffer: the JSON lists every file (zig's package has thousands of headers).
  const out = run('npm', ['pack', spec, '--json', '--pack-destination', cache], { cwd: cache, maxBuffer: 256 << 20 });
  const tgz = JSON.parse(out.toString())[0].filename;
  run('tar', ['xzf', path.join(cache, tgz), '-C', dir, '--strip-components=1']);
  fs.rmSync(path.join(cache, tgz));
  return dir;
}

module.exports = { TO_STDERR, root, cache, run, have, ensurePackages, npmPackage, cachedPackage };
