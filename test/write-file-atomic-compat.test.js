'use strict';
// fslock/write-file-atomic against the original write-file-atomic (the devDependency),
// option by option, on disk: each case runs through both on fresh identical files, and
// what is on disk afterwards (content, mode, owner, what else is in the directory) and
// what was thrown or passed to the callback must be the same. The original declares
// Node >= 22.22 in its engines field; it runs on Node 20 as well (checked here on 20.20).
// The differences that are on purpose are asserted as such, with the reason.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const original = require('write-file-atomic');
const dropIn = require('fslock/write-file-atomic');
const { tmpdir, runAsNobody } = require('./helpers');
const { usersSkip, NOBODY } = require('./users');

const IMPLS = { original, dropIn };
const root = process.getuid?.() === 0;

/** What a call left: its outcome, and the file and its directory as they are on disk. */
async function outcome(dir, name, call) {
  const p = path.join(dir, name);
  let result;
  try {
    result = { returned: await call(p) };
  } catch (e) {
    result = { threw: e.code ?? e.message };
  }
  let file;
  try {
    const st = fs.lstatSync(p);
    file = { content: fs.readFileSync(p).toString('hex'), mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  } catch (e) {
    file = e.code;
  }
  return { ...result, file, entries: fs.readdirSync(dir).length };
}

/**
 * Runs `call(impl, path)` against both implementations, each in its own directory with
 * the same `setup(path)` before, and returns both outcomes.
 */
async function both(t, setup, call) {
  const out = {};
  for (const [name, impl] of Object.entries(IMPLS)) {
    const dir = tmpdir(t);
    const p = path.join(dir, 'f');
    setup?.(p);
    out[name] = await outcome(dir, 'f', (target) => call(impl, target));
  }
  return out;
}

function existing(mode = 0o604, owner) {
  return (p) => {
    fs.writeFileSync(p, 'old');
    fs.chmodSync(p, mode);
    if (owner) fs.chownSync(p, owner.uid, owner.gid);
  };
}

const FORMS = {
  promise: (impl, p, data, o) => impl(p, data, o),
  callback: (impl, p, data, o) =>
    new Promise((resolve, reject) => impl(p, data, o, (e) => (e ? reject(e) : resolve()))),
  sync: async (impl, p, data, o) => impl.sync(p, data, o),
};

test('mode: numbers, octal strings, null/undefined/0/falsy — as the original, new and existing files', async (t) => {
  const old = process.umask(0o022);
  t.after(() => process.umask(old));
  const modes = [undefined, null, 0o640, '0640', '640', 0, '', 0o4755, 0o100640, true];
  for (const [form, run] of Object.entries(FORMS)) {
    for (const mode of modes) {
      for (const [what, setup] of [
        ['new', undefined],
        ['existing 0604', existing(0o604)],
      ]) {
        const r = await both(t, setup, (impl, p) => run(impl, p, 'data', { mode }));
        assert.deepEqual(r.dropIn, r.original, `${form}, mode ${JSON.stringify(mode)}, ${what}`);
      }
    }
  }
  // On purpose: the original's promise form throws ERR_INVALID_ARG_TYPE for
  // `mode: false` (it hands it to fs.open), its .sync keeps the mode; the drop-in takes
  // false as "not given" in both forms.
  for (const form of ['promise', 'sync']) {
    const r = await both(t, existing(0o604), (impl, p) => FORMS[form](impl, p, 'data', { mode: false }));
    assert.equal(r.dropIn.file.mode, 0o604, `drop-in, ${form}: mode false keeps the mode`);
    if (form === 'sync') assert.deepEqual(r.dropIn, r.original);
    else assert.equal(r.original.threw, 'ERR_INVALID_ARG_TYPE');
  }
});

test('encoding (option and string argument), fsync, data forms — as the original', async (t) => {
  const cases = [
    ['é', 'latin1'],
    ['é', { encoding: 'latin1' }],
    ['aGk=', { encoding: 'base64' }],
    ['x', { encoding: null }],
    ['x', { fsync: false }],
    ['x', { fsync: true }],
    [Buffer.from('buffer'), {}],
    [new Uint8Array([1, 2, 3]), {}],
    [42, {}],
    [null, {}],
    [undefined, {}],
    [{ toString: () => 'object' }, {}],
  ];
  for (const [form, run] of Object.entries(FORMS)) {
    for (const [data, o] of cases) {
      if (form === 'callback' && typeof o === 'string') continue; // (p, data, 'enc', cb) below
      // A copy each time: the original's promise form stores the old mode and owner into
      // the options object it is given.
      const r = await both(t, existing(), (impl, p) => run(impl, p, data, typeof o === 'string' ? o : { ...o }));
      assert.deepEqual(r.dropIn, r.original, `${form}, ${String(data)}, ${JSON.stringify(o)}`);
    }
  }
  const r = await both(t, undefined, (impl, p) => new Promise((resolve) => impl(p, 'é', 'latin1', resolve)));
  assert.deepEqual(r.dropIn, r.original, 'callback form with an encoding string');
  // On purpose: a view of wider elements is written whole; the original writes
  // `data.length` bytes (elements, not bytes) and cuts it.
  const wide = await both(t, undefined, (impl, p) => impl.sync(p, new Uint16Array([0x4241, 0x4443])));
  assert.equal(wide.dropIn.file.content, Buffer.from('ABCD').toString('hex'));
  assert.equal(wide.original.file.content, Buffer.from('AB').toString('hex'));
});

test('the callback: called with (undefined) or (err), the promise resolves to what it returns', async (t) => {
  for (const [name, impl] of Object.entries(IMPLS)) {
    const dir = tmpdir(t);
    const calls = [];
    const ret = await impl(path.join(dir, 'a'), 'x', (...args) => {
      calls.push(args);
      return 'returned';
    });
    assert.deepEqual(calls, [[undefined]], `${name}: success`);
    assert.equal(ret, 'returned', name);
    const fails = [];
    await impl(path.join(dir, 'missing', 'a'), 'x', {}, (...args) => fails.push(args));
    assert.equal(fails.length, 1, name);
    assert.equal(fails[0].length, 1, name);
    assert.equal(fails[0][0].code, 'ENOENT', name);
    // A callback that throws is called again with what it threw (both are async functions
    // that catch around it); a second throw rejects the promise.
    const seen = [];
    await assert.rejects(
      impl(path.join(dir, 'b'), 'x', (e) => {
        seen.push(e?.message);
        throw new Error(`boom ${seen.length}`);
      }),
      { message: 'boom 2' },
    );
    assert.deepEqual(seen, [undefined, 'boom 1'], name);
  }
});

test('tmpfileCreated: called once with a temp path beside the target that exists then; a throw fails the write', async (t) => {
  for (const [form, run] of Object.entries(FORMS)) {
    const seen = {};
    const r = await both(t, existing(), (impl, p) => {
      const calls = [];
      seen[impl === original ? 'original' : 'dropIn'] = calls;
      return run(impl, p, 'data', {
        tmpfileCreated: (tmp) => calls.push([path.dirname(tmp) === path.dirname(p), fs.existsSync(tmp)]),
      });
    });
    assert.deepEqual(r.dropIn, r.original, form);
    assert.deepEqual(seen.dropIn, seen.original, form);
    assert.deepEqual(seen.dropIn, [[true, true]], form);
    const veto = await both(t, existing(), (impl, p) =>
      run(impl, p, 'data', {
        tmpfileCreated: () => {
          throw Object.assign(new Error('veto'), { code: 'EVETO' });
        },
      }),
    );
    assert.deepEqual(veto.dropIn, veto.original, `${form}: throwing tmpfileCreated`);
    assert.equal(veto.dropIn.threw, 'EVETO');
  }
});

test('chown and mode, root and not: the owner as the original leaves it', { skip: usersSkip() }, async (t) => {
  const nobody = { uid: NOBODY.uid, gid: NOBODY.gid };
  const cases = [
    ['no options, a file of nobody', existing(0o600, nobody), {}],
    ['mode only, a file of nobody (the owner stays)', existing(0o600, nobody), { mode: 0o640 }],
    ['chown only', existing(0o604, nobody), { chown: { uid: 1234, gid: 1235 } }],
    ['chown and mode', existing(0o604, nobody), { chown: { uid: 1234, gid: 1235 }, mode: '0600' }],
    ['chown: null (not given)', existing(0o604, nobody), { chown: null }],
    ['new file, chown', undefined, { chown: { uid: 1234, gid: 1235 } }],
  ];
  for (const [form, run] of Object.entries(FORMS)) {
    for (const [what, setup, o] of cases) {
      const r = await both(t, setup, (impl, p) => run(impl, p, 'data', { ...o }));
      assert.deepEqual(r.dropIn, r.original, `${form}: ${what}`);
    }
  }
  // As nobody: a chown to root is not permitted and not an error (isChownErrOk).
  const code = (impl) => `const w = require(${JSON.stringify(impl)});
    const [p] = process.argv.slice(1);
    w.sync(p + '-sync', 'sync', { chown: { uid: 0, gid: 0 } });
    w(p + '-async', 'async', { chown: { uid: 0, gid: 0 } }).then(() => process.stdout.write('ok'), (e) => process.stdout.write(e.code));`;
  for (const [name, impl] of [
    ['original', require.resolve('write-file-atomic')],
    ['dropIn', 'fslock/write-file-atomic'],
  ]) {
    const dir = tmpdir(t);
    fs.chmodSync(dir, 0o777);
    const p = path.join(dir, 'n');
    // The original is loaded from the checkout: nobody must be able to reach it.
    if (name === 'original') {
      const reach = runAsNobody(
        `try { require(${JSON.stringify(impl)}); process.stdout.write('y') } catch { process.stdout.write('n') }`,
      );
      if (reach !== 'y') {
        t.diagnostic(`nobody cannot load the original from ${impl}: compared for the drop-in only`);
        continue;
      }
    }
    assert.equal(runAsNobody(code(impl), [p]), 'ok', name);
    for (const f of [`${p}-sync`, `${p}-async`]) assert.equal(fs.statSync(f).uid, NOBODY.uid, `${name}: ${f}`);
  }
});

test(
  "configstore's sudo sequence: root rewrites a user's 0600 config with { mode: 0o600 }, the user can still write it",
  { skip: usersSkip() },
  async (t) => {
    // configstore (set all): mkdirSync(dirname, { mode: 0o700, recursive: true }), then
    // writeFileAtomic.sync(path, JSON, { mode: 0o600 }). Run once under sudo, then as the user.
    for (const [name, impl, spec] of [
      ['original', original, require.resolve('write-file-atomic')],
      ['dropIn', dropIn, 'fslock/write-file-atomic'],
    ]) {
      const parent = tmpdir(t);
      fs.chmodSync(parent, 0o755);
      const dir = path.join(parent, 'configstore');
      fs.mkdirSync(dir, { mode: 0o700 });
      fs.chownSync(dir, NOBODY.uid, NOBODY.gid);
      const config = path.join(dir, 'update-notifier-pkg.json');
      fs.writeFileSync(config, '{}');
      fs.chmodSync(config, 0o600);
      fs.chownSync(config, NOBODY.uid, NOBODY.gid);
      // "sudo": root, the same calls configstore makes.
      fs.mkdirSync(path.dirname(config), { mode: 0o700, recursive: true });
      impl.sync(config, JSON.stringify({ lastUpdateCheck: 1 }, undefined, '\t'), { mode: 0o600 });
      const st = fs.statSync(config);
      assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [NOBODY.uid, NOBODY.gid, 0o600], `${name}: owner kept`);
      // The user again: configstore's write must succeed.
      const code = `const w = require(${JSON.stringify(spec)});
        w.sync(process.argv[1], '{"lastUpdateCheck":2}', { mode: 0o600 }); process.stdout.write('ok');`;
      let out;
      try {
        out = runAsNobody(code, [config]);
      } catch (e) {
        out = String(e.stdout || e.message);
      }
      if (name === 'original' && /Cannot find module/.test(out)) {
        t.diagnostic('nobody cannot load the original from the checkout: its second step is not run');
        continue;
      }
      assert.equal(out, 'ok', `${name}: the user writes their config again`);
      assert.equal(fs.readFileSync(config, 'utf8'), '{"lastUpdateCheck":2}');
    }
  },
);

test(
  'root: mode only keeps the owner in fslock itself too (both backends)',
  { skip: !root || usersSkip() },
  async (t) => {
    const { fslock } = require('./helpers');
    const dir = tmpdir(t);
    for (const [i, write] of [
      (p) => fslock.writeFileAtomic(p, 'x', { mode: 0o640 }),
      async (p) => fslock.writeFileAtomicSync(p, 'x', { mode: '0640' }),
      (p) => fslock.writeFileAtomic(p, ['x'], { mode: 0o640 }),
      (p) => fslock.update(p, () => 'x', { mode: 0o640 }),
    ].entries()) {
      const p = path.join(dir, `f${i}`);
      existing(0o600, NOBODY)(p);
      await write(p);
      const st = fs.statSync(p);
      assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [NOBODY.uid, NOBODY.gid, 0o640], `form ${i}`);
    }
  },
);
