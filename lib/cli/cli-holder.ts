// `fslock -H [--json] LOCKFILE`: who holds a lock. Takes nothing, creates nothing,
// never waits. A holder is an fslock process (its record in the lock file: pid, host,
// since, and its name where it recorded one), or a program that left no record (a
// kernel lock of flock(1), Python, cargo...: `record: false`, its pid where the system
// tells, e.g. /proc/locks on Linux).
import { isLocked, lockHolder } from '../locks/locks';
import type { HolderOptions } from './cli-args';

/** What -H prints of a holder: the fields of lockHolder()'s answer it knows, any of which may be missing. */
export interface HolderInfo {
  record?: boolean;
  pid?: number;
  name?: string;
  hostname?: string;
  since?: Date;
  shared?: boolean;
}

/** "pid 4121 (jest) on build-7 since <iso>", or "a program that left no record (pid 4121)". */
export function describe(h: HolderInfo): string {
  const pid = h.pid === undefined ? undefined : `pid ${h.pid}${h.name ? ` (${h.name})` : ''}`;
  const where = [h.hostname && `on ${h.hostname}`, h.since && `since ${h.since.toISOString()}`].filter(Boolean);
  if (h.record === false) {
    const known = [pid, ...where].filter(Boolean).join(' ');
    return `a program that left no record${known ? ` (${known})` : ''}`;
  }
  return [pid ?? 'an unknown process', ...where].join(' ');
}

/** The --json object: `locked`, then what is known of the holder (missing fields left out). */
export function toJson(h: HolderInfo | undefined, locked: boolean): Record<string, unknown> {
  if (!h) return { locked };
  return {
    locked: true,
    record: h.record ?? true,
    pid: h.pid,
    name: h.name,
    hostname: h.hostname,
    since: h.since?.toISOString(),
    shared: h.shared,
  };
}

export async function holder(o: HolderOptions): Promise<number> {
  let h: HolderInfo | undefined;
  let locked: boolean;
  try {
    h = (await lockHolder(o.file)) as HolderInfo | undefined;
    locked = h !== undefined || (await isLocked(o.file));
  } catch (e) {
    process.stderr.write(`fslock: ${(e as Error).message}\n`);
    return 2;
  }
  // Locked, yet nobody to name (a lockHolder() that does not report record-less holders).
  if (!h && locked) h = { record: false };
  if (o.json) process.stdout.write(`${JSON.stringify(toJson(h, locked))}\n`);
  else if (h) {
    const mode = h.shared === undefined ? '' : ` (${h.shared ? 'shared' : 'exclusive'})`;
    process.stdout.write(`${o.file}: locked${mode} by ${describe(h)}\n`);
  } else process.stdout.write(`${o.file}: not locked\n`);
  return locked ? 0 : 1;
}
