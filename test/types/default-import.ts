// Default and named imports as a bundler sees them (moduleResolution bundler): type-checked only.
import fslock, { lock, createUnique } from 'fslock';
import properLockfile, { unlock } from 'fslock/proper-lockfile';
import writeFileAtomic, { sync } from 'fslock/write-file-atomic';

export async function main(): Promise<void> {
  const l = await lock('x.lock', { shared: true });
  await l.release();
  const p: string = await createUnique('.', (i) => `c-${i}.txt`, 'x');
  await fslock.moveAtomic(p, 'y', { overwrite: false });
  await (
    await properLockfile('file')
  )();
  await unlock('file').catch(() => undefined);
  await writeFileAtomic('f', 'x', { chown: { uid: 0, gid: 0 } });
  sync('f', 'x');
}

export async function typeErrors(): Promise<void> {
  // @ts-expect-error the function needs data
  await writeFileAtomic('f');
  // @ts-expect-error fslock has no default `lock` function: call fslock.lock
  await fslock('x.lock');
}
