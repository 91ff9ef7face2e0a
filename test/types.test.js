'use strict';
// The types users get, for every entry point and import form, with TypeScript 5.x
// (`typescript`) and the current major (`typescript-next`, an npm alias of the newest
// `typescript`): test/types/* compiled against the package as installed
// (node_modules/fslock -> this checkout), always with skipLibCheck false, so an error
// inside fslock's own declarations fails:
//   - nodenext (ESM, CJS with esModuleInterop, checkJs on plain require()) and bundler
//     resolution, with both majors; CJS without esModuleInterop and node10 resolution
//     with 5.x only (TypeScript 6 deprecates both, 7 no longer has them);
//   - a project as `tsc --init` of the current major writes it ("types": [],
//     "target": "esnext", strictest flags): fslock's declarations stand alone there;
//   - the README's quick start with the README's tsconfig.json, run on this Node
//     (`await using` compiled down), and `"target": "esnext"`, which leaves `await
//     using` as it is: Node before 24 rejects it, as the README says.
// Each file holds @ts-expect-error lines (an unused one fails tsc, so types that went
// `any` fail too), and what nodenext emits is run: the forms that type-check must work.
// Then the packed tarball through @arethetypeswrong/cli and publint.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const compilers = ['typescript', 'typescript-next'].map((pkg) => {
  const dir = path.dirname(require.resolve(`${pkg}/package.json`, { paths: [root] }));
  const { version } = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  return { pkg, version, major: Number(version.split('.')[0]), bin: path.join(dir, 'bin', 'tsc') };
});
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

const COMMON = {
  strict: true,
  skipLibCheck: false,
  types: ['node'],
  lib: ['es2022', 'esnext.disposable'],
  target: 'es2022',
};

/** Compiles `files` as a project with these options (a tsconfig.json, as users have). */
function compile(ts, name, compilerOptions, files, dir = work) {
  const config = path.join(dir, `tsconfig.${name}.${ts.major}.json`);
  fs.writeFileSync(config, JSON.stringify({ compilerOptions, files }, null, 2));
  const r = spawnSync(process.execPath, [ts.bin, '-p', config], { cwd: dir, encoding: 'utf8', timeout: 240_000 });
  assert.equal(r.status, 0, `${ts.pkg} ${ts.version}, ${name}:\n${r.stdout}${r.stderr}`);
  return r;
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

/** The README's code blocks of one section (test/docs.test.js runs them all). */
function readmeBlocks(heading) {
  const md = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const section = md.split(/^## /m).find((s) => s.startsWith(`${heading}\n`));
  return [...section.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1], code: m[2] }));
}

test('the compilers: TypeScript 5.x and the current major', () => {
  assert.equal(compilers[0].major, 5);
  assert.ok(compilers[1].major >= 7, `typescript-next is ${compilers[1].version}`);
});

for (const ts of compilers) {
  const tag = `TypeScript ${ts.version}`;

  test(`${tag}, nodenext with esModuleInterop: ESM default + named, import = require(), default imports in CJS, checkJs require()`, () => {
    const out = path.join(work, `out-interop-${ts.major}`);
    const options = { module: 'nodenext', moduleResolution: 'nodenext', esModuleInterop: true };
    compile(ts, 'interop', { ...COMMON, ...options, allowJs: true, checkJs: true, outDir: out }, [
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

  test(`${tag}, bundler resolution (module preserve and esnext): default and named imports`, () => {
    compile(ts, 'preserve', { ...COMMON, noEmit: true, module: 'preserve', moduleResolution: 'bundler' }, [
      'default-import.ts',
      'esm.mts',
    ]);
    compile(ts, 'esnext', { ...COMMON, noEmit: true, module: 'esnext', moduleResolution: 'bundler' }, [
      'default-import.ts',
    ]);
  });

  test(`${tag}, "types": [] and skipLibCheck false: fslock's declarations bring Node's types themselves`, () => {
    // esm.mts names Buffer itself; it type-checks because fslock's declarations
    // reference @types/node, as they must for their own Buffer, AbortSignal and URL.
    const options = { module: 'nodenext', moduleResolution: 'nodenext', noEmit: true };
    compile(ts, 'no-types', { ...COMMON, ...options, types: [] }, ['esm.mts', 'default-import.ts']);
  });

  test(`${tag}: the README's TypeScript quick start with its tsconfig.json compiles, and runs on this Node`, () => {
    const blocks = readmeBlocks('Quick start');
    const program = blocks.find((b) => b.lang === 'ts');
    const tsconfig = JSON.parse(blocks.find((b) => b.lang === 'json').code);
    const dir = fs.mkdtempSync(path.join(work, 'readme-'));
    fs.writeFileSync(path.join(dir, 'quickstart-ts.mts'), program.code);
    compile(ts, 'readme', { ...tsconfig.compilerOptions, skipLibCheck: false }, ['quickstart-ts.mts'], dir);
    const emitted = fs.readFileSync(path.join(dir, 'quickstart-ts.mjs'), 'utf8');
    assert.doesNotMatch(emitted, /await using/, 'target es2022 compiles `await using` down');
    const r = spawnSync(process.execPath, ['quickstart-ts.mjs'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /cache\.json\.lock false\n$/);
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'cache.json'), 'utf8')), { hits: 1 });

    // "target": "esnext" keeps `await using` as written: Node 24 runs it, 20 and 22 do not parse it.
    const esnext = path.join(dir, 'esnext');
    compile(
      ts,
      'readme-esnext',
      { ...tsconfig.compilerOptions, target: 'esnext', lib: ['esnext'], outDir: esnext },
      ['quickstart-ts.mts'],
      dir,
    );
    assert.match(fs.readFileSync(path.join(esnext, 'quickstart-ts.mjs'), 'utf8'), /await using held/);
    const e = spawnSync(process.execPath, [path.join(esnext, 'quickstart-ts.mjs')], { cwd: dir, encoding: 'utf8' });
    if (Number(process.versions.node.split('.')[0]) < 24) {
      assert.notEqual(e.status, 0);
      assert.match(e.stderr, /SyntaxError/);
    } else assert.equal(e.status, 0, e.stderr);
  });
}

test(`TypeScript ${compilers[1].version}: a project as its tsc --init writes it type-checks the README's quick start and every import form`, () => {
  const ts = compilers[1];
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
  for (const f of ['esm.mts', 'default-import.ts']) fs.copyFileSync(path.join(work, f), path.join(dir, f));
  fs.symlinkSync(path.join(work, 'node_modules'), path.join(dir, 'node_modules'), 'junction');
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'init', private: true, type: 'module' }));
  compile(ts, 'init', { ...compilerOptions, skipLibCheck: false, noEmit: true }, ['quickstart-ts.mts', 'esm.mts'], dir);
});

test('TypeScript 5.x, nodenext without esModuleInterop: the same files type-check and the CJS output runs', () => {
  const ts = compilers[0];
  const out = path.join(work, 'out-plain');
  const options = { module: 'nodenext', moduleResolution: 'nodenext', esModuleInterop: false, outDir: out };
  compile(ts, 'plain', { ...COMMON, ...options }, ['esm.mts', 'cjs.cts', 'interop.cts']);
  assert.equal(run('interop.cjs', out), 'interop false');
  assert.equal(run('cjs.cjs', out), `cjs ${require('fslock').backend}`);
});

test('TypeScript 5.x, node10 resolution (moduleResolution node, no exports map): the subpaths resolve through typesVersions', () => {
  const options = { noEmit: true, module: 'commonjs', moduleResolution: 'node', esModuleInterop: true };
  compile(compilers[0], 'node10', { ...COMMON, ...options }, ['cjs.cts', 'interop.cts']);
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
