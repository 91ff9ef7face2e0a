// `fslock -H [--json] LOCKFILE`: who holds a lock. Takes nothing, creates nothing,
// never waits. A holder is an fslock process (its record in the lock file: pid, host,
// since, and its name where it recorded one), or a program that left no record (a
// kernel lock of flock(1), Python, cargo...: `record: false`, its pid where the system
// tells, e.g. /proc/locks on Linux). A free lock whose kept file still names a holder
// that is gone (it crashed, or was killed, holding the lock) is "not locked", and that
// stale record is shown.
import { type Holder, isLocked, lockHolder } from '../locks/locks';
import { describeHolder } from '../protocol/record';
import type { HolderOptions } from './cli-args';

/** The --json object: `locked`, then what is known of the holder (unknown fields left out). */
export function toJson(h: Holder | undefined, locked: boolean): Record<string, unknown> {
  // Held, but lockHolder() could not say by whom: nothing more is known.
  if (!h) return locked ? { locked, record: false } : { locked };
  if (h.stale)
    return { locked: false, stale: { pid: h.pid, hostname: h.hostname, since: h.since?.toISOString(), name: h.name } };
  return {
    locked: true,
    record: h.record,
    pid: h.pid,
    name: h.name,
    hostname: h.hostname,
    since: h.since?.toISOString(),
    shared: h.shared,
  };
}

export async function holder(o: HolderOptions): Promise<number> {
  let h: Holder | undefined;
  let locked: boolean;
  try {
    h = await lockHolder(o.file, { stale: true });
    locked = h ? !h.stale : await isLocked(o.file);
  } catch (e) {
    process.stderr.write(`fslock: ${(e as Error).message}\n`);
    return 2;
  }
  if (o.json) process.stdout.write(`${JSON.stringify(toJson(h, locked))}\n`);
  else if (h?.stale) {
    process.stdout.write(`${o.file}: not locked; its record names ${describeHolder(h)}, which is gone (stale)\n`);
  } else if (h) {
    process.stdout.write(`${o.file}: locked (${h.shared ? 'shared' : 'exclusive'}) by ${describeHolder(h)}\n`);
  } else process.stdout.write(`${o.file}: ${locked ? 'locked, by a holder that could not be told' : 'not locked'}\n`);
  return locked ? 0 : 1;
}
