'use strict';
// Atomic files at the edges of their input: createUnique and createExclusive never touch
// an existing name in any combination of API form, signal and data form; views on a
// SharedArrayBuffer are written like any other view; Buffer paths that are not valid
// UTF-8 keep their exact bytes, as node:fs does. Both backends (scripts/test.js).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { fslock, tmpdir, rejectsWith, throwsWith, keptLockFiles } = require('./helpers');
const wfa = require('fslock/write-file-atomic');

const win32 = process.platform === 'win32';
const bytes = (p) => fs.readFileSync(p);

/** The data forms, each with the bytes it stands for. `iterable`: promise API only. */
function dataForms() {
  const sab = new SharedArrayBuffer(16);
  new Uint8Array(sab).set(Buffer.from('shared-bytes-xyz'));
  return [
    { name: 'string', data: () => 'string data', bytes: Buffer.from('string data') },
    { name: 'Buffer', data: () => Buffer.from('buffer data'), bytes: Buffer.from('buffer data') },
    { name: 'Uint16Array', data: () => new Uint16Array([0x6261, 0x6463]), bytes: Buffer.from('abcd') },
    {
      name: 'DataView with offset',
      data: () => new DataView(new Uint8Array(Buffer.from('..view..')).buffer, 2, 4),
      bytes: Buffer.from('view'),
    },
    { name: 'view on a SharedArrayBuffer', data: () => new Uint8Array(sab, 7, 5), bytes: Buffer.from('bytes') },
    {
      name: 'async iterable',
      iterable: true,
      data: () =>
        (async function* () {
          yield 'it';
          yield Buffer.from('er');
          yield new Uint8Array(sab, 0, 6);
        })(),
      bytes: Buffer.from('itershared'),
    },
    { name: 'array of chunks', iterable: true, data: () => ['a', Buffer.from('b')], bytes: Buffer.from('ab') },
  ];
}

/** Every way to call createUnique: sync, promise, promise with a signal that never fires. */
const uniqueCalls = [
  { name: 'createUniqueSync', sync: true, call: (d, n, data, o) => fslock.createUniqueSync(d, n, data, o) },
  { name: 'createUnique', call: (d, n, data, o) => fslock.createUnique(d, n, data, o) },
  {
    name: 'createUnique + signal',
    call: (d, n, data, o) => fslock.createUnique(d, n, data, { ...o, signal: new AbortController().signal }),
  },
  {
    name: 'createUnique + timeout signal',
    call: (d, n, data, o) => fslock.createUnique(d, n, data, { ...o, signal: AbortSignal.timeout(600_000) }),
  },
];

test('createUnique never touches an existing name: every API form, signal, data form and fsync', async (t) => {
  const base = tmpdir(t);
  let n = 0;
  for (const form of dataForms()) {
    for (const c of uniqueCalls) {
      for (const fsync of [true, false]) {
        const dir = path.join(base, String(n++));
        fs.mkdirSync(dir);
        const existing = path.join(dir, 'report-0.txt');
        fs.writeFileSync(existing, 'precious, not ours');
        const before = fs.statSync(existing);
        const what = `${c.name}, ${form.name}, fsync ${fsync}`;
        if (form.iterable && c.sync) {
          // The synchronous forms take a string or a view only.
          throwsWith(() => c.call(dir, (i) => `report-${i}.txt`, form.data(), { fsync }), {
            code: 'ERR_INVALID_ARG_TYPE',
          });
          assert.deepEqual(fs.readdirSync(dir), ['report-0.txt'], what);
        } else {
          const got = await c.call(dir, (i) => `report-${i}.txt`, form.data(), { fsync });
          assert.equal(got, path.join(dir, 'report-1.txt'), what);
          assert.deepEqual(bytes(got), form.bytes, what);
          assert.deepEqual(fs.readdirSync(dir).sort(), ['report-0.txt', 'report-1.txt'], what);
        }
        const after = fs.statSync(existing);
        assert.equal(fs.readFileSync(existing, 'utf8'), 'precious, not ours', what);
        assert.equal(after.ino, before.ino, `${what}: report-0.txt replaced`);
        assert.equal(after.mtimeMs, before.mtimeMs, `${what}: report-0.txt written`);
      }
    }
  }
});

test('createUnique with a signal past a run of taken names (the directory listing) still skips them all', async (t) => {
  const dir = tmpdir(t);
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(dir, `n-${i}`), `old ${i}`);
  for (const c of uniqueCalls) {
    const got = await c.call(dir, (i) => `n-${i}`, `new by ${c.name}`, { fsync: false });
    assert.equal(fs.readFileSync(got, 'utf8'), `new by ${c.name}`);
  }
  for (let i = 0; i < 20; i++) assert.equal(fs.readFileSync(path.join(dir, `n-${i}`), 'utf8'), `old ${i}`);
  assert.deepEqual(fs.readdirSync(dir).length, 20 + uniqueCalls.length, 'a temp file left, or a file missing');
});

test('createExclusive never touches an existing file: every API form, signal and data form', async (t) => {
  const dir = tmpdir(t);
  const p = path.join(dir, 'entry');
  fs.writeFileSync(p, 'precious');
  const ino = fs.statSync(p).ino;
  const calls = [
    { sync: true, call: (data) => fslock.createExclusiveSync(p, data) },
    { call: (data) => fslock.createExclusive(p, data) },
    { call: (data) => fslock.createExclusive(p, data, { signal: new AbortController().signal }) },
    { call: (data) => fslock.createExclusive(p, data, { fsync: false, signal: AbortSignal.timeout(600_000) }) },
  ];
  for (const form of dataForms()) {
    for (const c of calls) {
      if (form.iterable && c.sync) {
        throwsWith(() => c.call(form.data()), { code: 'ERR_INVALID_ARG_TYPE' });
      } else if (c.sync) {
        throwsWith(() => c.call(form.data()), { code: 'EEXIST', path: p });
      } else {
        await rejectsWith(c.call(form.data()), { code: 'EEXIST', path: p });
      }
      assert.equal(fs.readFileSync(p, 'utf8'), 'precious', form.name);
      assert.equal(fs.statSync(p).ino, ino);
      assert.deepEqual(fs.readdirSync(dir), ['entry'], `${form.name}: temp file left`);
    }
  }
  // And a new name gets each form's bytes.
  for (const [i, form] of dataForms().entries()) {
    const q = path.join(dir, `new-${i}`);
    await fslock.createExclusive(q, form.data(), { signal: new AbortController().signal });
    assert.deepEqual(bytes(q), form.bytes, form.name);
  }
});

test('views on a SharedArrayBuffer: written (copied at the call) by every API, like node:fs', async (t) => {
  const dir = tmpdir(t);
  const sab = new SharedArrayBuffer(12);
  new Uint8Array(sab).set(Buffer.from('0123456789AB'));
  const u8 = new Uint8Array(sab, 2, 4); // '2345'
  const i16 = new Int16Array(sab, 4, 2); // '4567'
  const dv = new DataView(sab, 8, 4); // '89AB'
  const p = (n) => path.join(dir, n);
  fslock.writeFileAtomicSync(p('a'), u8);
  await fslock.writeFileAtomic(p('b'), i16);
  await fslock.writeFileAtomic(p('c'), dv, { signal: new AbortController().signal });
  fslock.createExclusiveSync(p('d'), dv);
  await fslock.createExclusive(p('e'), u8);
  const f = fslock.createUniqueSync(dir, (i) => `f${i}`, i16);
  const g = await fslock.createUnique(dir, (i) => `g${i}`, u8, { signal: new AbortController().signal });
  await fslock.update(p('h'), () => dv);
  wfa.sync(p('i'), u8);
  await wfa(p('j'), i16, { tmpfileCreated: () => undefined });
  const expect = {
    a: '2345',
    b: '4567',
    c: '89AB',
    d: '89AB',
    e: '2345',
    f0: '4567',
    g0: '2345',
    h: '89AB',
    i: '2345',
    j: '4567',
  };
  assert.equal(f, p('f0'));
  assert.equal(g, p('g0'));
  for (const [n, v] of Object.entries(expect)) assert.equal(fs.readFileSync(p(n), 'latin1'), v, n);
  // node:fs takes them too: the same answer.
  fs.writeFileSync(p('node'), u8);
  assert.equal(fs.readFileSync(p('node'), 'latin1'), '2345');
});

test(
  'Buffer paths that are not valid UTF-8 keep their bytes (a\\xff and a\\xfe are two files)',
  { skip: win32 && 'Windows names are UTF-16: node:fs reads a Buffer path as UTF-8 there' },
  async (t) => {
    const dir = tmpdir(t);
    const b = (name) => Buffer.concat([Buffer.from(dir + '/'), Buffer.from(name, 'latin1')]);
    const names = () =>
      fs
        .readdirSync(dir, { encoding: 'buffer' })
        .map((n) => n.toString('latin1'))
        .sort();
    fslock.writeFileAtomicSync(b('a\xff.json'), 'ff sync');
    await fslock.writeFileAtomic(b('a\xfe.json'), 'fe async');
    assert.deepEqual(names(), ['a\xfe.json', 'a\xff.json']);
    assert.equal(fs.readFileSync(b('a\xff.json'), 'utf8'), 'ff sync');
    assert.equal(fs.readFileSync(b('a\xfe.json'), 'utf8'), 'fe async');
    // Replaced in place, with a signal and with chunks too.
    await fslock.writeFileAtomic(b('a\xff.json'), ['ff ', 'chunks'], { signal: new AbortController().signal });
    await fslock.writeFileAtomic(b('a\xfe.json'), 'fe signal', { signal: new AbortController().signal });
    assert.equal(fs.readFileSync(b('a\xff.json'), 'utf8'), 'ff chunks');
    assert.equal(fs.readFileSync(b('a\xfe.json'), 'utf8'), 'fe signal');
    // Exclusive create: the other name is a different file, not EEXIST.
    fslock.createExclusiveSync(b('x\xff'), 'x ff');
    await fslock.createExclusive(b('x\xfe'), 'x fe');
    await rejectsWith(fslock.createExclusive(b('x\xff'), 'again'), { code: 'EEXIST', path: `${dir}/x\ufffd` });
    // createUnique in a directory whose name is not UTF-8 returns its exact bytes.
    fs.mkdirSync(b('d\xff'));
    fs.writeFileSync(Buffer.concat([b('d\xff'), Buffer.from('/u0')]), 'taken');
    const u = fslock.createUniqueSync(b('d\xff'), (i) => `u${i}`, 'unique');
    assert.ok(Buffer.isBuffer(u), 'a Buffer path for a name a string cannot hold');
    assert.deepEqual(u, Buffer.concat([b('d\xff'), Buffer.from('/u1')]));
    const v = await fslock.createUnique(b('d\xff'), (i) => `u${i}`, 'unique 2', {
      signal: new AbortController().signal,
    });
    assert.deepEqual(v, Buffer.concat([b('d\xff'), Buffer.from('/u2')]));
    assert.equal(fs.readFileSync(v, 'utf8'), 'unique 2');
    // A valid UTF-8 Buffer is an ordinary path (a string comes back).
    assert.equal(
      fslock.createUniqueSync(Buffer.from(dir), (i) => `plain${i}`, 'p'),
      path.join(dir, 'plain0'),
    );
    // moveAtomic between such names, with and without replacing.
    fslock.moveAtomicSync(b('x\xff'), b('y\xff'));
    await rejectsWith(fslock.moveAtomic(b('x\xfe'), b('y\xff'), { overwrite: false }), { code: 'EEXIST' });
    await fslock.moveAtomic(b('x\xfe'), b('y\xfe'), { overwrite: false });
    assert.equal(fs.readFileSync(b('y\xff'), 'utf8'), 'x ff');
    assert.equal(fs.readFileSync(b('y\xfe'), 'utf8'), 'x fe');
    // update() on such a path (its lock file is `<bytes>.lock`, kept).
    await fslock.update(b('c\xff'), (cur) => String(Number(cur ?? 0) + 1));
    await fslock.update(b('c\xff'), (cur) => String(Number(cur ?? 0) + 1));
    assert.equal(fs.readFileSync(b('c\xff'), 'utf8'), '2');
    // A relative Buffer path is resolved against the working directory, bytes kept.
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      fslock.writeFileAtomicSync(Buffer.from('r\xff', 'latin1'), 'relative');
    } finally {
      process.chdir(cwd);
    }
    assert.equal(fs.readFileSync(b('r\xff'), 'utf8'), 'relative');
    // No name with U+FFFD (the lossy conversion) was ever written, and no temp file is left.
    const all = names();
    assert.ok(
      !all.some((n) => Buffer.from(n, 'latin1').toString('utf8') !== n && n.includes('\xef\xbf\xbd')),
      all.join(),
    );
    assert.deepEqual(
      all.filter((n) => n.startsWith('.')),
      [],
      'temp files left',
    );
    assert.deepEqual(
      all,
      keptLockFiles(dir, [
        'a\xfe.json',
        'a\xff.json',
        'c\xff',
        'c\xff.lock',
        'd\xff',
        'plain0',
        'r\xff',
        'y\xfe',
        'y\xff',
      ]),
    );
  },
);
