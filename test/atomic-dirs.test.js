'use strict';
// The directory a file goes in: `createParents` creates it (and its missing parents)
// for every write form, createExclusive, createUnique and update; without it the error
// names the missing directory; EACCES names the directory the caller cannot write
// (the real user nobody). Both backends.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { fslock, tmpdir, rejectsWith, throwsWith, runAsNobody } = require('./helpers');
const { usersSkip } = require('./users');

const read = (p) => fs.readFileSync(p, 'utf8');

const FORMS = {
  writeFileAtomic: (p, o) => fslock.writeFileAtomic(p, 'x', o),
  writeFileAtomicSync: async (p, o) => fslock.writeFileAtomicSync(p, 'x', o),
  'writeFileAtomic(chunks)': (p, o) => fslock.writeFileAtomic(p, ['x'], o),
  'writeFileAtomic(signal)': (p, o) => fslock.writeFileAtomic(p, 'x', { ...o, signal: new AbortController().signal }),
  createExclusive: (p, o) => fslock.createExclusive(p, 'x', o),
  createExclusiveSync: async (p, o) => fslock.createExclusiveSync(p, 'x', o),
  createUnique: (p, o) => fslock.createUnique(path.dirname(p), () => path.basename(p), 'x', o),
  createUniqueSync: async (p, o) => fslock.createUniqueSync(path.dirname(p), () => path.basename(p), 'x', o),
  update: (p, o) => fslock.update(p, () => 'x', o),
};

test('createParents: the missing directories are made (mkdir -p), in every form', async (t) => {
  const dir = tmpdir(t);
  const old = process.umask(0o027);
  t.after(() => process.umask(old));
  for (const [name, write] of Object.entries(FORMS)) {
    const p = path.join(dir, name, 'a', 'b', 'file');
    await write(p, { createParents: true });
    assert.equal(read(p), 'x', name);
    if (process.platform !== 'win32') assert.equal(fs.statSync(path.join(dir, name, 'a')).mode & 0o777, 0o750, name);
    // The directory exists now: the same call again (or the next) just writes.
    if (!/create/.test(name)) await write(p, { createParents: true });
  }
  await rejectsWith(fslock.writeFileAtomic(path.join(dir, 'f'), 'x', { createParents: 1 }), {
    code: 'ERR_INVALID_ARG_TYPE',
  });
});

test('createParents does not turn a file in the way into a directory', async (t) => {
  const dir = tmpdir(t);
  fs.writeFileSync(path.join(dir, 'file'), 'keep');
  await rejectsWith(fslock.writeFileAtomic(path.join(dir, 'file', 'x'), 'x', { createParents: true }), {
    code: 'ENOTDIR',
  });
  assert.equal(read(path.join(dir, 'file')), 'keep');
});

test('without createParents: ENOENT names the missing directory (the outermost one)', async (t) => {
  const dir = tmpdir(t);
  const missing = path.join(dir, 'nope');
  for (const [name, write] of Object.entries(FORMS)) {
    const p = path.join(missing, 'deeper', 'file');
    const e = await rejectsWith(write(p, {}), { code: 'ENOENT' });
    assert.match(
      e.message,
      new RegExp(`^ENOENT: directory '${missing.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}' does not exist, `),
      name,
    );
    if (name !== 'update') assert.equal(e.path, p, name);
    assert.equal(typeof e.syscall, 'string', name);
  }
  assert.deepEqual(fs.readdirSync(dir), []);
  throwsWith(() => fslock.writeFileAtomicSync(path.join(missing, 'f'), 'x'), {
    code: 'ENOENT',
    path: path.join(missing, 'f'),
  });
});

test('EACCES in a directory the caller cannot write names the directory', { skip: usersSkip() }, async (t) => {
  const dir = tmpdir(t);
  fs.chmodSync(dir, 0o755); // root's: nobody may not create files in it
  const p = path.join(dir, 'writable-file');
  fs.writeFileSync(p, 'old');
  fs.chmodSync(p, 0o666); // ...though nobody may write this file in place
  const code = `const f = require('fslock');
    const p = process.argv[1];
    const out = [];
    try { f.writeFileAtomicSync(p, 'x') } catch (e) { out.push(e.message) }
    f.writeFileAtomic(p, 'x').catch((e) => out.push(e.message)).then(() => process.stdout.write(JSON.stringify(out)));`;
  const messages = JSON.parse(runAsNobody(code, [p]));
  assert.equal(messages.length, 2);
  for (const m of messages) {
    assert.match(m, /^EACCES: permission denied \(directory '.*' is not writable\), /);
    assert.ok(m.includes(`'${dir}'`), m);
    assert.ok(m.endsWith(`'${p}'`), m);
  }
  assert.equal(read(p), 'old');
});

const LOCKS = {
  lock: (p, o) => fslock.lock(p, o),
  lockSync: async (p, o) => fslock.lockSync(p, o),
  withLock: (p, o) => fslock.withLock(p, () => ({ path: p, release: async () => {} }), o),
};

test('locks: createParents makes the lock file directory; without it ENOENT names it', async (t) => {
  const dir = tmpdir(t);
  for (const [name, take] of Object.entries(LOCKS)) {
    const missing = path.join(dir, name);
    const p = path.join(missing, 'a', 'file.lock');
    const e = await rejectsWith(take(p, {}), { code: 'ENOENT', path: p });
    assert.match(
      e.message,
      new RegExp(`^ENOENT: directory '${missing.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}' does not exist, `),
      name,
    );
    assert.equal(fs.existsSync(missing), false, name);
    const l = await take(p, { createParents: true });
    assert.ok(fs.statSync(path.join(missing, 'a')).isDirectory(), name);
    // Held: another attempt on the same file (a new directory exists now) is refused.
    if (name !== 'withLock') {
      await rejectsWith(fslock.lock(p, { wait: false, createParents: true }), { code: 'ELOCKED' });
      await l.release();
    }
  }
  await rejectsWith(fslock.lock(path.join(dir, 'x.lock'), { createParents: 'yes' }), {
    code: 'ERR_INVALID_ARG_TYPE',
  });
  throwsWith(() => fslock.lockSync(path.join(dir, 'x.lock'), { createParents: 0 }), {
    code: 'ERR_INVALID_ARG_TYPE',
  });
});

test(
  'locks: EACCES names the directory when the lock file must be created there, not when it exists',
  { skip: usersSkip() },
  async (t) => {
    const dir = tmpdir(t);
    fs.chmodSync(dir, 0o755); // root's: nobody may not create lock files in it
    const absent = path.join(dir, 'absent.lock');
    const present = path.join(dir, 'present.lock');
    fs.writeFileSync(present, '');
    fs.chmodSync(present, 0o644); // exists, but nobody may not open it for writing
    const code = `const f = require('fslock');
    const out = [];
    for (const p of process.argv.slice(1)) {
      try { f.lockSync(p).releaseSync(); out.push('granted') } catch (e) { out.push(e.code + ' ' + e.message) }
    }
    (async () => {
      for (const p of process.argv.slice(1)) {
        try { await (await f.lock(p)).release(); out.push('granted') } catch (e) { out.push(e.code + ' ' + e.message) }
      }
      process.stdout.write(JSON.stringify(out));
    })();`;
    const [absentSync, presentSync, absentAsync, presentAsync] = JSON.parse(runAsNobody(code, [absent, present]));
    for (const m of [absentSync, absentAsync]) {
      assert.match(m, /^EACCES EACCES: permission denied \(directory '.*' is not writable\), /);
      assert.ok(m.includes(`'${dir}'`) && m.endsWith(`'${absent}'`), m);
    }
    // The existing file is the problem there (native: refused as not writable; the
    // fallback opens it only to read a record, and may be refused or let through).
    for (const m of [presentSync, presentAsync]) assert.doesNotMatch(m, /directory/);
    assert.equal(fs.existsSync(absent), false);
  },
);
