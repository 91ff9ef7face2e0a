// The lock file's content (docs/protocol.md): a header line that marks the file as
// fslock's own, then one JSON line per holder record, plus tombstone lines that retract
// a record. Both backends read and write it: native holders write a record for
// `lockHolder` and for fallback processes, which cannot see kernel locks; fallback
// holders are *defined* by their record. Everything read from a lock file is untrusted
// input: parsing is bounded and every field is checked.
import * as os from 'node:os';
import type { Holder } from '../common/holder';
import { cleanName, processName } from '../common/holder-name';

export type Backend = 'native' | 'fallback';
export type Mode = 'exclusive' | 'shared';

/** First line of every lock file fslock creates (version 1 processes skip it). */
export const HEADER = '{"fslock":2}\n';
export const HEADER_BYTES = Buffer.from(HEADER);
/** How long a fallback record stays valid for other hosts without a refresh. */
export const DEFAULT_LEASE_MS = 10_000;
export const MIN_LEASE_MS = 1_000;
const MAX_LEASE_MS = 86_400_000;
/** Bytes of a lock file that are ever read (records are short; more is not ours). */
export const READ_MAX = 1 << 16;

export interface HolderRecord {
  v: 1;
  id: string;
  backend: Backend;
  mode: Mode;
  pid: number;
  hostname: string;
  /** ms since the epoch */
  since: number;
  /** ms a fallback record stays valid for other hosts after its last refresh */
  lease: number;
  /** The holder's name as a person knows it (lib/common/holder-name.ts); absent in records of fslock 0.1 and 0.2. */
  name?: string;
}

export type { Holder } from '../common/holder';

export const hostname = os.hostname();
const hostnameJson = JSON.stringify(hostname);
// Ids must be unique, not secret (an id names a record for its own retraction; whoever
// can write the lock file can write anything in it): V8 seeds each isolate's
// Math.random from Node's CSPRNG, and node:crypto would cost the `fslock` command
// several ms of start-up to load (bench/cli.bench.js). 48 random bits, as before.
const idPrefix = `${process.pid.toString(36)}.${Math.floor(Math.random() * 2 ** 48)
  .toString(16)
  .padStart(12, '0')}`;
let idCounter = 0;

/** A fresh id, unique across processes, threads (ids carry a random prefix) and calls. */
export function newId(): string {
  return `${idPrefix}.${(idCounter++).toString(36)}`;
}

/** `,"name":...` of this process's own name, or '' (undefined: not learnt yet). */
let ownNameJson: string | undefined;

/**
 * This holder's record line. `name`: the holder name given to the lock call (checked),
 * else this process's own (learnt once, lib/common/holder-name.ts).
 */
export function recordLine(id: string, backend: Backend, mode: Mode, lease = DEFAULT_LEASE_MS, name?: string): string {
  if (ownNameJson === undefined) {
    const own = processName();
    ownNameJson = own === undefined ? '' : `,"name":${JSON.stringify(own)}`;
  }
  const n = name === undefined ? ownNameJson : `,"name":${JSON.stringify(name)}`;
  return `{"v":1,"id":"${id}","backend":"${backend}","mode":"${mode}","pid":${process.pid},"hostname":${hostnameJson},"since":${Date.now()},"lease":${lease}${n}}\n`;
}

export function tombstoneLine(id: string): string {
  return `{"v":1,"release":"${id}"}\n`;
}

const MAX_TIME = 8.64e15; // the Date range (ECMA-262 Time Values)

/** A line as a record or tombstone, or undefined when it is neither (checked field by field). */
function parseLine(line: string): HolderRecord | { release: string } | undefined {
  if (line.length > 4096 || line[0] !== '{') return undefined;
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) return undefined;
  const r = o as Record<string, unknown>;
  if (r.v !== 1) return undefined;
  if (typeof r.release === 'string' && r.release.length <= 256) return { release: r.release };
  const { id, pid, hostname: host, since, mode, backend, lease, name } = r;
  if (
    typeof id !== 'string' ||
    id.length > 256 ||
    typeof pid !== 'number' ||
    !Number.isSafeInteger(pid) ||
    pid <= 0 ||
    pid > 0x7fffffff ||
    typeof host !== 'string' ||
    host.length === 0 ||
    host.length > 255 ||
    typeof since !== 'number' ||
    !(Math.abs(since) <= MAX_TIME) ||
    (mode !== 'exclusive' && mode !== 'shared') ||
    (backend !== 'native' && backend !== 'fallback') ||
    (lease !== undefined && (typeof lease !== 'number' || !Number.isFinite(lease)))
  )
    return undefined;
  const l = lease === undefined ? DEFAULT_LEASE_MS : Math.min(Math.max(lease, MIN_LEASE_MS), MAX_LEASE_MS);
  const record: HolderRecord = { v: 1, id, pid, hostname: host, since, mode, backend, lease: l };
  // A name is decoration: one that is not a short plain string is dropped, the record
  // kept (refusing the record would hide its holder from the fallback, which would then
  // take a held lock — and a later version may write names this one finds too long).
  const n = cleanName(name);
  if (n !== undefined) record.name = n;
  return record;
}

/** The records of a lock file's content that no tombstone retracted (garbage skipped). */
export function parseRecords(text: string): HolderRecord[] {
  const records: HolderRecord[] = [];
  const released = new Set<string>();
  for (const line of text.split('\n')) {
    const r = line ? parseLine(line) : undefined;
    if (!r) continue;
    if ('release' in r) released.add(r.release);
    else records.push(r);
  }
  return records.filter((r) => !released.has(r.id));
}

/** Whether the first `n` bytes of `head` begin with the header line. */
export function startsWithHeader(head: Uint8Array, n: number): boolean {
  if (n < HEADER_BYTES.length) return false;
  // Byte by byte: no Buffer view allocated on every lock (the header is 13 bytes).
  for (let i = 0; i < HEADER_BYTES.length; i++) if (head[i] !== HEADER_BYTES[i]) return false;
  return true;
}

/**
 * Whether a file's head marks it as fslock's own lock file: it starts with the header,
 * or (files of fslock 0.1) it is non-empty, was read whole and every line is a record or
 * a tombstone. Anything else — empty files, data, scripts — belongs to someone else and
 * is locked as it is, never written or removed. (The link count does not decide: a
 * fallback holder links its record file into place, so for an instant it has two.)
 */
export function isLockFileContent(head: Uint8Array, n: number, size: number): boolean {
  if (startsWithHeader(head, n)) return true;
  if (n === 0 || n < size || n > READ_MAX) return false;
  const text = Buffer.from(head.buffer, head.byteOffset, n).toString('utf8');
  if (!text.endsWith('\n')) return false;
  for (const line of text.slice(0, -1).split('\n')) if (!parseLine(line)) return false;
  return true;
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
 * Another host: a native holder always may (its kernel lock cannot be seen from here;
 * only a native process, which can take the kernel lock, clears such a record); a
 * fallback holder while its record was refreshed (file mtime) within its lease.
 */
export function recordLive(r: HolderRecord, mtimeMs: number | undefined): boolean {
  if (r.hostname === hostname) return processAlive(r.pid);
  if (r.backend === 'native') return true;
  return mtimeMs === undefined || Date.now() - mtimeMs < r.lease;
}

export function toHolder(r: HolderRecord): Holder {
  const h: Holder = {
    pid: r.pid,
    hostname: r.hostname,
    since: new Date(r.since),
    shared: r.mode === 'shared',
    record: true,
  };
  if (r.name !== undefined) h.name = r.name;
  return h;
}

/**
 * The holder whose record a lock file that nobody holds still carries: the last record
 * no tombstone retracted, unless its process (on this host) is alive — then it has
 * just released, or just taken the lock, and is not "gone". Such a record is what a
 * holder that crashed leaves in a kept lock file.
 */
export function staleHolder(text: string): Holder | undefined {
  const records = parseRecords(text).filter((r) => r.hostname !== hostname || !processAlive(r.pid));
  const r = records[records.length - 1];
  return r && { ...toHolder(r), stale: true };
}

/**
 * "pid 123 (jest) on host h since <iso>", or for a holder without a record "pid 123
 * (flock) on host h that left no record (...)": the fslock command's -H line. Error
 * messages and NODE_DEBUG say it in local time (lib/common/diagnostics.ts holderPhrase).
 */
export function describeHolder(h: Holder | undefined): string | undefined {
  if (!h) return undefined;
  const self = h.pid === process.pid && h.hostname === hostname ? ', this process' : '';
  const who = h.pid === undefined ? 'a process' : `pid ${h.pid}${h.name ? ` (${h.name})` : ''}${self}`;
  const where = h.hostname === undefined ? '' : ` on ${h.hostname}`;
  if (!h.record) return `${who}${where} that left no record (a program that takes the kernel lock only)`;
  return `${who}${where} since ${h.since!.toISOString()}`;
}
