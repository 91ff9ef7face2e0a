'use strict';
// Lock-file content is untrusted input (issue 13, "Must show"): ≥ 10,000 fuzzed
// contents (random bytes, truncated and garbled records, extreme numbers, huge
// hostnames and holder names, deep nesting, many lines, files over 64 KB and one of 10 MB). For each:
// lock({wait:false}), lockSync({wait:false}), lock({timeout: 0 or a few ms}),
// isLocked(), lockHolder() and lockHolder({ stale: true }) only ever succeed or fail with documented codes;
// lockHolder() gives undefined or a Holder (with a record: its `since` a valid Date; a name,
// if any, 1-64 characters without control characters); a content
// that is not an fslock lock file is left byte-identical; no descriptor leaks and
// nothing is thrown outside a call. Deterministic: the seed is printed on failure
// (FSLOCK_FUZZ_SEED=n repeats a run; FSLOCK_FUZZ_COUNT=n changes its size;
// FSLOCK_STRESS=1 runs 100,000).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { fslock, native, openFds, stress } = require('./helpers');

const SEED = Number(process.env.FSLOCK_FUZZ_SEED ?? 0x13f00d);
const COUNT = Number(process.env.FSLOCK_FUZZ_COUNT ?? (stress ? 100_000 : 10_000));
const HOST = os.hostname();

/** mulberry32: a small deterministic PRNG. */
function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  const pick = (arr) => arr[int(arr.length)];
  const bytes = (n) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = int(256);
    return b;
  };
  return { next, int, pick, bytes };
}

const HEADER = '{"fslock":2}\n';
const weird = {
  since: [
    1e20,
    -1e20,
    -1,
    0,
    1.5,
    8.64e15,
    8.64e15 + 1,
    Number.MAX_VALUE,
    -Number.MAX_VALUE,
    Date.now(),
    'NaN',
    '"NaN"',
    '"Infinity"',
    '1e999',
    '-1e999',
    '"1e20"',
    'null',
    'true',
    '{}',
    '[]',
    '"2024-01-01"',
    '-0',
    '1e-300',
  ],
  pid: [
    -1,
    0,
    1,
    process.pid,
    2 ** 31,
    2 ** 31 - 1,
    2 ** 53,
    1e300,
    -0,
    1.5,
    '"123"',
    'NaN',
    'null',
    '1e999',
    '"x"',
    '[]',
    4194304,
    999999999,
  ],
  hostname: [
    '""',
    JSON.stringify(HOST),
    '"other-host"',
    'null',
    '42',
    JSON.stringify('h'.repeat(70_000)),
    JSON.stringify('\u0000\n\r"\\'),
    JSON.stringify('\ud800'),
    '"\\ud800"',
    JSON.stringify('é💥'),
    '{}',
  ],
  mode: ['"exclusive"', '"shared"', '"EXCLUSIVE"', '""', 'null', '1', '["shared"]'],
  backend: ['"native"', '"fallback"', '"other"', 'null', '0'],
  id: ['"a"', '""', 'null', '1', JSON.stringify('i'.repeat(50_000)), '"__proto__"', '"constructor"', '{}'],
  lease: [10_000, 0, -1, 1e20, 'NaN', 'null', '"10"', 1, 1e-9],
  v: [1, 2, 0, -1, '"1"', 'null', 1e20],
  name: [
    '"jest"',
    '""',
    JSON.stringify('n'.repeat(64)),
    JSON.stringify('n'.repeat(65)),
    JSON.stringify('n'.repeat(70_000)),
    '"\\u001b[2J\\u001b[31mred"',
    '"\\ud800"',
    JSON.stringify('a\u202ecba'),
    '"a\\nb"',
    JSON.stringify('é💥'),
    'null',
    '42',
    '{}',
    '["jest"]',
  ],
};

/** Holder names are drawn from a PRNG of their own: the other fields' sequence stays that of before. */
const names = prng(SEED ^ 0x5a5a);

/** A record line with each field drawn normally or from `weird`, sometimes dropped or doubled. */
function record(r, hostile, small = false) {
  const field = (name, normal) => {
    if (hostile && r.next() < 0.35) {
      const v = r.pick(weird[name]);
      return small && String(v).length > 100 ? normal : v;
    }
    return normal;
  };
  const parts = [
    ['v', field('v', 1)],
    ['id', field('id', JSON.stringify(`id${r.int(50)}`))],
    ['backend', field('backend', r.pick(['"native"', '"fallback"']))],
    ['mode', field('mode', r.pick(['"exclusive"', '"shared"']))],
    // Live processes (this one, init) on this host stand for held locks.
    ['pid', field('pid', r.pick([process.pid, 1, 2 ** 22 + r.int(1000), 99999999]))],
    ['hostname', field('hostname', JSON.stringify(r.next() < 0.6 ? HOST : 'elsewhere'))],
    ['since', field('since', Date.now() - r.int(100_000))],
    ['lease', field('lease', 10_000)],
  ].filter(() => !hostile || r.next() > 0.05);
  if (names.next() < 0.6) parts.push(['name', hostile && names.next() < 0.5 ? names.pick(weird.name) : '"build.js"']);
  if (hostile && r.next() < 0.1) parts.push(parts[r.int(parts.length)] ?? ['x', 1]); // duplicate key
  if (hostile && r.next() < 0.05) parts.push(['__proto__', '{"pid":1}']);
  return `{${parts.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
}

const tombstone = (r) => `{"v":1,"release":${JSON.stringify(`id${r.int(50)}`)}}`;

/**
 * The cases of issue 13 first, each with a live holder (this process, on this host) so
 * that a timed lock() waits and its timer runs: `since` that no Date can hold.
 */
const FIXED = ['1e20', '-1e20', '8.64e15', '8640000000000001', '"NaN"', 'null', '1e999'].flatMap((since) =>
  ['native', 'fallback'].flatMap((backend) => [
    `${HEADER}{"v":1,"id":"x","backend":"${backend}","mode":"exclusive","pid":${process.pid},"hostname":${JSON.stringify(HOST)},"since":${since},"lease":10000}\n`,
    `{"v":1,"id":"x","backend":"${backend}","mode":"exclusive","pid":${process.pid},"hostname":${JSON.stringify(HOST)},"since":${since}}\n`,
  ]),
);

/** One fuzzed lock-file content: { kind, buf }. */
function content(r, i) {
  if (i < FIXED.length) return { kind: 'issue 13', buf: Buffer.from(FIXED[i]) };
  const lines = (n, hostile) =>
    Array.from({ length: n }, () => (r.next() < 0.2 ? tombstone(r) : record(r, hostile, n > 10))).join('\n') +
    (r.next() < 0.8 ? '\n' : '');
  if (i % 2500 === 1234) return { kind: '10 MB', buf: Buffer.from(HEADER + lines(3, false) + 'x'.repeat(10 << 20)) };
  let k = r.int(14);
  if ((k === 6 || k === 7) && r.next() < 0.7) k = 13; // the slow kinds, less often
  switch (k) {
    case 0:
      return { kind: 'random bytes', buf: r.bytes(r.int(r.next() < 0.03 ? 70_000 : 300)) };
    case 1:
      return { kind: 'v2 records', buf: Buffer.from(HEADER + lines(1 + r.int(4), false)) };
    case 2:
      return { kind: 'v2 hostile records', buf: Buffer.from(HEADER + lines(1 + r.int(4), true)) };
    case 3:
      return { kind: 'v1 hostile records', buf: Buffer.from(lines(1 + r.int(4), true)) };
    case 4: {
      const s = (r.next() < 0.5 ? HEADER : '') + lines(1 + r.int(3), r.next() < 0.5);
      return { kind: 'truncated', buf: Buffer.from(s.slice(0, r.int(s.length + 1))) };
    }
    case 5: {
      const b = Buffer.from((r.next() < 0.5 ? HEADER : '') + lines(1 + r.int(3), false));
      for (let k = 1 + r.int(4); k > 0; k--) b[r.int(b.length)] = r.int(256);
      return { kind: 'garbled', buf: b };
    }
    case 6: {
      const n = r.pick([100, 10_000, 50_000]);
      const nest = r.next() < 0.5 ? '['.repeat(n) + ']'.repeat(n) : '{"a":'.repeat(n) + '1' + '}'.repeat(n);
      const at = r.pick(['"id":', '"since":', '"hostname":', '"pid":']);
      const line = r.next() < 0.5 ? nest : record(r, false).replace(new RegExp(`${at}[^,}]*`), at + nest);
      return { kind: 'deep nesting', buf: Buffer.from((r.next() < 0.5 ? HEADER : '') + line + '\n') };
    }
    case 7:
      return {
        kind: 'many lines',
        buf: Buffer.from((r.next() < 0.5 ? HEADER : '') + lines(500 + r.int(2000), r.next() < 0.3)),
      };
    case 8: {
      // Over 64 KB: a record after the first 64 KB, or a huge line.
      const pad = r.next() < 0.5 ? ' '.repeat(70_000) + '\n' : `{"v":1,"junk":"${'j'.repeat(70_000)}"}\n`;
      return { kind: '> 64 KB', buf: Buffer.from(HEADER + pad + lines(2, false)) };
    }
    case 9: {
      const header = r.pick([
        '{"fslock":2}',
        '{"fslock":2} ',
        '\ufeff{"fslock":2}',
        '{"fslock":3}',
        '{"fslock":"2"}',
        '{"fslock":2,"x":1}',
        '{"fslock":2}\r',
        '{"fslock":1e20}',
        '{"fslock":2}{"fslock":2}',
        '',
      ]);
      const eol = r.pick(['\n', '\r\n', '\0', '\n\n', '']);
      return {
        kind: 'header variants',
        buf: Buffer.from(header + eol + lines(1 + r.int(3), r.next() < 0.5).replace(/\n/g, eol || ' ')),
      };
    }
    case 10:
      return {
        kind: 'blank',
        buf: Buffer.from(r.pick(['', '\n', '\n\n\n', ' ', '\t\r\n', '\0', HEADER, '{"fslock":2}'])),
      };
    case 11: {
      const json = r.pick([
        'null',
        'true',
        '1',
        '"s"',
        '[]',
        '{}',
        '[{"v":1}]',
        '{"v":1,"release":null}',
        '{"v":1,"release":{}}',
        `{"v":1,"release":"${'r'.repeat(100_000)}"}`,
        '1e999',
        '-',
        '{"',
        '\\u0000',
      ]);
      return {
        kind: 'odd JSON',
        buf: Buffer.from((r.next() < 0.5 ? HEADER : '') + json + '\n' + (r.next() < 0.5 ? record(r, true) : '')),
      };
    }
    case 12: {
      // Everything extreme at once.
      const rec = `{"v":1,"id":"x","backend":"${r.pick(['native', 'fallback'])}","mode":"exclusive","pid":${r.pick(weird.pid)},"hostname":${r.pick(weird.hostname)},"since":${r.pick(weird.since)},"lease":${r.pick(weird.lease)}}`;
      return { kind: 'extremes', buf: Buffer.from((r.next() < 0.5 ? HEADER : '') + rec + '\n') };
    }
    default:
      return {
        kind: 'mixed garbage',
        buf: Buffer.concat([Buffer.from(HEADER), r.bytes(r.int(200)), Buffer.from('\n' + lines(2, true))]),
      };
  }
}

/** Which codes each call may fail with on a regular file (README / SPEC). */
const allowed = {
  'lock({wait:false})': ['ELOCKED'],
  'lockSync({wait:false})': ['ELOCKED'],
  'lock({timeout})': ['ELOCKED', 'ETIMEDOUT'],
  'isLocked()': [],
  'lockHolder()': [],
  'lockHolder({stale})': [],
};
// The fallback has no kernel locks: a file that is not fslock's is ENOTSUP for it.
if (!native) for (const k of Object.keys(allowed)) allowed[k] = [...allowed[k], 'ENOTSUP'];

/** A description of a content for failure messages. */
function show(c) {
  const head = c.buf.subarray(0, 200).toString('latin1');
  return `${c.kind}, ${c.buf.length} bytes: ${JSON.stringify(head)}${c.buf.length > 200 ? '…' : ''}`;
}

/** Not an fslock lock file by any reading: empty, or no v2 header and a line that is not JSON. */
function plainlyForeign(buf) {
  if (buf.length === 0) return true;
  if (buf.subarray(0, HEADER.length - 1).toString('latin1') === HEADER.slice(0, -1)) return false;
  return buf
    .toString('utf8')
    .split('\n')
    .some((l) => {
      if (!l.trim()) return false;
      try {
        JSON.parse(l);
        return false;
      } catch {
        return true;
      }
    });
}

function fuzzDir(t) {
  let base = os.tmpdir();
  try {
    if (process.platform === 'linux' && fs.statfsSync('/dev/shm').type === 0x01021994) base = '/dev/shm'; // TMPFS_MAGIC
  } catch {}
  const dir = fs.mkdtempSync(path.join(base, 'fslock-fuzz-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test(`${COUNT} fuzzed lock-file contents: documented errors only, no leak, nothing thrown outside a call (${fslock.backend})`, async (t) => {
  // On tmpfs where there is one: the subject is parsing, and ext4 makes every rewrite
  // of a truncated file wait for its data (auto_da_alloc), 50x slower.
  const dir = fuzzDir(t);
  const file = path.join(dir, 'fuzz.lock');
  const r = prng(SEED);
  const failures = new Map(); // kind of failure -> { count, first }
  const fail = (what, c, i, detail, kind = detail) => {
    const key = `${what}: ${kind.replace(/[0-9]+/g, 'N').slice(0, 120)}`;
    const f = failures.get(key);
    if (f) f.count++;
    else if (failures.size < 40)
      failures.set(key, { count: 1, first: `${what}: ${detail.slice(0, 300)} -- first on content #${i} (${show(c)})` });
  };
  const outside = [];
  const onUncaught = (e) => outside.push(`uncaught: ${e && e.stack}`);
  const onUnhandled = (e) => outside.push(`unhandled rejection: ${e && e.stack}`);
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUnhandled);
  t.after(() => {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUnhandled);
  });

  // Warm-up: whatever a backend opens once for good (a waiter thread's wake-up
  // descriptor, say) is open before the count starts.
  const warm = path.join(dir, 'warm.lock');
  const held = await fslock.lock(warm);
  await fslock.lock(warm, { timeout: 20 }).then(
    (l) => l.release(),
    () => {},
  );
  await held.release();
  const fdsBefore = openFds();
  const stats = { ok: 0, failed: 0, kinds: {}, ms: {} };
  let current;
  // A new file each time (unlink, create): a rewrite in place would be slow on ext4.
  const put = (c) => {
    fs.rmSync(file, { force: true });
    fs.writeFileSync(file, c.buf, { flag: 'wx' });
  };
  const check = async (what, i, c, foreign, fn) => {
    try {
      const v = await fn();
      stats.ok++;
      if (v && typeof v.release === 'function') {
        try {
          await v.release();
        } catch (e) {
          fail(what, c, i, `release threw ${e && e.code} ${e && e.message}`);
        }
        if (foreign) {
          const now = fs.existsSync(file) ? fs.readFileSync(file) : undefined;
          if (!now) fail(what, c, i, 'a foreign file was removed');
          else if (!now.equals(c.buf)) fail(what, c, i, 'a foreign file was modified');
        }
        put(c); // a lock may rewrite or remove the file: back to the fuzzed content
      }
      return v;
    } catch (e) {
      stats.failed++;
      if (!(e instanceof Error)) fail(what, c, i, `threw a non-Error ${String(e)}`);
      else if (!allowed[what].includes(e.code)) fail(what, c, i, `${e.name} code=${e.code}: ${e.message}`);
      else stats.kinds[`${what} ${e.code}`] = (stats.kinds[`${what} ${e.code}`] ?? 0) + 1;
      if (fs.existsSync(file) === false) put(c);
      return undefined;
    }
  };

  for (let i = 0; i < COUNT; i++) {
    const started = performance.now();
    const c = (current = content(r, i));
    const foreign = plainlyForeign(c.buf);
    put(c);
    await check('lock({wait:false})', i, c, foreign, () => fslock.lock(file, { wait: false }));
    await check('lockSync({wait:false})', i, c, foreign, () => fslock.lockSync(file, { wait: false }));
    await check('lock({timeout})', i, c, foreign, () =>
      fslock.lock(file, { timeout: i < FIXED.length ? 30 : i % 10 === 0 ? 3 : 0 }),
    );
    const locked = await check('isLocked()', i, c, foreign, () => fslock.isLocked(file));
    if (locked !== undefined && typeof locked !== 'boolean') fail('isLocked()', c, i, `returned ${typeof locked}`);
    const h0 = await check('lockHolder()', i, c, foreign, () => fslock.lockHolder(file));
    // With { stale: true }, a free file's last record (stale: true), or the same answer.
    const h = await check('lockHolder({stale})', i, c, foreign, () => fslock.lockHolder(file, { stale: true }));
    if (h0 !== undefined && (h === undefined || h.stale))
      fail('lockHolder({stale})', c, i, 'a held lock was given as stale or free', 'held given as stale');
    if (h !== undefined && h.stale !== undefined && (h.stale !== true || h.record !== true))
      fail('lockHolder({stale})', c, i, `gave ${JSON.stringify(h)}`, 'an invalid stale holder');
    if (h !== undefined) {
      // A holder with a record is named by it; one without (a kernel lock, or a file in
      // the making) is `record: false` and names only what the OS tells.
      const okHolder =
        h &&
        typeof h === 'object' &&
        typeof h.shared === 'boolean' &&
        (h.record === true
          ? h.since instanceof Date &&
            !Number.isNaN(h.since.getTime()) &&
            typeof h.pid === 'number' &&
            typeof h.hostname === 'string'
          : h.record === false && h.since === undefined && (h.pid === undefined || Number.isInteger(h.pid))) &&
        (h.name === undefined ||
          (typeof h.name === 'string' &&
            h.name.length >= 1 &&
            h.name.length <= 64 &&
            h.name.isWellFormed() &&
            // eslint-disable-next-line no-control-regex -- what must never reach a terminal
            !/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(h.name)));
      if (!okHolder)
        fail('lockHolder()', c, i, `gave ${JSON.stringify(h)} (since ${h && h.since})`, 'gave an invalid Holder');
      else stats.kinds.holder = (stats.kinds.holder ?? 0) + 1;
    }
    // Only failed calls ran since the last put(): a content that is not a lock file
    // must still be exactly as it was (fslock never writes into a file it did not create).
    if (foreign && !fs.readFileSync(file).equals(c.buf)) fail('content', c, i, 'a foreign file was modified');
    stats.ms[c.kind] = (stats.ms[c.kind] ?? 0) + performance.now() - started;
    if (i % 1000 === 999) {
      const fds = openFds();
      if (fds !== fdsBefore) fail('descriptors', c, i, `${fds - fdsBefore} more open after ${i + 1} contents`);
    }
  }
  // Timers that a call may have left (a timeout firing late) run before the final count.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const fdsAfter = openFds();
  t.diagnostic(
    `seed ${SEED}, ${COUNT} contents, ${stats.ok} calls succeeded, ${stats.failed} failed: ${JSON.stringify(stats.kinds)}`,
  );
  const ms = Object.entries(stats.ms).map(([k, v]) => `${k} ${Math.round(v)}`);
  t.diagnostic(`ms per kind of content: ${ms.join(', ')}`);
  const report = [...failures.values()].map((f) => `${f.count}x ${f.first}`);
  if (fdsAfter !== fdsBefore) report.push(`descriptors: ${fdsBefore} open before, ${fdsAfter} after`);
  report.push(...outside.slice(0, 5).map((s) => `${s} (last content: ${current && show(current)})`));
  if (outside.length > 5) report.push(`... ${outside.length} errors thrown outside a call in all`);
  assert.deepEqual(
    report,
    [],
    `FSLOCK_FUZZ_SEED=${SEED} FSLOCK_FUZZ_COUNT=${COUNT} (${fslock.backend}): calls failed outside their contract`,
  );
});
