// CommonJS TypeScript: `import x = require()` of every entry point (type-checked with
// and without esModuleInterop, then run by test/types.test.js).
import fslock = require('fslock');
import properLockfile = require('fslock/proper-lockfile');
import writeFileAtomic = require('fslock/write-file-atomic');

export async function main(): Promise<string> {
  const l: fslock.Lock = await fslock.lock('x.lock');
  await l.release();
  const options: properLockfile.LockOptions = { stale: 10_000, retries: { retries: 3, factor: 1 } };
  const release = await properLockfile('file', options);
  await release();
  properLockfile.lockSync('file')();
  await properLockfile.default('file').then((r) => r());
  const o: writeFileAtomic.Options = { fsync: false };
  await writeFileAtomic('f', 'x', o);
  writeFileAtomic.sync('f', 'x');
  await writeFileAtomic.default('f', 'x');
  return `cjs ${fslock.backend}`;
}

export async function typeErrors(): Promise<void> {
  // @ts-expect-error the module is a function of (filename, data, ...)
  await writeFileAtomic();
  // @ts-expect-error release() takes nothing and proper-lockfile has no `release`
  properLockfile.release('file');
}
