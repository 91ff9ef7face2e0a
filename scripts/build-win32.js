#!/usr/bin/env node
// Cross-compiles the addon for win32-x64 with mingw-w64 (shared/WINDOWS.md): one
// compiler call, linked -static so the DLL imports only KERNEL32, msvcrt and node.exe
// (through an import library made from node-api-headers' node_api.def).
// Output: prebuilds/win32-x64/fslock.node. Installs the Debian packages it needs.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { TO_STDERR, root, cache, run, ensurePackages, npmPackage } = require('./tooling');
const CXX = 'x86_64-w64-mingw32-g++-posix';

function main() {
  ensurePackages([
    [CXX, 'g++-mingw-w64-x86-64-posix'],
    ['x86_64-w64-mingw32-dlltool', 'binutils-mingw-w64-x86-64'],
  ]);
  fs.mkdirSync(cache, { recursive: true });
  const headers = npmPackage('node-api-headers@1');
  const lib = path.join(cache, 'libnode_api.a');
  if (!fs.existsSync(lib)) {
    run('x86_64-w64-mingw32-dlltool', ['-d', path.join(headers, 'def', 'node_api.def'), '-l', lib, '-D', 'node.exe']);
  }
  const outDir = path.join(root, 'prebuilds', 'win32-x64');
  fs.mkdirSync(outDir, { recursive: true });
  const out = path.join(outDir, 'fslock.node');
  const sources = [
    'binding.cc',
    'waiter.cc',
    'wait_pool.cc',
    'glue_locks.cc',
    'glue_atomic.cc',
    'lock_check.cc',
    'win32_locks.cc',
    'win32_ranges.cc',
    'win32_atomic.cc',
    'win32_wait.cc',
  ].map((f) => path.join(root, 'native', f));
  const started = Date.now();
  run(
    CXX,
    [
      '-O2',
      '-std=c++17',
      '-shared',
      '-s',
      '-o',
      out,
      ...sources,
      '-I',
      path.join(headers, 'include'),
      '-I',
      require('node-addon-api').include_dir.replace(/"/g, ''),
      '-DNAPI_VERSION=8',
      '-DNAPI_DISABLE_CPP_EXCEPTIONS',
      '-DNODE_ADDON_API_DISABLE_DEPRECATED',
      '-DNODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS', // see binding.gyp
      '-DUNICODE',
      '-D_UNICODE',
      '-D_WIN32_WINNT=0x0A00',
      '-static',
      lib,
    ],
    { stdio: TO_STDERR },
  );
  // The binary must import nothing beyond the system, the C runtime and node.exe.
  const dump = run('x86_64-w64-mingw32-objdump', ['-p', out]).toString();
  const dlls = [...dump.matchAll(/DLL Name: (\S+)/g)].map((m) => m[1].toLowerCase());
  const allowed = new Set(['kernel32.dll', 'msvcrt.dll', 'node.exe']);
  const extra = dlls.filter((d) => !allowed.has(d) && !d.startsWith('api-ms-win-'));
  if (extra.length) throw new Error(`win32 binary imports unexpected DLLs: ${extra.join(', ')}`);
  console.error(
    `build-win32: ${path.relative(root, out)} (${fs.statSync(out).size} bytes, ${Date.now() - started} ms; imports ${dlls.join(', ')})`,
  );
  return out;
}

if (require.main === module) main();
module.exports = { main };
