'use strict';
// Holder names (issue 24): a lock file's record names its holder as a person knows it —
// the title the program set, the command a package installs the script as (`jest` for
// node_modules/jest/bin/jest.js, through node_modules/.bin too), the package and file
// for another file of a package, the script's file name (`build.js`), or options.name —
// and lockHolder(), onWait and error messages say it ("held by pid 4121 (jest) on
// build-7 since 12:01:33"). Names read back are untrusted: anything but a short plain
// string is dropped, the record kept. Records of fslock 0.1 and 0.2 (no name) still
// parse, and 0.1's parser reads records with a name.
const { test, suite } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { fslock, tmpdir, spawnFixture, rejectsWith, throwsWith } = require('./helpers');
const v1 = require('./fixtures/v1/record');

const HOST = os.hostname();
const REPO = path.join(__dirname, '..');
const HEADER = '{"fslock":2}\n';

/** The script each program runs: takes the lock, prints the lock file's content. */
const SCRIPT = `
const fs = require('node:fs');
const fslock = require(${JSON.stringify(REPO)});
const file = process.env.LOCK_FILE;
const o = JSON.parse(process.env.LOCK_OPTS);
if (o.title) process.title = o.title;
const l = fslock.lockSync(file, o.name === undefined ? {} : { name: o.name });
process.stdout.write(fs.readFileSync(file, 'utf8'));
l.releaseSync();
`;

/** The last record of a lock file's content. */
function lastRecord(text) {
  const lines = text.split('\n').filter((l) => l.startsWith('{"v"'));
  return JSON.parse(lines[lines.length - 1]);
}

/** Runs `argv` (node + script, or node -e) and returns the name its record gave. */
function nameOf(argv, file, opts) {
  const out = execFileSync(process.execPath, [...argv, file], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, LOCK_FILE: file, LOCK_OPTS: JSON.stringify(opts ?? {}) },
  });
  return lastRecord(out).name;
}

function write(file, text) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

suite(`the name a record gives its holder (${fslock.backend})`, () => {
  test("a script's own name; a package's command (string and object bin, scoped, through .bin); a package's other file", (t) => {
    const dir = tmpdir(t);
    const file = path.join(dir, 'x.lock');
    const nm = path.join(dir, 'node_modules');
    write(path.join(dir, 'build.js'), SCRIPT);
    write(path.join(nm, 'jest', 'package.json'), JSON.stringify({ name: 'jest', bin: './bin/jest.js' }));
    write(path.join(nm, 'jest', 'bin', 'jest.js'), SCRIPT);
    write(path.join(nm, 'jest', 'lib', 'worker.js'), SCRIPT);
    write(
      path.join(nm, '@acme', 'tool', 'package.json'),
      JSON.stringify({ name: '@acme/tool', bin: { 'acme-build': 'cli.js', other: 'other.js' } }),
    );
    write(path.join(nm, '@acme', 'tool', 'cli.js'), SCRIPT);
    write(path.join(nm, '@scoped', 'one', 'package.json'), JSON.stringify({ name: '@scoped/one', bin: 'run.js' }));
    write(path.join(nm, '@scoped', 'one', 'run.js'), SCRIPT);
    fs.mkdirSync(path.join(nm, '.bin'));
    fs.symlinkSync('../@acme/tool/cli.js', path.join(nm, '.bin', 'acme-build'));

    assert.equal(nameOf([path.join(dir, 'build.js')], file), 'build.js');
    assert.equal(nameOf([path.join(nm, 'jest', 'bin', 'jest.js')], file), 'jest');
    assert.equal(nameOf([path.join(nm, 'jest', 'bin', 'jest')], file), 'jest', 'the script named without .js');
    assert.equal(nameOf([path.join(nm, '@acme', 'tool', 'cli.js')], file), 'acme-build');
    assert.equal(nameOf([path.join(nm, '.bin', 'acme-build')], file), 'acme-build');
    assert.equal(nameOf([path.join(nm, '@scoped', 'one', 'run.js')], file), 'one', 'a string bin: the package name');
    assert.equal(nameOf([path.join(nm, 'jest', 'lib', 'worker.js')], file), 'jest/worker.js');
  });

  test('process.title when the program set one; options.name over both; none for node -e', (t) => {
    const dir = tmpdir(t);
    const file = path.join(dir, 'x.lock');
    write(path.join(dir, 'build.js'), SCRIPT);
    const script = [path.join(dir, 'build.js')];
    if (process.platform !== 'win32') assert.equal(nameOf(script, file, { title: 'cache-daemon' }), 'cache-daemon');
    assert.equal(nameOf(script, file, { title: 'x', name: 'build-7 cache' }), 'build-7 cache');
    assert.equal(nameOf(script, file, { name: 'ビルド 🔒' }), 'ビルド 🔒');
    // node -e: process.argv[1] is the first argument (here the lock file), not a script.
    assert.equal(nameOf(['-e', SCRIPT], file), undefined, 'no script, no title: no name');
    assert.equal(nameOf(['--eval', SCRIPT], file), undefined);
    const long = 't'.repeat(100);
    if (process.platform !== 'win32')
      assert.equal(nameOf(script, file, { title: long }), `${'t'.repeat(63)}…`, 'a long title is cut to 64');
  });

  test('options.name is checked: a string of 1 to 64 characters without control characters', async (t) => {
    const file = path.join(tmpdir(t), 'n.lock');
    for (const bad of ['', 'x'.repeat(65), 'red\u001b[31m', 'a\nb', '\u202eevil', '\ud800'])
      await rejectsWith(fslock.lock(file, { name: bad }), { code: 'ERR_INVALID_ARG_VALUE' });
    await rejectsWith(fslock.lock(file, { name: 42 }), { code: 'ERR_INVALID_ARG_TYPE' });
    throwsWith(() => fslock.lockSync(file, { name: null }), { code: 'ERR_INVALID_ARG_TYPE' });
    await rejectsWith(
      fslock.update(path.join(tmpdir(t), 'data'), () => 'x', { name: '' }),
      { code: 'ERR_INVALID_ARG_VALUE' },
    );
    const l = await fslock.lock(file, { name: 'x'.repeat(64) });
    assert.equal((await fslock.lockHolder(file)).name, 'x'.repeat(64));
    await l.release();
  });

  test('lockHolder() and error messages name a holder in another process', async (t) => {
    const file = path.join(tmpdir(t), 'h.lock');
    const h = spawnFixture(t, 'lock-op.js', ['lock', file, JSON.stringify({ hold: true, name: 'jest' })]);
    const { pid } = await h.next('started');
    await h.next('granted');
    const holder = await fslock.lockHolder(file);
    assert.deepEqual(
      { ...holder, since: undefined },
      {
        pid,
        hostname: HOST,
        since: undefined,
        shared: false,
        record: true,
        name: 'jest',
      },
    );
    const since = holder.since;
    const clock = [since.getHours(), since.getMinutes(), since.getSeconds()]
      .map((n) => String(n).padStart(2, '0'))
      .join(':');
    const who = `pid ${pid} \\(jest\\) on ${HOST.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} since ${clock}`;
    const e1 = await rejectsWith(fslock.lock(file, { wait: false }), { code: 'ELOCKED' });
    assert.match(e1.message, new RegExp(`^ELOCKED: lock is held by ${who}, and options\\.wait is false: `));
    assert.match(e1.message, new RegExp(`find out why pid ${pid} \\(jest\\) holds it, lock '`));
    const e2 = await rejectsWith(fslock.lock(file, { timeout: 20 }), { code: 'ETIMEDOUT' });
    assert.match(
      e2.message,
      new RegExp(
        `^ETIMEDOUT: lock not acquired within 20 ms \\(options\\.timeout\\), held by ${who}; raise options\\.timeout, or find out why pid ${pid} \\(jest\\) holds it, lock '`,
      ),
    );
    const e3 = throwsWith(() => fslock.lockSync(file, { timeout: 20 }), { code: 'ETIMEDOUT' });
    assert.match(e3.message, /\(options\.timeout\), held by pid \d+ \(jest\)/);
    const e4 = await rejectsWith(
      fslock.update(file.replace(/\.lock$/, ''), () => 'x', { timeout: 20 }),
      { code: 'ETIMEDOUT' },
    );
    assert.match(e4.message, /\(jest\)/);
    h.send({ type: 'release' });
    await h.next('released');
  });
});

suite(`names read from lock files are untrusted (${fslock.backend})`, () => {
  /** A lock file held by a live fallback record of this process, with `name` as JSON. */
  function recordWith(name) {
    const line = `{"v":1,"id":"n","backend":"fallback","mode":"exclusive","pid":${process.pid},"hostname":${JSON.stringify(HOST)},"since":${Date.now()},"lease":10000${name === undefined ? '' : `,"name":${name}`}}\n`;
    return HEADER + line;
  }

  test('a name that is not a short plain string is dropped; the record still holds the lock', async (t) => {
    const dir = tmpdir(t);
    const cases = [
      [JSON.stringify('\u001b[2J\u001b[31mred'), undefined],
      [JSON.stringify('n'.repeat(65)), undefined],
      [JSON.stringify('a\u202ecba'), undefined],
      ['"\\ud800"', undefined],
      ['42', undefined],
      ['null', undefined],
      ['{"toString":1}', undefined],
      ['["jest"]', undefined],
      [JSON.stringify(''), undefined],
      [JSON.stringify('n'.repeat(64)), 'n'.repeat(64)],
      [JSON.stringify('jest'), 'jest'],
      [undefined, undefined], // fslock 0.2: no name
    ];
    for (const [i, [json, expected]] of cases.entries()) {
      const file = path.join(dir, `${i}.lock`);
      fs.writeFileSync(file, recordWith(json));
      const h = await fslock.lockHolder(file);
      assert.equal(h?.pid, process.pid, `case ${i}: the record is kept (${json})`);
      assert.equal(h.name, expected, `case ${i}`);
      assert.equal('name' in h, expected !== undefined, `case ${i}: no name property when none is shown`);
      await rejectsWith(fslock.lock(file, { wait: false }), { code: 'ELOCKED' });
    }
  });

  test('records of fslock 0.1 (no lease, no name) parse; 0.1 reads records that carry a name', async (t) => {
    const file = path.join(tmpdir(t), 'v1.lock');
    fs.writeFileSync(
      file,
      `{"v":1,"id":"o","backend":"fallback","mode":"shared","pid":${process.pid},"hostname":${JSON.stringify(HOST)},"since":${Date.now()}}\n`,
    );
    const h = await fslock.lockHolder(file);
    assert.equal(h.pid, process.pid);
    assert.equal(h.name, undefined);
    // This version's own record, read by 0.1's parser.
    const mine = path.join(tmpdir(t), 'mine.lock');
    const l = await fslock.lock(mine, { keep: true, name: 'jest' });
    const records = v1.parseRecords(fs.readFileSync(mine, 'utf8'));
    assert.equal(records.length, 1);
    assert.equal(records[0].pid, process.pid);
    assert.equal(records[0].name, 'jest');
    await l.release();
  });
});
