// The lock file's content: one JSON line per holder record, plus tombstone lines that
// retract a record. Both backends read and write it (README, "On-disk protocol"):
// native holders write a record for `lockHolder` and for fallback processes, which
// cannot see kernel locks; fallback holders are *defined* by their record.
import * as os from 'node:os';
import * as crypto from 'node:crypto';

export type Backend = 'native' | 'fallback';
export type Mode = 'exclusive' | 'shared';

export interface HolderRecord {
  v: 1;
  id: string;
  backend: Backend;
  mode: Mode;
  pid: number;
  hostname: string;
  /** ms since the epoch */
  since: number;
}

export interface Holder {
  pid: number;
  hostname: string;
  since: Date;
  shared: boolean;
}

export const hostname = os.hostname();
const idPrefix = `${process.pid.toString(36)}.${crypto.randomBytes(6).toString('hex')}`;
let idCounter = 0;

/** A fresh id, unique across processes, threads (ids carry a random prefix) and calls. */
export function newId(): string {
  return `${idPrefix}.${(idCounter++).toString(36)}`;
}

export function recordLine(id: string, backend: Backend, mode: Mode, since = Date.now()): string {
  return `{"v":1,"id":"${id}","backend":"${backend}","mode":"${mode}","pid":${process.pid},"hostname":${JSON.stringify(hostname)},"since":${since}}\n`;
}

export function tombstoneLine(id: string): string {
  return `{"v":1,"release":"${id}"}\n`;
}

/** The records of a lock file's content that no tombstone retracted (garbage skipped). */
export function parseRecords(text: string): HolderRecord[] {
  const records: HolderRecord[] = [];
  const released = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch {
      continue;
    }
    if (!o || typeof o !== 'object') continue;
    const r = o as Record<string, unknown>;
    if (typeof r.release === 'string') released.add(r.release);
    else if (
      typeof r.id === 'string' &&
      typeof r.pid === 'number' &&
      typeof r.hostname === 'string' &&
      typeof r.since === 'number' &&
      (r.mode === 'exclusive' || r.mode === 'shared') &&
      (r.backend === 'native' || r.backend === 'fallback')
    )
      records.push(r as unknown as HolderRecord);
  }
  return records.filter((r) => !released.has(r.id));
}

/**
 * Whether a process on this host is alive. `kill(pid, 0)` delivers nothing; EPERM
 * means it exists but belongs to someone else.
 */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether a record's holder may still hold the lock. Same host: its process is alive.
 * Another host: its record was refreshed (file mtime) within `staleMs`.
 */
export function recordLive(r: HolderRecord, mtimeMs: number | undefined, staleMs: number): boolean {
  if (r.hostname === hostname) return processAlive(r.pid);
  return mtimeMs === undefined || Date.now() - mtimeMs < staleMs;
}

export function toHolder(r: HolderRecord): Holder {
  return { pid: r.pid, hostname: r.hostname, since: new Date(r.since), shared: r.mode === 'shared' };
}

/** "pid 123 on host h since <iso>", for error messages. */
export function describeHolder(h: Holder | undefined): string | undefined {
  return h ? `pid ${h.pid} on ${h.hostname} since ${h.since.toISOString()}` : undefined;
}
