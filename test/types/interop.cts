// CommonJS TypeScript, default and named imports (with esModuleInterop, the usual
// tsconfig, and without): compiled to require(), they must get the function.
import properLockfile, { checkSync } from 'fslock/proper-lockfile';
import writeFileAtomic from 'fslock/write-file-atomic';
import * as fslock from 'fslock';

export async function main(): Promise<string> {
  const release = await properLockfile('file');
  await release();
  const held: boolean = checkSync('file');
  await writeFileAtomic('f', 'x');
  writeFileAtomic.sync('f', 'x');
  await fslock.createExclusive(`new-${process.pid}-${Date.now()}`, 'x');
  return `interop ${held}`;
}
