// Internal hooks for the fslock command (lib/cli.ts), not part of the public API
// (lib/index.ts does not export them). The command hands its lock to the command it
// runs, as flock(1) does, so that the lock lives as long as either of them: issue 14,
// item 5.
import * as fs from 'node:fs';
import type { Held } from '../protocol/lock-backend';
import { type Lock, heldOf } from './locks';
import { native } from './backends';
import { hostname as thisHost } from '../protocol/record';

/**
 * The descriptor that holds a native path lock (POSIX: the fd whose open file
 * description carries the OFD / flock(2) lock), or undefined: fallback backend,
 * Windows (a LockFileEx lock belongs to the process that took it and cannot be
 * handed over), or released. A child process that inherits it (as a stdio entry of
 * spawn) shares the lock: it stays held until both have closed it.
 */
export function lockDescriptor(l: Lock): number | undefined {
  const h = heldOf(l) as (Held & { fd?: unknown; handedOut?: boolean }) | undefined;
  if (!h || l.released || !native || process.platform === 'win32' || typeof h.fd !== 'number') return undefined;
  h.handedOut = true; // release unlocks before closing: the child's copy must not keep it
  return h.fd;
}

/**
 * Fallback backend: makes process `pid` (of this host) a co-holder of the held lock
 * `l` by appending a record line naming it (same mode, its own id) to the lock file,
 * so that the lock stays held while `pid` lives even after this process died (records
 * of one host are live while their pid is). release() removes the whole file, this
 * record included. Returns false (and does nothing) on the native backend or when the
 * file at the path is no longer this lock's.
 */
export function adoptHolder(l: Lock, pid: number): boolean {
  const h = heldOf(l) as (Held & { id?: unknown; ino?: unknown; fd?: unknown }) | undefined;
  if (!h || l.released || native || typeof h.id !== 'string' || typeof h.fd !== 'number') return false;
  const line = `${JSON.stringify({
    v: 1,
    id: `${h.id}.${pid}`,
    backend: 'fallback',
    mode: h.shared ? 'shared' : 'exclusive',
    pid,
    hostname: thisHost,
    since: Date.now(),
  })}\n`;
  // Through the held inode's own descriptor: never whatever the path names now.
  const st = fs.fstatSync(h.fd);
  if (st.nlink === 0 || st.ino !== h.ino) return false;
  fs.writeSync(h.fd, line, st.size);
  return true;
}
