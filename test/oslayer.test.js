'use strict';
// The OS layer (native/posix_*.cc) alone, on both C libraries and both architectures:
// test/oslayer/driver.cc linked statically against musl (zig) and glibc (g++), run
// natively on x86-64 and under qemu-user on arm64. Each driver takes and waits for
// flock and fcntl range locks against a second process and a second thread, sees a
// SIGKILLed holder's locks released, interrupts a blocked waiter with
// os::InterruptThread, and performs atomic writes (sync, kept mode, exact mode,
// no-replace, link, O_TMPFILE, a taken temp name, two writers). The same 19 checks must
// pass in all four builds. Backend-independent: the addon is not involved, so both
// passes of the suite run it (the builds are cached). arm64 is skipped only if the
// cross compiler or qemu-user-static cannot be installed, with the reason.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { build, prepare } = require('../scripts/build-oslayer');

const CHECKS = 19;
// glibc linux-x64 hosts: zig, g++ (whose -static output must be glibc) and qemu-user.
const musl = process.platform === 'linux' && fs.existsSync('/etc/alpine-release');
const linux = process.platform === 'linux' && process.arch === 'x64' && !musl;
let noTools = null;
let noArm = null;
if (linux) {
  try {
    noArm = prepare();
  } catch (e) {
    noTools = `cannot install g++/file: ${e.message.split('\n')[0]}`;
  }
}

function runDriver(file, arm) {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'fslock-oslayer-'));
  const [cmd, args] = arm ? ['qemu-aarch64-static', [file, scratch]] : [file, [scratch]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    // Generous bound: the driver takes well under a second; a hang is a failure.
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      fs.rmSync(scratch, { recursive: true, force: true });
      resolve({ code, signal, out, err });
    });
  });
}

for (const libc of ['musl', 'glibc']) {
  for (const arch of ['x64', 'arm64']) {
    const kind = `${libc}-${arch}`;
    let skip = false;
    if (!linux)
      skip = `the OS-layer drivers are built and run on glibc linux-x64 (zig, g++, qemu-user); this is ${process.platform}-${process.arch}${musl ? ' musl' : ''}`;
    else if (noTools) skip = noTools;
    else if (arch === 'arm64' && noArm) skip = noArm;
    test(
      `OS layer, ${libc} ${arch}${arch === 'arm64' ? ' (qemu-user)' : ''}: locks, waits, interrupts, atomic writes`,
      { skip, timeout: 600_000 },
      async () => {
        const { file } = await build(kind);
        const what = execFileSync('file', ['-b', file]).toString();
        assert.match(what, arch === 'arm64' ? /ARM aarch64/ : /x86-64/);
        assert.match(what, /statically linked/, 'the driver must carry its own C library');
        const r = await runDriver(file, arch === 'arm64');
        const lines = r.out.split('\n');
        const failed = lines.filter((l) => l.startsWith('not ok'));
        assert.deepEqual(failed, [], `${kind} failed:\n${r.out}\n${r.err}`);
        assert.equal(r.code, 0, `${kind} exited ${r.code ?? r.signal}:\n${r.out}\n${r.err}`);
        // The binary really is the C library and architecture it claims to be.
        assert.equal(lines[0], `# libc ${libc} ${arch}`);
        assert.equal(lines.filter((l) => /^ok \d+ - /.test(l)).length, CHECKS, r.out);
        assert.ok(lines.includes(`# ${CHECKS} checks, 0 failed`), r.out);
        // Interrupts really interrupted (EINTR), not granted.
        assert.ok(
          lines.some((l) => /^ok \d+ - flock: os::InterruptThread .*Interrupted system call/.test(l)),
          r.out,
        );
        assert.ok(
          lines.some((l) => /^ok \d+ - fcntl range: os::InterruptThread .*Interrupted system call/.test(l)),
          r.out,
        );
      },
    );
  }
}
