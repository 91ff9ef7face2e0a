#!/usr/bin/env node
// npm run lint: ESLint, Prettier (--check) and clang-format (--dry-run -Werror) over the
// sources; `--fix` applies Prettier and clang-format and ESLint's fixes instead.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const fix = process.argv.includes('--fix');
const bin = (pkg, file) => path.join(root, 'node_modules', pkg, file);
const cpp = fs
  .readdirSync(path.join(root, 'native'))
  .filter((f) => /\.(cc|h)$/.test(f))
  .map((f) => path.join('native', f));

const steps = [
  ['eslint', [bin('eslint', 'bin/eslint.js'), '.', ...(fix ? ['--fix'] : [])]],
  [
    'prettier',
    [
      bin('prettier', 'bin/prettier.cjs'),
      fix ? '--write' : '--check',
      '--log-level',
      'warn',
      'lib',
      'scripts',
      'test',
      'bench',
      'examples',
      'bin',
      '*.mjs',
    ],
  ],
  ['clang-format', [bin('clang-format', 'index.js'), ...(fix ? ['-i'] : ['--dry-run', '-Werror']), ...cpp]],
];
let failed = false;
for (const [name, args] of steps) {
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    failed = true;
    console.error(`lint: ${name} failed`);
  }
}
process.exit(failed ? 1 : 0);
