// Which backend takes path locks: NativeLocks over the binding when it loaded, else the
// pure-JS fallback (loaded on first use). Descriptor locks and the CLI hooks ask
// `native` whether the kernel's locks are in reach.
import { binding } from '../native/binding';
import { NativeLocks } from '../native/path-waits';
import type { PathLockBackend } from '../protocol/lock-backend';

export const native = binding ? new NativeLocks(binding) : undefined;
let fallbackBackend: PathLockBackend | undefined;

export function backend(): PathLockBackend {
  if (native) return native;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  fallbackBackend ??= (require('../fallback/fallback-paths') as { fallbackLocks: PathLockBackend }).fallbackLocks;
  return fallbackBackend;
}
