#!/usr/bin/env node
// Builds the OS-layer test driver (test/oslayer/driver.cc + native/posix_*.cc, no Node)
// as four static executables, for test/oslayer.test.js:
//   musl-x64     zig c++ -target x86_64-linux-musl -static
//   musl-arm64   zig c++ -target aarch64-linux-musl -static
//   glibc-x64    g++ -static
//   glibc-arm64  aarch64-linux-gnu-g++ -static (Debian's cross compiler)
// Cached by a hash of the sources and flags under the build cache (FSLOCK_BUILD_CACHE or
// ~/.cache/fslock-build/oslayer-<hash>/), so the suite's second pass (fallback) and
// later runs reuse them. `node scripts/build-oslayer.js` prints the paths as JSON.
'use strict';
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { root, cache, have, ensurePackages } = require('./tooling');

const FLAGS = ['-std=c++17', '-O2', '-Wall', '-static', '-pthread'];
const KINDS = {
  'musl-x64': { zig: 'x86_64-linux-musl' },
  'musl-arm64': { zig: 'aarch64-linux-musl' },
  // --allow-multiple-definition: posix_locks.cc defines a hidden
  // std::__throw_bad_array_new_length for the addon's glibc floor, which the static
  // libstdc++ also has; the driver keeps the first (either aborts).
  'glibc-x64': { cxx: 'g++', extra: ['-Wl,--allow-multiple-definition'] },
  'glibc-arm64': { cxx: 'aarch64-linux-gnu-g++', extra: ['-Wl,--allow-multiple-definition'] },
};

/** The OS layer as binding.gyp picks it for POSIX, plus the driver. */
function sources() {
  const native = fs
    .readdirSync(path.join(root, 'native'))
    .filter((f) => /^posix_.*\.cc$/.test(f))
    .sort()
    .map((f) => path.join(root, 'native', f));
  return [path.join(root, 'test', 'oslayer', 'driver.cc'), ...native];
}

function hash(kind) {
  const h = crypto.createHash('sha256').update(JSON.stringify([kind, KINDS[kind], FLAGS]));
  const headers = fs
    .readdirSync(path.join(root, 'native'))
    .filter((f) => f.endsWith('.h'))
    .sort();
  for (const f of [...sources(), ...headers.map((x) => path.join(root, 'native', x))])
    h.update(f).update(fs.readFileSync(f));
  return h.digest('hex').slice(0, 16);
}

function exec(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} failed (${code}):\n${out}`)),
    );
  });
}

/** Builds (or finds cached) one driver; resolves with { file, seconds, cached }. */
async function build(kind) {
  const k = KINDS[kind];
  const dir = path.join(cache, `oslayer-${hash(kind)}`);
  const file = path.join(dir, `driver-${kind}`);
  if (fs.existsSync(file)) return { file, seconds: 0, cached: true };
  fs.mkdirSync(dir, { recursive: true });
  const started = Date.now();
  const temp = `${file}.${process.pid}.tmp`;
  try {
    if (k.zig) {
      const zig = require('./build-zig').zig();
      await exec(zig, ['c++', '-target', k.zig, ...FLAGS, '-s', ...sources(), '-o', temp]);
    } else {
      await exec(k.cxx, [...FLAGS, '-s', ...(k.extra || []), ...sources(), '-o', temp]);
    }
    fs.renameSync(temp, file);
  } finally {
    fs.rmSync(temp, { force: true });
  }
  return { file, seconds: (Date.now() - started) / 1000, cached: false };
}

/**
 * Installs the toolchains (g++, the aarch64 cross compiler, qemu-user-static, file) if
 * missing; returns the reason arm64 cannot run, or null.
 */
function prepare() {
  ensurePackages([
    ['g++', 'g++'],
    ['file', 'file'],
  ]);
  try {
    ensurePackages([
      ['aarch64-linux-gnu-g++', 'g++-aarch64-linux-gnu'],
      ['qemu-aarch64-static', 'qemu-user-static'],
    ]);
  } catch (e) {
    return `cannot install the arm64 cross compiler or qemu-user-static: ${e.message.split('\n')[0]}`;
  }
  return have('qemu-aarch64-static') && have('aarch64-linux-gnu-g++')
    ? null
    : 'qemu-aarch64-static or aarch64-linux-gnu-g++ missing';
}

module.exports = { KINDS, build, prepare };

if (require.main === module) {
  (async () => {
    const noArm = prepare();
    const out = {};
    for (const kind of Object.keys(KINDS)) {
      if (noArm && kind.endsWith('arm64')) continue;
      out[kind] = await build(kind);
    }
    console.log(JSON.stringify(out, null, 2));
  })().catch((e) => {
    console.error(e.message || e);
    process.exit(1);
  });
}
