'use strict';
// What test/types.test.js (TypeScript 5.x) and test/types-next.test.js (the current
// major) share: a project directory where fslock is installed (node_modules/fslock ->
// this checkout) holding test/types/*, and compiling, running and reading the README.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..');
/** A TypeScript installed under `pkg` (typescript, or the alias typescript-next). */
function compiler(pkg) {
  const dir = path.dirname(require.resolve(`${pkg}/package.json`, { paths: [root] }));
  const { version } = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  return { pkg, version, major: Number(version.split('.')[0]), bin: path.join(dir, 'bin', 'tsc') };
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fslock-types-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));

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

/** The README's quick start compiled with the README's tsconfig.json: it runs on this Node. */
function readmeQuickStart(ts) {
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
  return { dir, tsconfig };
}

/** nodenext with esModuleInterop: every import form type-checks, and what tsc emits runs. */
function interop(ts) {
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
}

module.exports = { root, work, compiler, COMMON, compile, run, readmeBlocks, readmeQuickStart, interop };
