'use strict';
// Every code block of README.md and of the guides in docs/ (docs/api is generated; its
// staleness is `npm run lint`'s, scripts/docs.js --check), as a reader would use it: extracted into an empty
// directory of a project where fslock is installed (node_modules/fslock -> this
// checkout, so FSLOCK_BACKEND picks the backend), then
//   js    run: as .mjs if it imports, else as .cjs; `console.log(x); // out` lines
//         must print `out` (… matches anything);
//   ts    a program (it imports fslock): compiled by tsc (nodenext, strict) and run;
//         `interface X` blocks: mutually assignable with fslock's own X;
//         signature sketches: every function they name is exported by fslock and
//         every option they list exists in fslock's declarations;
//   diff  the added lines run (the drop-in requires load and are functions);
//   json  parses (a fragment is parsed inside braces); `fslock …` npm scripts use only
//         options that `fslock --help` lists;
//   sh    `npm install fslock` is what this project did, `npm test` / `npm run X` name
//         scripts of package.json, `fslock …` synopses use only options that
//         `fslock --help` lists, `node FILE` runs a file a block of the same page makes.
// A block of any other kind fails: a new block has to be given a check here.
// Besides: the README's quick start followed in order in one directory (its files
// must not overwrite each other, each leaves cache.json for the next), and every
// relative link of these pages (and of docs/api) reaches a file and, with #anchor, a
// heading there; the API reference names its module fslock and lists each member once.
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
    const file = /^\/\/ ([\w.-]+\.[cm]?[jt]s)\b/.exec(code[0] || '')?.[1];
    out.push({ lang: m[2], line: start, heading, file, code: code.join('\n') + '\n' });
    i = end;
  }
  return out;
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fslock-docs-'));
test.after(() => fs.rmSync(work, { recursive: true, force: true }));
fs.mkdirSync(path.join(work, 'node_modules', '@types'), { recursive: true });
fs.symlinkSync(root, path.join(work, 'node_modules', 'fslock'), 'junction');
fs.symlinkSync(
  path.join(root, 'node_modules', '@types', 'node'),
  path.join(work, 'node_modules', '@types', 'node'),
  'junction',
);
fs.writeFileSync(path.join(work, 'package.json'), JSON.stringify({ name: 'docs-test', private: true }));
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

/** The options of the README's tsconfig.json, as tsc flags (and --strict). */
function compile(dir, files, extra = []) {
  tscRun(dir, [
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
  ]);
}

function tscRun(dir, args) {
  const r = spawnSync(process.execPath, [tsc, ...args], { cwd: dir, encoding: 'utf8', timeout: 240_000 });
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
    `import type { ${name} as Real } from 'fslock';\n` +
      // Payload interfaces (docs/diagnostics.md) name the Holder they carry.
      (name !== 'Holder' && /\bHolder\b/.test(code) ? `import type { Holder } from 'fslock';\n` : '') +
      `${code}\n` +
      `declare const real: Real;\ndeclare const readme: ${name};\nexport const a: ${name} = real;\nexport const b: Real = readme;\n`,
  );
  compile(dir, ['iface.mts'], ['--noEmit']);
}

function checkSketch(code) {
  // Function names at the start of a line, and `+ nameSync` mentions.
  const fns = [...code.matchAll(/^(\w+)\(/gm), ...code.matchAll(/\+ (\w+)/g)].map((m) => m[1]);
  for (const f of fns) assert.equal(typeof fslock[f], 'function', `the docs name ${f}(), which fslock does not export`);
  // Options: `key?:`, `key?,`, `key = default` inside braces.
  const keys = [...code.matchAll(/[{,]\s*(\w+)(?:\?|\s*=)/g), ...code.matchAll(/^\s*(\w+)\?:/gm)].map((m) => m[1]);
  for (const k of new Set(keys))
    assert.match(dts, new RegExp(`\\b${k}\\??:`), `the docs list option ${k}, which no declaration has`);
  return { fns, keys };
}

const help = spawnSync(process.execPath, [path.join(root, 'bin', 'fslock.js'), '--help'], {
  encoding: 'utf8',
}).stdout;

/** Options of an `fslock …` command line that `fslock --help` does not list. */
function unknownOptions(line) {
  const bare = line.replace(/'[^']*'/g, "''"); // a quoted shell string is the command's
  const listed = (opt) => new RegExp(`(?:^|[\\s,|(])${opt}(?![\\w-])`, 'm').test(help);
  return (bare.match(/(?<=[\s[|])--?[A-Za-z][\w-]*/g) || []).filter((opt) => !listed(opt));
}

function checkCommandLine(line) {
  assert.deepEqual(unknownOptions(line), [], `fslock --help does not list the options of \`${line}\``);
}

function checkShell(code, page) {
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
      assert.ok(pkg.scripts[script], `the docs run \`${line}\`, but package.json has no "${script}" script`);
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
      checkCommandLine(line);
    } else if (line === 'npm install --save-dev typescript @types/node') {
      // What this project did (the quick start's test uses both from here).
      assert.ok(pkg.devDependencies.typescript && pkg.devDependencies['@types/node']);
    } else if (line === 'npx tsc') {
      assert.ok(
        page.some((b) => b.lang === 'json' && /"compilerOptions"/.test(b.code)),
        '`npx tsc` without a tsconfig.json on the page',
      );
    } else if (/^(NODE_DEBUG=fslock )?node [\w.-]+$/.test(line)) {
      const file = line.slice(line.indexOf('node ') + 'node '.length);
      const made = page.map((b) => b.file && b.file.replace(/\.mts$/, '.mjs').replace(/\.cts$/, '.cjs'));
      assert.ok(made.includes(file), `\`${line}\`: no block of the page makes ${file}`);
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

/** `fslock …` values of an npm "scripts" block: their options are the command's. */
function checkScripts(json) {
  const lines = Object.values(json.scripts || {}).filter((v) => typeof v === 'string' && v.startsWith('fslock '));
  for (const line of lines) checkCommandLine(line);
  return lines;
}

const pages = [
  'README.md',
  ...fs
    .readdirSync(path.join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const byPage = new Map(pages.map((p) => [p, blocks(fs.readFileSync(path.join(root, p), 'utf8'))]));

test('docs: every code block has a kind this test checks', () => {
  const count = [...byPage.values()].reduce((n, b) => n + b.length, 0);
  assert.ok(count >= 15, `only ${count} code blocks found`);
  for (const [page, all] of byPage)
    for (const b of all)
      assert.ok(
        ['js', 'ts', 'sh', 'json', 'diff'].includes(b.lang),
        `${page}:${b.line} (${b.heading}): a \`${b.lang}\` block`,
      );
});

for (const [page, all] of byPage)
  for (const b of all) {
    const name = `${page}:${b.line} ${b.lang} (${b.heading})`;
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
      } else if (b.lang === 'sh') checkShell(b.code, all);
      else if (b.lang === 'json') checkScripts(JSON.parse(b.code.trim().startsWith('{') ? b.code : `{${b.code}}`));
      else if (b.lang === 'diff') runDiff(b.code);
    });
  }

test('README: the quick start, followed in order in one directory', () => {
  const dir = emptyDir();
  const quick = byPage.get('README.md').filter((b) => b.heading === 'Quick start');
  const files = quick.filter((b) => b.file).map((b) => b.file);
  assert.deepEqual(files, ['quickstart.mjs', 'quickstart.cjs', 'quickstart-ts.mts']);
  const written = new Set();
  for (const b of quick) {
    if (b.file) {
      // Neither a block's file nor what tsc makes of it may overwrite an earlier one.
      const out = b.file.replace(/\.mts$/, '.mjs');
      assert.ok(!written.has(b.file) && !written.has(out), `${b.file} overwrites an earlier file`);
      written.add(b.file).add(out);
      fs.writeFileSync(path.join(dir, b.file), b.code);
      if (b.lang === 'js') checkOutput(b.code, node(b.file, dir));
    } else if (b.lang === 'json') {
      fs.writeFileSync(path.join(dir, 'tsconfig.json'), b.code);
    } else if (b.lang === 'sh') {
      for (const line of b.code.trim().split('\n')) {
        if (line === 'npx tsc') tscRun(dir, ['-p', '.']);
        else if (line.startsWith('node ')) {
          const file = line.slice('node '.length);
          const src = quick.find((q) => q.file && q.file.replace(/\.mts$/, '.mjs') === file);
          checkOutput(src.code, node(file, dir));
        } else assert.match(line, /^npm install /); // done: this project has both
      }
    }
  }
  // Each program counted one hit (the ES module twice: by hand, then with update()).
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'cache.json'), 'utf8')), { hits: 4 });
});

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes. */
function slug(heading) {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchors(file) {
  const seen = new Map();
  const out = new Set();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    for (const [, id] of line.matchAll(/<a id="([^"]+)"><\/a>/g)) out.add(id); // typedoc's anchors
    const m = /^#+ (.*)$/.exec(line);
    if (!m) continue;
    const base = slug(m[1]);
    const n = seen.get(base) || 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

const apiPages = fs
  .readdirSync(path.join(root, 'docs', 'api'), { recursive: true })
  .filter((f) => f.endsWith('.md'))
  .map((f) => `docs/api/${f}`);

test('docs: every relative link reaches a file, and its #anchor a heading there', () => {
  let checked = 0;
  for (const page of [...pages, ...apiPages]) {
    const text = fs.readFileSync(path.join(root, page), 'utf8').replace(/```[\s\S]*?```/g, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
      const [file, anchor] = target.split('#');
      const abs = file ? path.join(root, path.dirname(page), file) : path.join(root, page);
      assert.ok(fs.existsSync(abs), `${page}: link to ${target}: no such file`);
      if (anchor) assert.ok(anchors(abs).has(anchor), `${page}: link to ${target}: no such heading`);
      checked++;
    }
  }
  assert.ok(checked > 50, `only ${checked} links checked`);
});

test('API reference: the module is fslock, and no page lists a member twice', () => {
  const landing = fs.readFileSync(path.join(root, 'docs', 'api', 'README.md'), 'utf8');
  assert.match(landing, /^- \[fslock\]\(fslock\/README\.md\)$/m);
  assert.ok(apiPages.length > 40, `only ${apiPages.length} pages in docs/api`);
  for (const page of apiPages) {
    const text = fs.readFileSync(path.join(root, page), 'utf8');
    const members = [...text.matchAll(/^#{2,3} (.+)$/gm)].map((m) => m[1]).filter((h) => /\(\)$/.test(h));
    assert.deepEqual(members, [...new Set(members)], `${page} lists a member twice`);
    // One call signature per function or method, unless it really is overloaded.
    for (const sig of new Set(text.match(/^```ts\n[^\n]+\n```$/gm) || []))
      assert.equal(text.split(sig).length - 1, 1, `${page}: the same signature twice:\n${sig}`);
  }
});
