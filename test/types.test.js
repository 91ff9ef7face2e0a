'use strict';
// The types users get with TypeScript 5.x, for every entry point and import form:
// test/types/* compiled against the package as installed (test/types-helpers.js), with
// skipLibCheck false and "types": [] (fslock's declarations bring Node's types
// themselves), under nodenext (ESM, CJS with and without esModuleInterop, checkJs on
// plain require()), bundler and node10 resolution; the README's quick start with the
// README's tsconfig.json, run on this Node. Each file holds @ts-expect-error lines (an
// unused one fails tsc, so types that went `any` fail too), and what nodenext emits is
// run: the forms that type-check must work. Then the packed tarball through
// @arethetypeswrong/cli and publint. The current major: test/types-next.test.js.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { root, work, compiler, COMMON, compile, run, readmeQuickStart, interop } = require('./types-helpers');

const ts = compiler('typescript');

test(`TypeScript ${ts.version} (5.x)`, () => assert.equal(ts.major, 5));

test(`TypeScript ${ts.version}, nodenext with esModuleInterop, "types": []: ESM default + named, import = require(), default imports in CJS, checkJs require()`, () =>
  interop(ts));

test(`TypeScript ${ts.version}, nodenext without esModuleInterop: the same files type-check and the CJS output runs`, () => {
  const out = path.join(work, 'out-plain');
  const options = { module: 'nodenext', moduleResolution: 'nodenext', esModuleInterop: false, outDir: out };
  compile(ts, 'plain', { ...COMMON, ...options }, ['esm.mts', 'cjs.cts', 'interop.cts']);
  assert.equal(run('interop.cjs', out), 'interop false');
  assert.equal(run('cjs.cjs', out), `cjs ${require('fslock').backend}`);
});

test(`TypeScript ${ts.version}, bundler resolution (module preserve): default and named imports`, () => {
  compile(ts, 'preserve', { ...COMMON, noEmit: true, module: 'preserve', moduleResolution: 'bundler' }, [
    'default-import.ts',
    'esm.mts',
  ]);
});

test(`TypeScript ${ts.version}, node10 resolution (moduleResolution node, no exports map): the subpaths resolve through typesVersions`, () => {
  // TypeScript 6 deprecates node10 resolution and esModuleInterop false; 7 removed both.
  const options = { noEmit: true, module: 'commonjs', moduleResolution: 'node', esModuleInterop: true };
  compile(ts, 'node10', { ...COMMON, ...options }, ['cjs.cts', 'interop.cts']);
});

test(`TypeScript ${ts.version}: the README's TypeScript quick start with its tsconfig.json compiles, and runs on this Node`, () => {
  readmeQuickStart(ts);
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
