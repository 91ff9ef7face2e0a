'use strict';
// Atomic files in one process: content, modes and owners, data forms, temp names, abort,
// exclusive and unique create, no-replace moves, update(), and argument errors.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { fslock, tmpdir, rejectsWith, throwsWith, openFds, keptLockFiles } = require('./helpers');

const read = (p) => fs.readFileSync(p, 'utf8');
const win32 = process.platform === 'win32';
// Windows: a rename over a directory is refused with ERROR_ACCESS_DENIED, which Node's
// own fs.rename reports as EPERM too.
const IS_DIR = win32 ? 'EPERM' : 'EISDIR';
const modeOf = (p) => fs.statSync(p).mode & 0o7777;

test('writeFileAtomic and writeFileAtomicSync replace the content and leave only the target', async (t) => {
  const dir = tmpdir(t);
  const p = path.join(dir, 'a.json');
  await fslock.writeFileAtomic(p, 'one');
  assert.equal(read(p), 'one');
  fslock.writeFileAtomicSync(p, 'two', { fsync: false });
  assert.equal(read(p), 'two');
  await fslock.writeFileAtomic(p, 'éé', { encoding: 'latin1' });
  assert.deepEqual(fs.readFileSync(p), Buffer.from([0xe9, 0xe9]));
  await fslock.writeFileAtomic(p, '');
  assert.equal(read(p), '');
  assert.deepEqual(fs.readdirSync(dir), ['a.json']);
});

test('data: any ArrayBufferView (with its offset), and (async) iterables of chunks', async (t) => {
  const dir = tmpdir(t);
  const p = path.join(dir, 'f');
  const backing = Buffer.from('xxHELLOxx');
  await fslock.writeFileAtomic(p, new Uint8Array(backing.buffer, backing.byteOffset + 2, 5));
  assert.equal(read(p), 'HELLO');
  fslock.writeFileAtomicSync(p, new DataView(backing.buffer, backing.byteOffset + 2, 3));
  assert.equal(read(p), 'HEL');
  fslock.writeFileAtomicSync(p, new Uint16Array([0x4241]));
  assert.equal(read(p), 'AB');
  await fslock.writeFileAtomic(p, ['a', Buffer.from('b'), new Uint8Array([99])]);
  assert.equal(read(p), 'abc');
  async function* gen() {
    yield 'x';
    await new Promise((r) => setImmediate(r));
    yield Buffer.alloc(100_000, 'y');
  }
  await fslock.writeFileAtomic(p, gen());
  assert.equal(read(p), 'x' + 'y'.repeat(100_000));
  await rejectsWith(fslock.writeFileAtomic(p, [1, 2]), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.equal(read(p), 'x' + 'y'.repeat(100_000), 'a bad chunk left the target changed');
  assert.deepEqual(fs.readdirSync(dir), ['f']);
});

test('the temp file: same directory, hidden, never longer than the target name (or 24 bytes)', async (t) => {
  const dir = tmpdir(t);
  for (const name of ['x', 'cache.json', 'n'.repeat(255), 'é'.repeat(127)]) {
    const p = path.join(dir, name);
    let seen;
    async function* chunks() {
      yield 'first';
      seen = fs.readdirSync(dir).filter((n) => n !== name);
      yield 'second';
    }
    await fslock.writeFileAtomic(p, chunks());
    assert.equal(read(p), 'firstsecond');
    assert.equal(seen.length, 1, `one temp file while writing ${name.slice(0, 10)}`);
    assert.ok(seen[0].startsWith('.'), seen[0]);
    assert.ok(Buffer.byteLength(seen[0]) <= Math.max(Buffer.byteLength(name), 24), `${seen[0]} too long`);
    fs.rmSync(p);
  }
  // A 255-byte name is the longest the filesystem takes: its temp name must fit too
  // (write-file-atomic appends a suffix and fails with ENAMETOOLONG here).
  fslock.writeFileAtomicSync(path.join(dir, 'z'.repeat(255)), 'ok');
  assert.equal(read(path.join(dir, 'z'.repeat(255))), 'ok');
});

test(
  'mode: the existing file keeps its mode; an explicit mode is set exactly; owner kept',
  {
    skip: win32 && 'Windows has no POSIX modes or owners (only a read-only attribute)',
  },
  async (t) => {
    const dir = tmpdir(t);
    const p = path.join(dir, 'm');
    fs.writeFileSync(p, 'old');
    fs.chmodSync(p, 0o640);
    await fslock.writeFileAtomic(p, 'new');
    assert.equal(modeOf(p), 0o640);
    fslock.writeFileAtomicSync(p, 'newer');
    assert.equal(modeOf(p), 0o640);
    await fslock.writeFileAtomic(p, 'x', { mode: 0o604 });
    assert.equal(modeOf(p), 0o604);
    // Explicit modes are not reduced by the umask, like chmod.
    fslock.writeFileAtomicSync(p, 'x', { mode: 0o666 });
    assert.equal(modeOf(p), 0o666);
    const fresh = path.join(dir, 'fresh');
    await fslock.writeFileAtomic(fresh, 'x');
    assert.equal(modeOf(fresh), 0o666 & ~process.umask(), 'a new file gets 0o666 minus the umask');
    if (process.getuid() === 0) {
      // Only root may give a file away: the owner of the replaced file is kept.
      fs.chownSync(p, 4321, 4322);
      await fslock.writeFileAtomic(p, 'owned');
      fslock.writeFileAtomicSync(p, 'owned');
      const st = fs.statSync(p);
      assert.deepEqual([st.uid, st.gid], [4321, 4322]);
    } else {
      t.diagnostic('not root: owner preservation not exercised');
    }
  },
);

test('signal: an aborted write leaves the target and no temp file; reason passed through', async (t) => {
  const dir = tmpdir(t);
  const p = path.join(dir, 'sig');
  fs.writeFileSync(p, 'keep');
  const before = openFds();
  const ac = new AbortController();
  ac.abort();
  await rejectsWith(fslock.writeFileAtomic(p, 'lost', { signal: ac.signal }), {
    code: 'ABORT_ERR',
    name: 'AbortError',
  });
  const ac2 = new AbortController();
  async function* slow() {
    yield 'part';
    ac2.abort(new Error('custom reason'));
    yield 'rest';
  }
  await rejectsWith(fslock.writeFileAtomic(p, slow(), { signal: ac2.signal }), { message: 'custom reason' });
  // Aborted after the temp file is written, before the rename: still untouched.
  const ac3 = new AbortController();
  const pending = fslock.writeFileAtomic(p, Buffer.alloc(4 << 20), { signal: ac3.signal });
  ac3.abort();
  await rejectsWith(pending, { code: 'ABORT_ERR' });
  await rejectsWith(fslock.createExclusive(path.join(dir, 'new'), 'x', { signal: ac.signal }), { code: 'ABORT_ERR' });
  assert.equal(read(p), 'keep');
  assert.deepEqual(fs.readdirSync(dir), ['sig']);
  assert.equal(openFds(), before);
});

test('createExclusive: EEXIST when the path exists (file, dir or symlink), content untouched', async (t) => {
  const dir = tmpdir(t);
  const p = path.join(dir, 'x');
  await fslock.createExclusive(p, 'first', { mode: 0o600 });
  assert.equal(read(p), 'first');
  if (!win32) assert.equal(modeOf(p), 0o600); // Windows: no POSIX modes
  await rejectsWith(fslock.createExclusive(p, 'second'), { code: 'EEXIST', path: p });
  throwsWith(() => fslock.createExclusiveSync(p, 'second'), { code: 'EEXIST', path: p });
  // Windows: creating symlinks needs a privilege that test machines do not grant.
  if (!win32) {
    fs.symlinkSync(path.join(dir, 'nowhere'), path.join(dir, 'link'));
    await rejectsWith(fslock.createExclusive(path.join(dir, 'link'), 'x'), { code: 'EEXIST' });
    assert.ok(!fs.existsSync(path.join(dir, 'nowhere')), 'a dangling symlink was followed');
  } else fs.writeFileSync(path.join(dir, 'link'), 'stand-in');
  fs.mkdirSync(path.join(dir, 'd'));
  throwsWith(() => fslock.createExclusiveSync(path.join(dir, 'd'), 'x'), { code: 'EEXIST' });
  fslock.createExclusiveSync(path.join(dir, 'y'), Buffer.from('yy'), { fsync: false });
  assert.equal(read(path.join(dir, 'y')), 'yy');
  assert.equal(read(p), 'first');
  assert.deepEqual(fs.readdirSync(dir).sort(), ['d', 'link', 'x', 'y']);
});

test('createExclusive: concurrent creators, exactly one wins, the file is never seen partial', async (t) => {
  const dir = tmpdir(t);
  for (let round = 0; round < 20; round++) {
    const p = path.join(dir, `r${round}`);
    const big = (c) => Buffer.alloc(1 << 20, c);
    const results = await Promise.allSettled(
      ['a', 'b', 'c', 'd'].map((c) => fslock.createExclusive(p, big(c), { fsync: false })),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    assert.equal(won.length, 1);
    for (const r of results) if (r.status === 'rejected') assert.equal(r.reason.code, 'EEXIST');
    const content = fs.readFileSync(p);
    assert.equal(content.length, 1 << 20);
    assert.ok(content.every((b) => b === content[0]));
  }
  assert.equal(fs.readdirSync(dir).length, 20, 'temp files left');
});

test('createUnique: first free name, returned; name() is checked', async (t) => {
  const dir = tmpdir(t);
  fs.writeFileSync(path.join(dir, 'log-0'), 'taken');
  const a = await fslock.createUnique(dir, (n) => `log-${n}`, 'A');
  const b = fslock.createUniqueSync(dir, (n) => `log-${n}`, 'B');
  assert.deepEqual([a, b], [path.join(dir, 'log-1'), path.join(dir, 'log-2')]);
  assert.deepEqual([read(a), read(b), read(path.join(dir, 'log-0'))], ['A', 'B', 'taken']);
  await rejectsWith(
    fslock.createUnique(dir, () => '../escape', 'x'),
    { code: 'ERR_INVALID_ARG_VALUE' },
  );
  await rejectsWith(
    fslock.createUnique(dir, () => '', 'x'),
    { code: 'ERR_INVALID_ARG_VALUE' },
  );
  await rejectsWith(fslock.createUnique(dir, 'log', 'x'), { code: 'ERR_INVALID_ARG_TYPE' });
  await rejectsWith(
    fslock.createUnique(path.join(dir, 'missing'), (n) => `${n}`, 'x'),
    { code: 'ENOENT' },
  );
  // A name function that throws on a later attempt: its error, nothing left behind.
  await rejectsWith(
    fslock.createUnique(
      dir,
      (n) => {
        if (n > 1) throw new Error('no more names');
        return `log-${n}`;
      },
      'x',
    ),
    { message: 'no more names' },
  );
  assert.deepEqual(fs.readdirSync(dir).sort(), ['log-0', 'log-1', 'log-2']);
});

test('createUnique past hundreds of taken names: the first free one, gaps found, the rename decides', async (t) => {
  const dir = tmpdir(t);
  for (let i = 0; i < 300; i++) if (i !== 150 && i !== 151) fs.writeFileSync(path.join(dir, `log-${i}`), 'taken');
  const name = (n) => `log-${n}`;
  // After a few taken names it lists the directory and passes over what it saw taken:
  // the gaps must still be found, in order.
  assert.equal(await fslock.createUnique(dir, name, 'A'), path.join(dir, 'log-150'));
  assert.equal(fslock.createUniqueSync(dir, name, 'B'), path.join(dir, 'log-151'));
  // A name free when listed but taken before its probe: the no-replace rename refuses
  // it and the next one is tried. (The name function takes it, as another process could.)
  const racing = (n) => {
    if (n === 300) fs.writeFileSync(path.join(dir, 'log-300'), 'raced');
    return name(n);
  };
  for (const create of [(f) => fslock.createUnique(dir, f, 'C'), async (f) => fslock.createUniqueSync(dir, f, 'C')]) {
    const got = await create(racing);
    assert.equal(read(got), 'C');
    assert.notEqual(got, path.join(dir, 'log-300'));
  }
  assert.deepEqual(
    [read(path.join(dir, 'log-150')), read(path.join(dir, 'log-151')), read(path.join(dir, 'log-300'))],
    ['A', 'B', 'raced'],
  );
  assert.equal(fs.readdirSync(dir).length, 303);
});

test(
  'createUnique in a directory it may write but not list: every name probed',
  { skip: win32 && 'no write-only directories on Windows' },
  async (t) => {
    const dir = tmpdir(t);
    for (let i = 0; i < 30; i++) fs.writeFileSync(path.join(dir, `log-${i}`), 'taken');
    const code = `const fslock = require('fslock');
    const name = (n) => 'log-' + n;
    try { require('node:fs').readdirSync(process.argv[1]); process.stdout.write('listable '); } catch {}
    const a = fslock.createUniqueSync(process.argv[1], name, 'A');
    fslock.createUnique(process.argv[1], name, 'B').then((b) => process.stdout.write(a + ' ' + b));`;
    // Write and search, no read. Root reads any directory: run that part as nobody.
    const root = process.getuid() === 0;
    fs.chmodSync(dir, root ? 0o733 : 0o300);
    const { runAsNobody, nobodyPackage, LIMIT } = require('./helpers');
    const { execFileSync } = require('node:child_process');
    let out;
    try {
      // As nobody, from a copy of the package it can reach (the checkout may be in /root).
      out = root
        ? runAsNobody(code, [dir])
        : execFileSync(process.execPath, ['-e', code, dir], { cwd: nobodyPackage(), timeout: LIMIT, encoding: 'utf8' });
    } finally {
      fs.chmodSync(dir, 0o700);
    }
    assert.equal(out, `${path.join(dir, 'log-30')} ${path.join(dir, 'log-31')}`);
    assert.deepEqual([read(path.join(dir, 'log-30')), read(path.join(dir, 'log-31'))], ['A', 'B']);
  },
);

test('moveAtomic: replaces by default; overwrite:false gives EEXIST for files and directories', async (t) => {
  const dir = tmpdir(t);
  const j = (n) => path.join(dir, n);
  fs.writeFileSync(j('a'), 'A');
  fs.writeFileSync(j('b'), 'B');
  await rejectsWith(fslock.moveAtomic(j('a'), j('b'), { overwrite: false }), {
    code: 'EEXIST',
    path: j('a'),
    dest: j('b'),
  });
  assert.deepEqual([read(j('a')), read(j('b'))], ['A', 'B']);
  await fslock.moveAtomic(j('a'), j('c'), { overwrite: false });
  assert.equal(read(j('c')), 'A');
  fslock.moveAtomicSync(j('c'), j('b'));
  assert.equal(read(j('b')), 'A');
  assert.deepEqual(fs.readdirSync(dir), ['b']);
  fs.mkdirSync(j('d1'));
  fs.writeFileSync(j('d1/inner'), 'i');
  fs.mkdirSync(j('d2'));
  throwsWith(() => fslock.moveAtomicSync(j('d1'), j('d2'), { overwrite: false }), { code: 'EEXIST' });
  fslock.moveAtomicSync(j('d1'), j('d3'), { overwrite: false });
  assert.equal(read(j('d3/inner')), 'i');
  await rejectsWith(fslock.moveAtomic(j('gone'), j('x'), { overwrite: false }), { code: 'ENOENT' });
  await rejectsWith(fslock.moveAtomic(j('gone'), j('x')), { code: 'ENOENT', syscall: 'rename' });
  assert.deepEqual(fs.readdirSync(dir).sort(), ['b', 'd2', 'd3']);
  // Two movers racing for one free name: exactly one gets it.
  fs.writeFileSync(j('m1'), '1');
  fs.writeFileSync(j('m2'), '2');
  const r = await Promise.allSettled(
    [j('m1'), j('m2')].map((f) => fslock.moveAtomic(f, j('dest'), { overwrite: false })),
  );
  assert.equal(r.filter((x) => x.status === 'fulfilled').length, 1);
  assert.equal(r.find((x) => x.status === 'rejected').reason.code, 'EEXIST');
});

test('update: read-modify-write under path.lock; undefined keeps the file; a throw changes nothing', async (t) => {
  const dir = tmpdir(t);
  const p = path.join(dir, 'u.json');
  await fslock.update(p, (cur) => {
    assert.equal(cur, undefined);
    return JSON.stringify({ n: 1 });
  });
  await Promise.all(
    Array.from({ length: 20 }, () =>
      fslock.update(p, async (cur) => {
        const v = JSON.parse(cur.toString());
        await new Promise((r) => setImmediate(r));
        return JSON.stringify({ n: v.n + 1 });
      }),
    ),
  );
  assert.deepEqual(JSON.parse(read(p)), { n: 21 });
  const st = fs.statSync(p);
  await fslock.update(p, (cur) => {
    assert.ok(Buffer.isBuffer(cur));
    return undefined;
  });
  assert.equal(fs.statSync(p).ino, st.ino, 'undefined rewrote the file');
  await rejectsWith(
    fslock.update(p, () => {
      throw Object.assign(new Error('boom'), { code: 'EBOOM' });
    }),
    { code: 'EBOOM' },
  );
  assert.deepEqual(JSON.parse(read(p)), { n: 21 });
  assert.equal(await fslock.isLocked(`${p}.lock`), false);
  assert.deepEqual(fs.readdirSync(dir).sort(), keptLockFiles(dir, ['u.json', 'u.json.lock']));
  // While someone else holds path.lock, update waits (here: times out).
  const held = await fslock.lock(`${p}.lock`);
  await rejectsWith(
    fslock.update(p, () => 'x', { timeout: 50 }),
    { code: 'ETIMEDOUT' },
  );
  await held.release();
  await rejectsWith(
    fslock.update(p, () => 42),
    { code: 'ERR_INVALID_ARG_TYPE' },
  );
  assert.deepEqual(JSON.parse(read(p)), { n: 21 });
});

test('bad input: clear errors, nothing written', async (t) => {
  const dir = tmpdir(t);
  const p = path.join(dir, 'b');
  fs.writeFileSync(p, 'keep');
  await rejectsWith(fslock.writeFileAtomic(p, 42), { code: 'ERR_INVALID_ARG_TYPE' });
  await rejectsWith(fslock.writeFileAtomic(p, null), { code: 'ERR_INVALID_ARG_TYPE' });
  throwsWith(() => fslock.writeFileAtomicSync(p, ['chunks only async']), { code: 'ERR_INVALID_ARG_TYPE' });
  await rejectsWith(fslock.writeFileAtomic(p, 'x', { encoding: 'klingon' }), { code: 'ERR_INVALID_ARG_VALUE' });
  await rejectsWith(fslock.writeFileAtomic(p, 'x', { mode: -1 }), { code: 'ERR_INVALID_ARG_VALUE' });
  await rejectsWith(fslock.writeFileAtomic(p, 'x', { mode: 0o10000 }), { code: 'ERR_INVALID_ARG_VALUE' });
  await rejectsWith(fslock.writeFileAtomic(p, 'x', { mode: 'rw-r--r--' }), { code: 'ERR_INVALID_ARG_VALUE' });
  await rejectsWith(fslock.writeFileAtomic(p, 'x', { mode: true }), { code: 'ERR_INVALID_ARG_TYPE' });
  await rejectsWith(fslock.writeFileAtomic(p, 'x', { fsync: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE' });
  await rejectsWith(fslock.writeFileAtomic(p, 'x', { signal: {} }), { code: 'ERR_INVALID_ARG_TYPE' });
  await rejectsWith(fslock.writeFileAtomic('a\0b', 'x'), { code: 'ERR_INVALID_ARG_VALUE' });
  await rejectsWith(fslock.moveAtomic(p, p + '2', { overwrite: 1 }), { code: 'ERR_INVALID_ARG_TYPE' });
  await rejectsWith(fslock.update(p, 'not a function'), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.equal(read(p), 'keep');
  assert.deepEqual(fs.readdirSync(dir), ['b']);
});

test('failures: a directory as target, a missing directory — the right error, nothing left', async (t) => {
  const dir = tmpdir(t);
  fs.mkdirSync(path.join(dir, 'sub'));
  fs.writeFileSync(path.join(dir, 'sub', 'inside'), 'i');
  const before = openFds();
  await rejectsWith(fslock.writeFileAtomic(path.join(dir, 'sub'), 'x'), { code: IS_DIR, path: path.join(dir, 'sub') });
  throwsWith(() => fslock.writeFileAtomicSync(path.join(dir, 'sub'), 'x'), { code: IS_DIR });
  const missing = path.join(dir, 'nope', 'f');
  await rejectsWith(fslock.writeFileAtomic(missing, 'x'), { code: 'ENOENT', path: missing });
  throwsWith(() => fslock.createExclusiveSync(missing, 'x'), { code: 'ENOENT', path: missing });
  assert.deepEqual(fs.readdirSync(dir), ['sub']);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'sub')), ['inside']);
  assert.equal(openFds(), before);
});

test('a device, FIFO or socket at the target is refused at once, not replaced (Windows: a DOS device name)', async (t) => {
  const dir = tmpdir(t);
  const targets = [];
  if (win32) {
    // Windows 10 and Wine take a device name with an extension as the device too.
    targets.push(path.join(dir, 'COM1'), path.join(dir, 'AUX.txt'), path.join(dir, 'nul'));
  } else {
    const fifo = path.join(dir, 'fifo');
    require('node:child_process').execFileSync('mkfifo', [fifo]);
    targets.push(fifo);
    if (process.getuid() === 0) {
      const dev = path.join(dir, 'null-device');
      require('node:child_process').execFileSync('mknod', [dev, 'c', '1', '3']);
      targets.push(dev);
    }
  }
  for (const p of targets) {
    for (const write of [() => fslock.writeFileAtomic(p, 'x'), async () => fslock.writeFileAtomicSync(p, 'x')]) {
      const t0 = Date.now();
      const e = await rejectsWith(write(), { code: 'EINVAL', path: p });
      assert.match(e.message, /not a regular file/);
      // Not a timing measurement: a retried refusal would take the whole 10 s bound.
      assert.ok(Date.now() - t0 < 5000, `${p}: refused only after ${Date.now() - t0} ms`);
    }
  }
  if (!win32) for (const p of targets) assert.ok(!fs.lstatSync(p).isFile(), `${p} is still what it was`);
  assert.deepEqual(
    fs.readdirSync(dir).sort(),
    targets
      .filter(() => !win32)
      .map((p) => path.basename(p))
      .sort(),
  );
});

test('moveAtomic over a target that a reader holds open (Windows: retried until it closes)', async (t) => {
  const dir = tmpdir(t);
  const p = path.join(dir, 'held');
  fs.writeFileSync(p, 'old');
  for (const [i, move] of [
    (from) => fslock.moveAtomic(from, p),
    async (from) => fslock.moveAtomicSync(from, p),
  ].entries()) {
    const from = path.join(dir, `new${i}`);
    fs.writeFileSync(from, `new ${i}`);
    // Under Wine the replace is refused while the handle is open: it must be retried
    // (as writeFileAtomic's), not fail with EPERM at once. The promise form has this
    // process's reader closed meanwhile by a timer; the sync form blocks this thread,
    // so the reader is another process, which closes the file 300 ms after it opened it.
    if (i === 0) {
      const reader = fs.openSync(p, 'r');
      const closing = new Promise((r) => setTimeout(r, 300)).then(() => fs.closeSync(reader));
      await move(from);
      await closing;
    } else {
      const code = `const fs = require('node:fs'); const fd = fs.openSync(process.argv[1], 'r');
        process.stdout.write('open\\n'); setTimeout(() => fs.closeSync(fd), 300);`;
      const child = require('node:child_process').spawn(process.execPath, ['-e', code, p], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise((r) => child.once('exit', r));
      await new Promise((resolve, reject) => {
        child.stdout.once('data', resolve);
        child.once('exit', () => reject(new Error('the reader exited before it opened the file')));
      });
      await move(from);
      assert.equal(await exited, 0);
    }
    assert.equal(read(p), `new ${i}`);
    assert.ok(!fs.existsSync(from));
  }
});
