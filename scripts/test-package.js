#!/usr/bin/env node
// npm run test:package — the package as users get it. Packs the tarball (prepack builds
// the prebuilds), checks what it holds, then installs it into empty projects:
//   1. with --ignore-scripts: the linux-x64 prebuild loads (CJS and ESM), locks and
//      writes work;
//   2. without any prebuild and with no working compiler: `npm install` exits 0 and the
//      JS fallback runs (backend 'fallback', loadError kept), locks and writes work.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fslock-package-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

// What a user's program does first: CJS and ESM entry points, a lock, an atomic write.
const SMOKE_CJS = `
const f = require('fslock');
(async () => {
  const l = await f.lock('x.lock');
  await f.writeFileAtomic('data.json', JSON.stringify({ ok: true }));
  await l.release();
  f.writeFileAtomicSync('data2.json', 'sync');
  console.log(JSON.stringify({ backend: f.backend, loadError: f.loadError ? f.loadError.message : null,
    data: require('fs').readFileSync('data.json', 'utf8'), left: require('fs').readdirSync('.').filter((n) => n.endsWith('.lock')) }));
})().catch((e) => { console.error(e); process.exit(1); });`;
const SMOKE_ESM = `import { backend, lock } from 'fslock'; const l = await lock('y.lock'); await l.release(); console.log(backend);`;

function project(name) {
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
  return dir;
}

function smoke(dir) {
  const cjs = JSON.parse(sh(process.execPath, ['-e', SMOKE_CJS], { cwd: dir, env: { ...process.env, FSLOCK_BACKEND: '' } }));
  const esm = sh(process.execPath, ['--input-type=module', '-e', SMOKE_ESM], { cwd: dir, env: { ...process.env, FSLOCK_BACKEND: '' } }).trim();
  assert.equal(cjs.data, '{"ok":true}');
  assert.deepEqual(cjs.left, [], 'a lock file was left behind');
  assert.equal(esm, cjs.backend, 'ESM and CJS entry points disagree on the backend');
  return cjs;
}

function main() {
  const started = Date.now();
  // 1. The tarball, and what is in it.
  const packed = JSON.parse(sh('npm', ['pack', '--json', '--pack-destination', work], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] }))[0];
  const tgz = path.join(work, packed.filename);
  const files = packed.files.map((f) => f.path);
  for (const must of ['dist/cjs/index.js', 'dist/esm/index.mjs', 'dist/cjs/index.d.ts', 'binding.gyp', 'scripts/install.js',
    'native/fslock.h', 'prebuilds/linux-x64/fslock.node', 'prebuilds/linux-arm64/fslock.node', 'prebuilds/win32-x64/fslock.node']) {
    assert.ok(files.includes(must), `tarball lacks ${must}`);
  }
  const stray = files.filter((f) => /^(test|bench|build|lib|\.ci)\//.test(f));
  assert.deepEqual(stray, [], 'tests, benchmarks, sources or build trees in the tarball');
  console.log(`# tarball: ${packed.filename}, ${files.length} files, ${(packed.size / 1024).toFixed(0)} KB packed, ${(packed.unpackedSize / 1024).toFixed(0)} KB unpacked`);

  // 2. --ignore-scripts: nothing compiled, the shipped linux-x64 binary must load.
  const a = project('with-prebuild');
  sh('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', tgz], { cwd: a });
  const ra = smoke(a);
  assert.equal(ra.backend, 'native', `prebuild did not load: ${ra.loadError}`);
  console.log('# installed with --ignore-scripts: the linux-x64 prebuild loads (CJS and ESM), lock + writeFileAtomic work');

  // 3. No prebuild for this platform and no working compiler: install still succeeds.
  const unpacked = path.join(work, 'unpacked');
  fs.mkdirSync(unpacked);
  sh('tar', ['xzf', tgz, '-C', unpacked]);
  fs.rmSync(path.join(unpacked, 'package', 'prebuilds'), { recursive: true });
  const bare = path.join(work, 'fslock-no-prebuilds.tgz');
  sh('tar', ['czf', bare, '-C', unpacked, 'package']);
  const b = project('no-compiler');
  const env = { ...process.env, CC: 'false', CXX: 'false', LINK: 'false', npm_config_build_from_source: '' };
  const r = spawnSync('npm', ['install', '--foreground-scripts', '--no-audit', '--no-fund', bare], { cwd: b, env, encoding: 'utf8' });
  assert.equal(r.status, 0, `npm install failed without a compiler:\n${r.stderr}`);
  // The install step tried to compile, failed, and said what happens instead.
  assert.match(r.stdout + r.stderr, /native build failed.*using the pure-JS fallback/);
  const rb = smoke(b);
  assert.equal(rb.backend, 'fallback');
  assert.ok(rb.loadError, 'the reason the binary did not load is not kept');
  console.log(`# installed with no prebuild and no compiler: npm install exit 0, backend fallback (loadError: ${rb.loadError.split('\n')[0].slice(0, 100)})`);
  console.log(`# test:package passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main();
