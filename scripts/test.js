#!/usr/bin/env node
// `npm test`: builds the TypeScript, then runs the whole suite twice, against the
// native backend and with FSLOCK_BACKEND=fallback. `--backend X` runs one; `--stress`
// sets FSLOCK_STRESS=1 (long soak versions of the concurrency tests). As root on
// Debian it installs the mkfs tools that test/filesystems.test.js needs, the
// GlusterFS server and client for test/gluster.test.js, the other lockers of
// test/interop.test.js (flock(1), Perl, a C compiler, Python's filelock), and acl and
// attr (setfacl, setfattr) for test/atomic-metadata.test.js.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const args = process.argv.slice(2);
const only = args.includes('--backend') ? args[args.indexOf('--backend') + 1] : undefined;
const stress = args.includes('--stress');
const files = args.filter((a, i) => a.endsWith('.js') && args[i - 1] !== '--backend');

run(process.execPath, [path.join(__dirname, 'build-ts.js')], {});
filesystemTools();

const tests = files.length
  ? files
  : fs
      .readdirSync(path.join(root, 'test'))
      .filter((f) => f.endsWith('.test.js'))
      .sort()
      .map((f) => path.join('test', f));

let failed = false;
for (const backend of only ? [only] : ['native', 'fallback']) {
  console.log(`\n# fslock test suite, backend=${backend}${stress ? ' (stress)' : ''}`);
  const env = { ...process.env, FSLOCK_BACKEND: backend };
  if (stress) env.FSLOCK_STRESS = '1';
  // Three files at a time on 2 cores: the files mostly wait on other processes, mounts
  // and timers (npm test with 2: 11.7 min; with 3: 7.9 min at 159% CPU, no failure).
  // The soak versions keep 2: they load the machine themselves.
  const concurrency = `--test-concurrency=${stress ? 2 : 3}`;
  const r = spawnSync(process.execPath, ['--test', concurrency, '--test-timeout=240000', ...tests], {
    cwd: root,
    env,
    stdio: 'inherit',
  });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);

/**
 * test/filesystems.test.js loop-mounts xfs and btrfs images, test/gluster.test.js mounts
 * a GlusterFS volume twice (scripts/gluster.js): as root on Debian, their tools are
 * installed here (a few seconds, once). Elsewhere those tests are skipped with the
 * reason shown.
 */
function filesystemTools() {
  if (!process.getuid || process.getuid() !== 0) return;
  const wanted = (name) => !files.length || files.some((f) => f.includes(name));
  const needs = [];
  if (wanted('filesystems')) needs.push(['mkfs.xfs', 'xfsprogs'], ['mkfs.btrfs', 'btrfs-progs']);
  if (wanted('gluster')) needs.push(['glusterd', 'glusterfs-server'], ['mount.glusterfs', 'glusterfs-client']);
  if (wanted('interop')) {
    // The other programs whose locks fslock's must exclude (test/interop.test.js).
    const py = () => spawnSync('/usr/bin/python3', ['-c', 'import filelock'], { stdio: 'ignore' }).status === 0;
    needs.push(['flock', 'util-linux'], ['perl', 'perl'], ['cc', 'gcc'], [py, 'python3-filelock']);
  }
  // test/atomic-metadata.test.js: ACLs and extended attributes carried across a replace.
  if (wanted('atomic')) needs.push(['setfacl', 'acl'], ['setfattr', 'attr']);
  // test/cli-flock.test.js runs util-linux flock(1) and a Python lockf user beside fslock.
  if (wanted('cli')) needs.push(['flock', 'util-linux'], ['python3', 'python3']);
  try {
    require('./tooling').ensurePackages(needs);
  } catch (e) {
    console.log(
      `# could not install ${needs.map((n) => n[1]).join(', ')} (${e.message.split('\n')[0]}): their tests will be skipped`,
    );
  }
}

function run(cmd, argv, env) {
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
