#!/usr/bin/env node
// `npm run docs`: the API reference in docs/api, Markdown generated from the TSDoc
// comments of the entry points (typedoc + typedoc-plugin-markdown, typedoc.json).
// `--check` (part of `npm run lint`, so CI runs it) generates it into a scratch
// directory and fails, naming the files, when docs/api differs: a TSDoc comment or an
// exported type changed without `npm run docs`.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const committed = path.join(root, 'docs', 'api');
const check = process.argv.includes('--check');
const out = check ? fs.mkdtempSync(path.join(os.tmpdir(), 'fslock-api-')) : committed;

const r = spawnSync(
  process.execPath,
  [path.join(root, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--out', out, '--logLevel', 'Warn'],
  { cwd: root, stdio: 'inherit' },
);
if (r.status !== 0) process.exit(r.status ?? 1);
if (!check) process.exit(0);

const list = (dir) =>
  fs.existsSync(dir)
    ? fs
        .readdirSync(dir, { recursive: true })
        .filter((f) => fs.statSync(path.join(dir, f)).isFile())
        .sort()
    : [];
const fresh = list(out);
const stale = [...new Set([...fresh, ...list(committed)])].filter((f) => {
  const a = path.join(out, f);
  const b = path.join(committed, f);
  return !fs.existsSync(a) || !fs.existsSync(b) || !fs.readFileSync(a).equals(fs.readFileSync(b));
});
fs.rmSync(out, { recursive: true, force: true });
if (stale.length) {
  console.error(
    `docs/api is stale (run \`npm run docs\` and commit it): ${stale.map((f) => `docs/api/${f}`).join(', ')}`,
  );
  process.exit(1);
}
console.log(`docs/api is current (${fresh.length} pages)`);
