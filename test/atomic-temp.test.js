'use strict';
// Temp files of writers that died: a named temp file carries its writer's pid (and the
// pid namespace's tag), and the first atomic write of a process in a directory removes
// the temps whose writers are dead — once per directory per process, never a live
// writer's, never anything that is not such a temp file. Real processes, real SIGKILL.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { fslock, tmpdir, spawnFixture } = require('./helpers');

const names = (dir) => fs.readdirSync(dir).sort();

/** A writer that stays inside its write with a named temp file in `dir`. */
async function hanging(t, target) {
  const child = spawnFixture(t, 'atomic-temp.js', ['hang', target]);
  const m = await child.next('temp');
  assert.ok(fs.existsSync(m.temp), 'the temp file exists while its writer lives');
  return { child, temp: path.basename(m.temp) };
}

async function killed(t, target) {
  const h = await hanging(t, target);
  h.child.kill('SIGKILL');
  assert.equal((await h.child.exited()).signal, 'SIGKILL');
  return h.temp;
}

test(
  'temp files of dead writers are removed by the next process writing there; live ones and look-alikes stay',
  {
    skip:
      process.platform !== 'linux' &&
      'outside Linux a pid is matched by host name only, so a temp must also be 10 minutes old (README)',
  },
  async (t) => {
    const dir = tmpdir(t);
    const dead1 = await killed(t, path.join(dir, 'cache.json'));
    const dead2 = await killed(t, path.join(dir, 'n'.repeat(200)));
    const live = await hanging(t, path.join(dir, 'live.json'));
    // Look-alikes: the name format with another namespace's tag, a directory and a symlink
    // named like a dead writer's temp, a user's dot file. None of them is ours to remove.
    const token = dead1.slice(dead1.lastIndexOf('.') + 1);
    const [pid, rest] = token.split('-');
    const otherHost = `${rest[0] === 'z' ? 'y' : 'z'}${rest.slice(1)}`;
    const lookAlikes = [
      `.cache.json.${pid}-${otherHost}`,
      `.dir.${pid}-${rest}7`,
      `.link.${pid}-${rest}8`,
      '.bashrc',
      '.x.y',
    ];
    fs.writeFileSync(path.join(dir, lookAlikes[0]), 'other namespace');
    fs.mkdirSync(path.join(dir, lookAlikes[1]));
    fs.symlinkSync('cache.json', path.join(dir, lookAlikes[2]));
    fs.writeFileSync(path.join(dir, lookAlikes[3]), 'user');
    fs.writeFileSync(path.join(dir, lookAlikes[4]), 'user');
    assert.ok(names(dir).includes(dead1) && names(dir).includes(dead2));

    // This process's first write in the directory sweeps it.
    await fslock.writeFileAtomic(path.join(dir, 'cache.json'), 'fresh');
    assert.deepEqual(names(dir), ['cache.json', live.temp, ...lookAlikes].sort(), 'dead temps removed, nothing else');

    // Once per directory per process: a writer killed now is not swept by this process...
    const dead3 = await killed(t, path.join(dir, 'cache.json'));
    fslock.writeFileAtomicSync(path.join(dir, 'cache.json'), 'again');
    await fslock.createExclusive(path.join(dir, 'new'), 'x');
    assert.ok(names(dir).includes(dead3), 'no second listing of the same directory');
    // ...but by the next process that writes there (any file of the directory).
    const w = spawnFixture(t, 'atomic-temp.js', ['write', path.join(dir, 'other')]);
    await w.next('done');
    assert.deepEqual(await w.exited(), { code: 0, signal: null });
    assert.deepEqual(names(dir), ['cache.json', 'new', 'other', live.temp, ...lookAlikes].sort());
    assert.equal(fs.readFileSync(path.join(dir, 'cache.json'), 'utf8'), 'again');
    live.child.kill('SIGKILL');
  },
);

test('temp names: pid and namespace tag in the name, still no longer than the target name or 24 bytes', async (t) => {
  const dir = tmpdir(t);
  for (const name of ['x', 'cache.json', 'n'.repeat(255), 'é'.repeat(127)]) {
    const h = await hanging(t, path.join(dir, name));
    assert.ok(h.temp.startsWith('.'), h.temp);
    assert.ok(Buffer.byteLength(h.temp) <= Math.max(Buffer.byteLength(name), 24), `${h.temp} too long`);
    assert.match(h.temp, new RegExp(`\\.${h.child.pid.toString(36)}-[0-9a-z]{5}[0-9a-z]+$`));
    h.child.kill('SIGKILL');
    await h.child.exited();
  }
});
