'use strict';
// The types users get with the current TypeScript major (`typescript-next`, an npm alias
// of the newest `typescript`; 5.x: test/types.test.js), as test/types-helpers.js sets
// them up (skipLibCheck false, "types": []): every import form under nodenext and
// bundler resolution; a project exactly as its `tsc --init` writes it ("types": [],
// "target": "esnext", the strictest flags); the README's quick start with the README's
// tsconfig.json, run on this Node, and with "target": "esnext", which leaves `await
// using` as written: Node before 24 rejects it, as the README says.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { work, compiler, COMMON, compile, readmeBlocks, readmeQuickStart, interop } = require('./types-helpers');

const ts = compiler('typescript-next');

test(`TypeScript ${ts.version} (the current major, 7 or newer)`, () =>
  assert.ok(ts.major >= 7, `typescript-next is ${ts.version}`));

test(`TypeScript ${ts.version}, nodenext with esModuleInterop, "types": []: ESM default + named, import = require(), default imports in CJS, checkJs require()`, () =>
  interop(ts));

test(`TypeScript ${ts.version}, bundler resolution (module preserve and esnext): default and named imports`, () => {
  compile(ts, 'preserve', { ...COMMON, noEmit: true, module: 'preserve', moduleResolution: 'bundler' }, [
    'default-import.ts',
    'esm.mts',
  ]);
  compile(ts, 'esnext', { ...COMMON, noEmit: true, module: 'esnext', moduleResolution: 'bundler' }, [
    'default-import.ts',
  ]);
});

test(`TypeScript ${ts.version}: the README's quick start runs on this Node with its tsconfig.json, and with "target": "esnext" only from Node 24`, () => {
  const { dir, tsconfig } = readmeQuickStart(ts);
  // "target": "esnext" keeps `await using` as written: Node 24 runs it, 20 and 22 do not parse it.
  const esnext = path.join(dir, 'esnext');
  const options = { ...tsconfig.compilerOptions, target: 'esnext', lib: ['esnext'], outDir: esnext };
  compile(ts, 'readme-esnext', options, ['quickstart-ts.mts'], dir);
  assert.match(fs.readFileSync(path.join(esnext, 'quickstart-ts.mjs'), 'utf8'), /await using held/);
  const e = spawnSync(process.execPath, [path.join(esnext, 'quickstart-ts.mjs')], { cwd: dir, encoding: 'utf8' });
  if (Number(process.versions.node.split('.')[0]) < 24) {
    assert.notEqual(e.status, 0);
    assert.match(e.stderr, /SyntaxError/);
  } else assert.equal(e.status, 0, e.stderr);
});

test(`TypeScript ${ts.version}: a project as its tsc --init writes it type-checks the README's quick start and the ESM import forms`, () => {
  const dir = fs.mkdtempSync(path.join(work, 'init-'));
  const init = spawnSync(process.execPath, [ts.bin, '--init'], { cwd: dir, encoding: 'utf8' });
  assert.equal(init.status, 0, init.stdout + init.stderr);
  // tsconfig.json is JSON with comments.
  const text = fs
    .readFileSync(path.join(dir, 'tsconfig.json'), 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '')
    .replace(/,(\s*[}\]])/g, '$1');
  const { compilerOptions } = JSON.parse(text);
  assert.deepEqual(compilerOptions.types, [], 'tsc --init writes "types": []');
  fs.writeFileSync(path.join(dir, 'quickstart-ts.mts'), readmeBlocks('Quick start').find((b) => b.lang === 'ts').code);
  fs.copyFileSync(path.join(work, 'esm.mts'), path.join(dir, 'esm.mts'));
  fs.symlinkSync(path.join(work, 'node_modules'), path.join(dir, 'node_modules'), 'junction');
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'init', private: true, type: 'module' }));
  const options = { ...compilerOptions, skipLibCheck: false, noEmit: true };
  compile(ts, 'init', options, ['quickstart-ts.mts', 'esm.mts'], dir);
});
