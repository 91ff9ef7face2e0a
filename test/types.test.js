'use strict';
// The types users get, for every entry point and import form: test/types/* compiled by
// tsc against the package as installed (node_modules/fslock -> this checkout) under
// nodenext (ESM, CJS with and without esModuleInterop, checkJs on plain require()),
// bundler and node10 resolution. Each file holds @ts-expect-error lines (an unused one
// fails tsc, so types that went `any` fail too), and what nodenext emits is run: the
// forms that type-check must work. Then the packed tarball through
// @arethetypeswrong/cli and publint.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fslock-types-'));
test.after(() => fs.rmSync(work, { recursive: true, force: true }));

fs.mkdirSync(path.join(work, 'node_modules', '@types'), { recursive: true });
fs.symlinkSync(root, path.join(work, 'node_modules', 'fslock'), 'junction');
fs.symlinkSync(
  path.join(root, 'node_modules', '@types', 'node'),
  path.join(work, 'node_modules', '@types', 'node'),
  'junction',
);
fs.writeFileSync(path.join(work, 'package.json'), JSON.stringify({ name: 'types-test', private: true }));
for (const f of fs.readdirSync(path.join(__dirname, 'types')))
  fs.copyFileSync(path.join(__dirname, 'types', f), path.join(work, f));

const COMMON = [
  '--strict',
  '--skipLibCheck',
  'false',
  '--types',
  'node',
  '--lib',
  'es2022,esnext.disposable',
  '--target',
  'es2022',
];

function tsc_(args) {
  const r = spawnSync(process.execPath, [tsc, ...COMMON, ...args], { cwd: work, encoding: 'utf8', timeout: 240_000 });
  assert.equal(r.status, 0, `tsc ${args.join(' ')}\n${r.stdout}${r.stderr}`);
}

function run(file, dir) {
  const data = fs.mkdtempSync(path.join(work, 'run-'));
  fs.writeFileSync(path.join(data, 'file'), 'the file proper-lockfile locks');
  const url = require('node:url').pathToFileURL(path.join(dir, file)).href;
  const code = `import(${JSON.stringify(url)}).then((m) => m.main()).then((s) => process.stdout.write(String(s)))`;
  const r = spawnSync(process.execPath, ['-e', code], { cwd: data, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${file}: ${r.stderr}`);
  return r.stdout;
}

test('nodenext, esModuleInterop: ESM default + named, import = require(), default imports in CJS, checkJs require()', () => {
  const out = path.join(work, 'out-interop');
  tsc_([
    '--module',
    'nodenext',
    '--moduleResolution',
    'nodenext',
    '--esModuleInterop',
    '--allowJs',
    '--checkJs',
    '--outDir',
    out,
    'esm.mts',
    'cjs.cts',
    'interop.cts',
    'require.cjs',
  ]);
  assert.equal(run('esm.mjs', out), `esm ${require('fslock').backend} 42 false false`);
  assert.equal(run('cjs.cjs', out), `cjs ${require('fslock').backend}`);
  assert.equal(run('interop.cjs', out), 'interop false');
  assert.equal(run('require.cjs', out), 'require true');
});

test('nodenext without esModuleInterop: the same files type-check and the CJS output runs', () => {
  const out = path.join(work, 'out-plain');
  tsc_([
    '--module',
    'nodenext',
    '--moduleResolution',
    'nodenext',
    '--esModuleInterop',
    'false',
    '--outDir',
    out,
    'esm.mts',
    'cjs.cts',
    'interop.cts',
  ]);
  assert.equal(run('interop.cjs', out), 'interop false');
  assert.equal(run('cjs.cjs', out), `cjs ${require('fslock').backend}`);
});

test('bundler resolution (module preserve and esnext): default and named imports', () => {
  tsc_(['--noEmit', '--module', 'preserve', '--moduleResolution', 'bundler', 'default-import.ts', 'esm.mts']);
  tsc_(['--noEmit', '--module', 'esnext', '--moduleResolution', 'bundler', 'default-import.ts']);
});

test('node10 resolution (moduleResolution node, no exports map): the subpaths resolve through typesVersions', () => {
  tsc_([
    '--noEmit',
    '--module',
    'commonjs',
    '--moduleResolution',
    'node',
    '--esModuleInterop',
    'cjs.cts',
    'interop.cts',
  ]);
});

test('the packed tarball: @arethetypeswrong/cli finds no problem, publint (strict) no error or warning', () => {
  const bin = (pkg, file) => path.join(root, 'node_modules', pkg, file);
  // --ignore-scripts: the JS, types and metadata as published, without building the prebuilds.
  const r = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const tgz = path.join(work, JSON.parse(r.stdout)[0].filename);
  const attw = spawnSync(process.execPath, [bin('@arethetypeswrong/cli', 'dist/index.js'), tgz, '--format', 'ascii'], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(attw.status, 0, `attw:\n${attw.stdout}${attw.stderr}`);
  assert.match(attw.stdout, /No problems found/);
  const unpacked = path.join(work, 'unpacked');
  fs.mkdirSync(unpacked);
  assert.equal(spawnSync('tar', ['xzf', tgz, '-C', unpacked]).status, 0);
  const pl = spawnSync(
    process.execPath,
    [bin('publint', 'src/cli.js'), path.join(unpacked, 'package'), '--strict', '--pack', 'false'],
    { encoding: 'utf8', timeout: 120_000 },
  );
  assert.equal(pl.status, 0, `publint:\n${pl.stdout}${pl.stderr}`);
  assert.doesNotMatch(pl.stdout, /Errors:|Warnings:/, pl.stdout);
});
