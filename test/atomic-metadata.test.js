'use strict';
// What lives on the old inode and is not content, carried across an atomic replace:
// POSIX ACLs (setfacl/getfacl, Debian `acl`), extended attributes (setfattr/getfattr,
// Debian `attr`; scripts/test.js installs both as root), owner and mode, never a wider
// permission. Native backend: all of it, in every write form. Fallback backend: node:fs
// has no call for ACLs or extended attributes, so they are dropped there — asserted as
// the documented difference it is. Linux only (the tools and the xattr namespaces).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const writeFileAtomic = require('fslock/write-file-atomic');
const { fslock, native, tmpdir } = require('./helpers');

const root = process.getuid?.() === 0;

function skipReason() {
  if (process.platform !== 'linux') return 'ACLs and extended attributes are tested on Linux';
  for (const tool of ['setfacl', 'getfacl', 'setfattr', 'getfattr']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)
      return `${tool} missing (Debian acl and attr; scripts/test.js installs them as root)`;
  }
  // The filesystem of the temp directory must take ACLs and user attributes.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fslock-acl-probe-'));
  try {
    const f = path.join(dir, 'f');
    fs.writeFileSync(f, '');
    for (const [cmd, args] of [
      ['setfacl', ['-m', 'u:nobody:r', f]],
      ['setfattr', ['-n', 'user.probe', '-v', '1', f]],
    ]) {
      const r = spawnSync(cmd, args, { encoding: 'utf8' });
      if (r.status !== 0) return `${os.tmpdir()} does not take ${cmd} here: ${r.stderr.trim()}`;
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return undefined;
}
const skip = skipReason();

const sh = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8' });
/** The access ACL as getfacl prints it (no header, effective rights shown). */
const acl = (p) => sh('getfacl', ['--omit-header', '--absolute-names', p]).trim();
/** Extended attributes of the namespaces asked for, as name=hex lines. */
function attrs(p, pattern = '^(user|trusted|security)\\.') {
  return sh('getfattr', ['--absolute-names', '-d', '-e', 'hex', '-m', pattern, p])
    .split('\n')
    .filter((l) => l.includes('='))
    .sort()
    .join('\n');
}
const modeOf = (p) => fs.statSync(p).mode & 0o7777;

/** Every write form (the drop-in with tmpfileCreated runs the node:fs sequence). */
const FORMS = {
  writeFileAtomic: (p) => fslock.writeFileAtomic(p, 'new'),
  writeFileAtomicSync: async (p) => fslock.writeFileAtomicSync(p, 'new'),
  'writeFileAtomic(chunks)': (p) => fslock.writeFileAtomic(p, ['n', 'ew']),
  'writeFileAtomic(signal)': (p) => fslock.writeFileAtomic(p, 'new', { signal: new AbortController().signal }),
  'writeFileAtomic(fsync: false)': (p) => fslock.writeFileAtomic(p, 'new', { fsync: false }),
  update: (p) => fslock.update(p, () => 'new'),
  'write-file-atomic drop-in': (p) => writeFileAtomic(p, 'new'),
  'write-file-atomic drop-in (tmpfileCreated)': (p) => writeFileAtomic(p, 'new', { tmpfileCreated: () => {} }),
};

/** A 0644 file with a named-user ACL entry (mode shows 0664: the mask) and attributes. */
function decorated(p) {
  fs.writeFileSync(p, 'old');
  fs.chmodSync(p, 0o644);
  sh('setfacl', ['-m', 'u:nobody:rw', p]);
  sh('setfattr', ['-n', 'user.origin', '-v', 'kept', p]);
  if (root) sh('setfattr', ['-n', 'trusted.tag', '-v', '0x00ff', p]);
}

test('ACL, user.* and trusted.* attributes and mode carried by every write form', { skip }, async (t) => {
  const dir = tmpdir(t);
  for (const [name, write] of Object.entries(FORMS)) {
    const p = path.join(dir, name);
    decorated(p);
    const before = { acl: acl(p), attrs: attrs(p), mode: modeOf(p) };
    assert.equal(before.mode, 0o664, 'the ACL mask shows in the group bits');
    await write(p);
    assert.equal(fs.readFileSync(p, 'utf8'), 'new', name);
    if (native) {
      assert.deepEqual({ acl: acl(p), attrs: attrs(p), mode: modeOf(p) }, before, name);
    } else {
      // Documented: the fallback cannot read ACLs or attributes; the new file has none,
      // and the mode bits it copies make the old mask the group's right.
      assert.equal(attrs(p), '', name);
      assert.doesNotMatch(acl(p), /user:nobody/, name);
      assert.equal(modeOf(p), 0o664, name);
    }
  }
});

test(
  'an explicit mode with an ACL: as chmod on the old file (the mask follows the group bits)',
  { skip },
  async (t) => {
    const p = path.join(tmpdir(t), 'f');
    decorated(p);
    await fslock.writeFileAtomic(p, 'new', { mode: 0o640 });
    assert.equal(modeOf(p), 0o640);
    if (!native) return; // the fallback drops the ACL (above)
    const a = acl(p);
    assert.match(a, /^user:nobody:rw-\s+#effective:r--$/m);
    assert.match(a, /^mask::r--$/m);
    assert.match(attrs(p), /user\.origin=/);
  },
);

test(
  'never carried: file capabilities and IMA/EVM data (they certify the old content)',
  { skip: skip || (!root && 'security.* needs root') },
  async (t) => {
    const p = path.join(tmpdir(t), 'bin');
    fs.writeFileSync(p, 'old');
    // cap_net_raw+p (vfs_cap_data revision 2, little-endian)
    sh('setfattr', ['-n', 'security.capability', '-v', '0x0000000200200000000000000000000000000000', p]);
    sh('setfattr', ['-n', 'user.kept', '-v', '1', p]);
    assert.match(attrs(p), /security\.capability=/);
    await fslock.writeFileAtomic(p, 'new');
    assert.doesNotMatch(attrs(p), /security\.capability/);
    if (native) assert.match(attrs(p), /user\.kept=/);
  },
);

test(
  'a directory default ACL: a new file inherits it; a replaced file without an ACL does not gain one',
  { skip },
  async (t) => {
    const dir = tmpdir(t);
    sh('setfacl', ['-d', '-m', 'u:nobody:rwx', dir]);
    const fresh = path.join(dir, 'fresh');
    await fslock.writeFileAtomic(fresh, 'x');
    assert.match(acl(fresh), /^user:nobody:rwx/m, 'the kernel applies the default ACL to new files');
    // A file made before the default ACL existed: no ACL of its own.
    const plain = path.join(dir, 'plain');
    fs.writeFileSync(plain, 'old');
    sh('setfacl', ['-b', plain]);
    fs.chmodSync(plain, 0o640);
    await fslock.writeFileAtomic(plain, 'new');
    if (native) {
      assert.doesNotMatch(acl(plain), /nobody/, 'nobody gained no access through the replace');
      assert.equal(modeOf(plain), 0o640);
    } else {
      // Documented: the fallback cannot remove the inherited ACL; its mode bits are the
      // old file's (so the mask stays what the group had).
      assert.match(acl(plain), /^user:nobody:rwx\s+#effective:r--$/m);
    }
  },
);

test(
  'an ACL that cannot be set on the new file: the write succeeds, the group bits (the old mask) are cleared',
  { skip: skip || (!native && 'the fallback never sets ACLs (first test)') },
  async (t) => {
    const dir = tmpdir(t);
    const shim = path.join(dir, 'fail-setxattr.so');
    execFileSync('cc', ['-shared', '-fPIC', '-o', shim, path.join(__dirname, 'fixtures', 'fail-setxattr.c'), '-ldl']);
    const code = `const f = require('fslock');
      const [p, form] = process.argv.slice(1);
      (form === 'sync' ? Promise.resolve(f.writeFileAtomicSync(p, 'new')) : f.writeFileAtomic(p, form === 'chunks' ? ['n', 'ew'] : 'new'))
        .then(() => process.stdout.write('ok'), (e) => process.stdout.write(e.code));`;
    for (const form of ['async', 'sync', 'chunks']) {
      const p = path.join(dir, `f-${form}`);
      decorated(p);
      const out = execFileSync(process.execPath, ['-e', code, p, form], {
        cwd: path.join(__dirname, '..'),
        encoding: 'utf8',
        env: { ...process.env, LD_PRELOAD: shim, FSLOCK_FAIL_SETXATTR: 'system.posix_acl_access' },
      });
      assert.equal(out, 'ok', form);
      assert.equal(fs.readFileSync(p, 'utf8'), 'new');
      assert.doesNotMatch(acl(p), /nobody/, `${form}: the ACL is gone`);
      // 0664 was user rw, mask rw, other r: without the ACL the group gets nothing,
      // not the mask's rw as a real group right.
      assert.equal(modeOf(p), 0o604, form);
      assert.match(attrs(p), /user\.origin=/, `${form}: the other attributes are still carried`);
    }
  },
);

test(
  'the user nobody rewriting its own decorated file keeps ACL and attributes',
  { skip: skip || (!root && 'needs root to become nobody') },
  async (t) => {
    const { runAsNobody } = require('./helpers');
    const dir = tmpdir(t);
    fs.chmodSync(dir, 0o777);
    const p = path.join(dir, 'mine');
    decorated(p);
    fs.chownSync(p, 65534, 65534);
    const before = attrs(p, '^user\\.');
    const aclBefore = acl(p);
    const out = runAsNobody(
      `require('fslock').writeFileAtomic(process.argv[1], 'by nobody').then(() => process.stdout.write('ok'), (e) => process.stdout.write(e.code))`,
      [p],
    );
    assert.equal(out, 'ok');
    assert.equal(fs.statSync(p).uid, 65534);
    if (native) {
      assert.equal(attrs(p, '^user\\.'), before);
      assert.equal(acl(p), aclBefore);
    }
  },
);
