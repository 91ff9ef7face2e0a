#!/usr/bin/env node
// The package's install step. It never fails the install unless asked to build:
//   1. a prebuilt binary for this platform (prebuilds/<platform>-<arch>, picked the way
//      node-gyp-build picks it at run time: platform, arch, libc) that really loads
//      here, or an earlier build: done, nothing compiled;
//   2. otherwise compile with node-gyp (npm's bundled one) if a toolchain works;
//   3. if that is impossible (no compiler, no python, no headers): one line on stderr
//      and exit 0 — fslock then runs its pure-JS fallback (fslock.backend ===
//      'fallback', fslock.loadError says why). FSLOCK_BACKEND=native makes that an error
//      at load time, for those who need the native backend.
// `npm install --build-from-source` (npm_config_build_from_source=true, or =fslock)
// skips step 1, and a failed build is then an error: the user asked for a native build.
// In a development checkout (lib/*.ts present: a git clone or a git dependency) the
// prebuilds are ignored and the addon is always compiled from the sources at hand.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const platform = `${process.platform}-${process.arch}`;

function fromSource() {
  const v = process.env.npm_config_build_from_source;
  return process.argv.includes('--build-from-source') || v === 'true' || v === 'fslock';
}

const devCheckout = () => fs.existsSync(path.join(root, 'lib', 'index.ts'));

/**
 * Whether the binding loads in a fresh node: what node-gyp-build picks (build/Release,
 * then prebuilds/), or only build/Release.
 */
function loads(buildOnly) {
  let probe;
  if (buildOnly) {
    probe = `require(${JSON.stringify(path.join(root, 'build', 'Release', 'fslock.node'))})`;
  } else {
    let gypBuild;
    try {
      gypBuild = require.resolve('node-gyp-build', { paths: [root] });
    } catch {
      return false; // the fallback needs nothing more; the loader will say the same
    }
    probe = `require(${JSON.stringify(gypBuild)})(${JSON.stringify(root)})`;
  }
  const r = spawnSync(process.execPath, ['-e', probe], { stdio: 'ignore', timeout: 60_000 });
  return r.status === 0;
}

function nodeGyp() {
  // npm hands its bundled node-gyp to install scripts; a local one otherwise.
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && fs.existsSync(fromNpm)) return fromNpm;
  try {
    return require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] });
  } catch {
    return undefined;
  }
}

function reason(output) {
  const lines = output
    .split('\n')
    .filter(
      (l) =>
        /error|not found|ERR!|No such file/i.test(l) &&
        !/gyp ERR! (cwd|node -v|node-gyp -v|System|command|not ok)/.test(l),
    );
  return lines
    .slice(0, 2)
    .map((l) => l.trim())
    .join(' | ')
    .slice(0, 300);
}

function main() {
  const forced = fromSource();
  const dev = devCheckout();
  if (!forced && !dev && loads(false)) return 0;
  const gyp = nodeGyp();
  const fallback = `fslock: using the pure-JS fallback backend (docs/fallback.md); fslock.loadError will say why.`;
  if (!gyp) {
    console.warn(`fslock: no prebuilt binary for ${platform} and no node-gyp to compile one.\n${fallback}`);
    return forced ? 1 : 0;
  }
  const r = spawnSync(process.execPath, [gyp, 'rebuild'], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 600_000,
  });
  if (r.status === 0 && loads(true)) return 0;
  const output = `${r.stdout || ''}\n${r.stderr || ''}${r.error ? `\n${r.error.message}` : ''}`;
  if (forced || dev) process.stderr.write(output);
  console.warn(
    `fslock: no prebuilt binary for ${platform} and compiling one failed${forced || dev ? '' : ` (${reason(output) || `exit ${r.status}`})`}.`,
  );
  if (forced) {
    console.warn('fslock: --build-from-source was asked for: failing the install.');
    return 1;
  }
  // A half-done build must not be picked up at run time.
  fs.rmSync(path.join(root, 'build'), { recursive: true, force: true });
  console.warn(fallback);
  return 0;
}

let status = 0;
try {
  status = main();
} catch (e) {
  // Whatever happened, the install goes on: the fallback needs nothing from here.
  console.warn(`fslock: install step skipped (${e && e.message}); using the pure-JS fallback.`);
}
process.exitCode = status;
