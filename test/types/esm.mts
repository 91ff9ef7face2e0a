// ESM: default and named imports of every entry point, called as the runtime allows.
// test/types.test.js type-checks this file (nodenext, bundler) and runs what tsc emits.
import fslock, { lock, withLock, writeFileAtomic, update, backend, type Lock, type LockOptions } from 'fslock';
import properLockfile, {
  lock as plLock,
  lockSync as plLockSync,
  check,
  type LockOptions as PlOptions,
} from 'fslock/proper-lockfile';
import writeFileAtomicDropIn, { sync as wfaSync, type Options as WfaOptions } from 'fslock/write-file-atomic';

export async function main(): Promise<string> {
  const l: Lock = await lock('x.lock', { timeout: 10_000 } satisfies LockOptions);
  await l.release();
  const b: 'native' | 'fallback' = backend;
  const n: number = await withLock('x.lock', async () => 42);
  await writeFileAtomic('x', new Uint8Array(1));
  await update('x', (cur: Buffer | undefined) => (cur ? cur.toString() + '1' : '0'));
  await fslock.writeFileAtomic('x', 'default import');

  const release: () => Promise<void> = await properLockfile('file', { retries: 2 } satisfies PlOptions);
  await release();
  await (
    await properLockfile.lock('file')
  )();
  await (
    await plLock('file', { stale: 5000 })
  )();
  plLockSync('file')();
  const held: boolean = await check('file');
  const heldSync: boolean = properLockfile.checkSync('file');

  await writeFileAtomicDropIn('f', 'data');
  await writeFileAtomicDropIn('f', 'data', { mode: 0o644 } satisfies WfaOptions);
  await writeFileAtomicDropIn('f', 'data', 'utf8', (err: Error | null) => void err);
  writeFileAtomicDropIn.sync('f', Buffer.from('x'));
  wfaSync('f', 'x');
  return `esm ${b} ${n} ${held} ${heldSync}`;
}

// Never called: each line must be a type error (an unused @ts-expect-error fails tsc).
export async function typeErrors(): Promise<void> {
  // @ts-expect-error paths are strings, Buffers or URLs
  await lock(42);
  // @ts-expect-error proper-lockfile's lock takes a path
  await properLockfile(1);
  // @ts-expect-error options are an object or an encoding
  writeFileAtomicDropIn.sync('f', 'x', 42);
}
