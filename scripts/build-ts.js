#!/usr/bin/env node
// Compiles lib/ to dist/cjs with tsc and writes the ESM entry points as thin
// re-exports of the CommonJS build (one module instance, one binding load).
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json')], { stdio: ['ignore', 2, 2], cwd: root }); // stdout stays clean under `npm pack --json`

// Entry points: [esm file name, cjs module it re-exports].
const entries = [['index', 'index']];
for (const extra of ['proper-lockfile', 'write-file-atomic']) {
  if (fs.existsSync(path.join(root, 'dist', 'cjs', `${extra}.js`))) entries.push([extra, extra]);
}
const esm = path.join(root, 'dist', 'esm');
fs.mkdirSync(esm, { recursive: true });
for (const [name, cjs] of entries) {
  // Export names are read from the source's `export` declarations, not by loading the
  // module (loading would load the binding at build time).
  const names = exportedNames(path.join(root, 'dist', 'cjs', `${cjs}.d.ts`));
  const lines = [
    `import cjs from '../cjs/${cjs}.js';`,
    `export const { ${names.join(', ')} } = cjs;`,
    'export default cjs;',
    '',
  ];
  fs.writeFileSync(path.join(esm, `${name}.mjs`), lines.join('\n'));
  fs.writeFileSync(path.join(esm, `${name}.d.mts`), `export * from '../cjs/${cjs}.js';\nimport cjs = require('../cjs/${cjs}.js');\nexport default cjs;\n`);
}

function exportedNames(dts) {
  const src = fs.readFileSync(dts, 'utf8');
  const names = new Set();
  for (const m of src.matchAll(/export declare (?:const|function|class|let|var) (\w+)/g)) names.add(m[1]);
  for (const m of src.matchAll(/export \{([^}]*)\}/g)) {
    for (const part of m[1].split(',')) {
      const t = part.trim();
      if (!t || t.startsWith('type ')) continue;
      const alias = t.split(/\s+as\s+/).pop().trim();
      if (alias) names.add(alias);
    }
  }
  // Type-only names (interfaces, types) have no runtime value.
  for (const m of src.matchAll(/export (?:declare )?(?:interface|type) (\w+)/g)) names.delete(m[1]);
  return [...names].filter((n) => n !== 'default');
}
