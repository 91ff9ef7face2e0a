'use strict';
// Every code block of README.md, as a reader would use it: extracted into an empty
// directory of a project where fslock is installed (node_modules/fslock -> this
// checkout, so FSLOCK_BACKEND picks the backend), then
//   js    run: as .mjs if it imports, else as .cjs; `console.log(x); // out` lines
//         must print `out` (… matches anything);
//   ts    a program (it imports fslock): compiled by tsc (nodenext, strict) and run;
//         `interface X` blocks: mutually assignable with fslock's own X;
//         signature sketches: every function they name is exported by fslock and
//         every option they list exists in fslock's declarations;
//   diff  the added lines run (the drop-in requires load and are functions);
//   json  parses (a fragment is parsed inside braces);
//   sh    `npm install fslock` is what this project did, `npm test` / `npm run X` name
//         scripts of package.json, and `fslock …` synopses use only options that
//         `fslock --help` lists.
// A block of any other kind fails: a new block has to be given a check here.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const gluster = require('../scripts/gluster');

const root = path.join(__dirname, '..');
const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

function blocks(markdown) {
  const out = [];
  let heading = '';
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (/^#+ /.test(lines[i])) heading = lines[i].replace(/^#+ /, '');
    // Fences inside list items are indented: the block's lines lose that indent.
    const m = /^( *)```(\w*)/.exec(lines[i]);
    if (!m) continue;
    const start = i + 1;
    let end = start;
    while (!lines[end].trimStart().startsWith('```')) end++;
    const code = lines.slice(start, end).map((l) => l.slice(m[1].length));
    out.push({ lang: m[2], line: start, heading, code: code.join('\n') + '\n' });
    i = end;
  }
  return out;
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fslock-readme-'));
test.after(() => fs.rmSync(work, { recursive: true, force: true }));
fs.mkdirSync(path.join(work, 'node_modules', '@types'), { recursive: true });
fs.symlinkSync(root, path.join(work, 'node_modules', 'fslock'), 'junction');
fs.symlinkSync(
  path.join(root, 'node_modules', '@types', 'node'),
  path.join(work, 'node_modules', '@types', 'node'),
  'junction',
);
fs.writeFileSync(path.join(work, 'package.json'), JSON.stringify({ name: 'readme-test', private: true }));
const dts = fs
  .readdirSync(path.join(root, 'dist', 'cjs'), { recursive: true })
  .filter((f) => f.endsWith('.d.ts'))
  .map((f) => fs.readFileSync(path.join(root, 'dist', 'cjs', f), 'utf8'))
  .join('\n');
const fslock = require('fslock');

let seq = 0;
function emptyDir() {
  const dir = path.join(work, `block-${seq++}`);
  fs.mkdirSync(dir);
  return dir;
}

function node(file, cwd) {
  const r = spawnSync(process.execPath, [file], { cwd, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${file} failed:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** `console.log(...); // expected` lines: their output, in order (… is a wildcard). */
function checkOutput(code, stdout) {
  const expected = [...code.matchAll(/console\.log\(.*\);\s*\/\/\s*(.+)$/gm)].map((m) => m[1].trim());
  const lines = stdout.trimEnd() ? stdout.trimEnd().split('\n') : [];
  assert.equal(lines.length, expected.length, `expected ${expected.length} lines of output, got:\n${stdout}`);
  expected.forEach((e, i) => {
    const re = new RegExp(
      `^${e
        .split('…')
        .map((x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
    );
    assert.match(lines[i], re);
  });
}

function runJs(code) {
  const dir = emptyDir();
  const esm = /^\s*import\s.+from\s|^\s*export\s/m.test(code);
  const file = path.join(dir, esm ? 'snippet.mjs' : 'snippet.cjs');
  fs.writeFileSync(file, code);
  checkOutput(code, node(file, dir));
}

function compile(dir, files, extra = []) {
  const r = spawnSync(
    process.execPath,
    [
      tsc,
      '--strict',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--lib',
      'es2022,esnext.disposable',
      '--types',
      'node',
      ...extra,
      ...files,
    ],
    { cwd: dir, encoding: 'utf8', timeout: 240_000 },
  );
  assert.equal(r.status, 0, `tsc:\n${r.stdout}${r.stderr}`);
}

function runTsProgram(code) {
  const dir = emptyDir();
  fs.writeFileSync(path.join(dir, 'snippet.mts'), code);
  compile(dir, ['snippet.mts']); // downlevels `await using`: runs on Node 20 too
  checkOutput(code, node(path.join(dir, 'snippet.mjs'), dir));
}

function checkInterface(code) {
  const name = /interface (\w+)/.exec(code)[1];
  const dir = emptyDir();
  fs.writeFileSync(
    path.join(dir, 'iface.mts'),
    `import type { ${name} as Real } from 'fslock';\n${code}\n` +
      `declare const real: Real;\ndeclare const readme: ${name};\nexport const a: ${name} = real;\nexport const b: Real = readme;\n`,
  );
  compile(dir, ['iface.mts'], ['--noEmit']);
}

function checkSketch(code) {
  // Function names at the start of a line, and `+ nameSync` mentions.
  const fns = [...code.matchAll(/^(\w+)\(/gm), ...code.matchAll(/\+ (\w+)/g)].map((m) => m[1]);
  for (const f of fns)
    assert.equal(typeof fslock[f], 'function', `the README names ${f}(), which fslock does not export`);
  // Options: `key?:`, `key?,`, `key = default` inside braces.
  const keys = [...code.matchAll(/[{,]\s*(\w+)(?:\?|\s*=)/g), ...code.matchAll(/^\s*(\w+)\?:/gm)].map((m) => m[1]);
  for (const k of new Set(keys))
    assert.match(dts, new RegExp(`\\b${k}\\??:`), `the README lists option ${k}, which no declaration has`);
  return { fns, keys };
}

function checkShell(code) {
  for (const line of code
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter(Boolean)) {
    if (line === 'npm install fslock') {
      // What this project did: the package resolves from an empty directory in it.
      assert.equal(
        require.resolve('fslock', { paths: [emptyDir()] }),
        require.resolve(path.join(root, 'dist', 'cjs', 'index.js')),
      );
    } else if (line === 'npm install') {
      // In the checkout: nothing to check beyond the scripts it runs.
      assert.ok(pkg.scripts.install && pkg.scripts.prepare);
    } else if (/^npm (test|run \S+)/.test(line)) {
      const script = line.startsWith('npm test') ? 'test' : line.split(/\s+/)[2];
      assert.ok(pkg.scripts[script], `the README runs \`${line}\`, but package.json has no "${script}" script`);
    } else if (/^for o in [\w -]+; do$/.test(line)) {
      // GlusterFS client caching off: the options the suite's coherent volume sets.
      const names = line.slice('for o in '.length, -'; do'.length).split(' ');
      assert.deepEqual(
        names.map((n) => `performance.${n}`),
        gluster.COHERENT_OPTIONS,
        'README and scripts/gluster.js turn off the same options',
      );
    } else if (line === 'gluster volume set VOLUME performance.$o off' || line === 'done') {
      // The loop's body and end (above).
    } else if (line.startsWith('mount -t glusterfs ')) {
      assert.equal(/-o (\S+)/.exec(line)?.[1], gluster.COHERENT_MOUNT, 'README and scripts/gluster.js mount alike');
    } else if (line.startsWith('fslock ')) {
      const help = spawnSync(process.execPath, [path.join(root, 'bin', 'fslock.js'), '--help'], {
        encoding: 'utf8',
      }).stdout;
      for (const opt of line.match(/--?[A-Za-z][\w-]*/g) || [])
        assert.ok(help.includes(opt), `fslock --help does not list ${opt}`);
    } else {
      assert.fail(`no check for the shell line \`${line}\``);
    }
  }
}

function runDiff(code) {
  const added = code
    .split('\n')
    .filter((l) => l.startsWith('+'))
    .map((l) => l.slice(1));
  const dir = emptyDir();
  const names = added.map((l) => /const (\w+) =/.exec(l)[1]);
  fs.writeFileSync(
    path.join(dir, 'diff.cjs'),
    `${added.join('\n')}\nconsole.log([${names.map((n) => `typeof ${n}`).join(', ')}].join(' '));\n`,
  );
  assert.equal(node(path.join(dir, 'diff.cjs'), dir).trim(), names.map(() => 'function').join(' '));
}

const all = blocks(fs.readFileSync(path.join(root, 'README.md'), 'utf8'));

test('README: every code block has a kind this test checks', () => {
  assert.ok(all.length >= 10, `only ${all.length} code blocks found`);
  for (const b of all)
    assert.ok(
      ['js', 'ts', 'sh', 'json', 'diff'].includes(b.lang),
      `README.md:${b.line} (${b.heading}): a \`${b.lang}\` block`,
    );
});

for (const b of all) {
  const name = `README.md:${b.line} ${b.lang} (${b.heading})`;
  test(name, () => {
    if (b.lang === 'js') runJs(b.code);
    else if (b.lang === 'ts' && /from 'fslock/.test(b.code)) runTsProgram(b.code);
    else if (b.lang === 'ts' && /^\s*interface \w+/m.test(b.code)) checkInterface(b.code);
    else if (b.lang === 'ts') {
      const { fns, keys } = checkSketch(b.code);
      assert.ok(
        fns.length + keys.length > 0,
        'a ts block that is neither a program, an interface nor a signature sketch',
      );
    } else if (b.lang === 'sh') checkShell(b.code);
    else if (b.lang === 'json') JSON.parse(b.code.trim().startsWith('{') ? b.code : `{${b.code}}`);
    else if (b.lang === 'diff') runDiff(b.code);
  });
}
