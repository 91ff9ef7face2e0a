// `fslock -H [--json] LOCKFILE`: who holds a lock. Takes nothing, creates nothing,
// never waits. A holder is an fslock process (its record in the lock file: pid, host,
// since, and its name where it recorded one), or a program that left no record (a
// kernel lock of flock(1), Python, cargo...: `record: false`, its pid where the system
// tells, e.g. /proc/locks on Linux).
import { type Holder, isLocked, lockHolder } from '../locks/locks';
import { describeHolder } from '../protocol/record';
import type { HolderOptions } from './cli-args';

/** The --json object: `locked`, then what is known of the holder (unknown fields left out). */
export function toJson(h: Holder | undefined, locked: boolean): Record<string, unknown> {
  // Held, but lockHolder() could not say by whom: nothing more is known.
  if (!h) return locked ? { locked, record: false } : { locked };
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
    h = await lockHolder(o.file);
    locked = h !== undefined || (await isLocked(o.file));
  } catch (e) {
    process.stderr.write(`fslock: ${(e as Error).message}\n`);
    return 2;
  }
  if (o.json) process.stdout.write(`${JSON.stringify(toJson(h, locked))}\n`);
  else if (h) {
    process.stdout.write(`${o.file}: locked (${h.shared ? 'shared' : 'exclusive'}) by ${describeHolder(h)}\n`);
  } else process.stdout.write(`${o.file}: ${locked ? 'locked, by a holder that could not be told' : 'not locked'}\n`);
  return locked ? 0 : 1;
}
