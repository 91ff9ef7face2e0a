// Temp files of atomic writes: their names, and the removal of those left by writers
// that died (SIGKILL, a crash, a power cut) before they could remove them.
//
// A name is `.<target name>.<pid>[_<thread>]-<host><seq>` in base 36: pid, thread and
// sequence number make it unique in this process's pid namespace, and <host> (5 chars,
// a hash of what identifies that namespace: the boot and the pid namespace on Linux,
// the host name elsewhere) keeps the pids of different machines and containers that
// share a directory apart. So any process of the same namespace can tell from a name
// whether its writer is still alive (kill(pid, 0)), and remove it when not.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { threadId } from 'node:worker_threads';
import { basenameOf, joinName, pathKey, type FsPath } from '../common/args';

/** FNV-1a, 32 bits: a stable short hash (not a secret). */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function readOr(p: string, read: (p: string) => string): string {
  try {
    return read(p);
  } catch {
    return '';
  }
}

/**
 * What makes a pid mean the same process to another process. Linux: this boot of this
 * kernel and this pid namespace (containers on one kernel share the boot id, not the
 * namespace). Elsewhere: the host name, so only old temps are removed there (STALE_AGE).
 */
function namespaceId(): { id: string; exact: boolean } {
  if (process.platform === 'linux') {
    const boot = readOr('/proc/sys/kernel/random/boot_id', (p) => fs.readFileSync(p, 'latin1').trim());
    const ns = readOr('/proc/self/ns/pid', (p) => fs.readlinkSync(p));
    if (boot && ns) return { id: `${boot}/${ns}`, exact: true };
  }
  return { id: `host:${os.hostname()}`, exact: false };
}

const HOST_LEN = 5;
const ns = namespaceId();
const host = (fnv1a(ns.id) % 36 ** HOST_LEN).toString(36).padStart(HOST_LEN, '0');
const me = `${process.pid.toString(36)}${threadId ? `_${threadId.toString(36)}` : ''}-${host}`;
let seq = 0;

/** Temp names never need to be shorter than this many bytes (see {@link tempPath}). */
export const TEMP_MIN_BYTES = 24;

/**
 * A new temp path for `target` in `dir`: `.<name>.<token>`, the name cut (whole UTF-8
 * characters) so that the whole is no longer than the target's name or
 * TEMP_MIN_BYTES, whichever is larger. The rule's purpose is that a target whose name
 * fits (NAME_MAX, 255 bytes) gets a temp name that fits too; a 1-byte target name
 * cannot hold a token that says whose temp it is, hence the floor.
 */
export function tempPath(dir: FsPath, target: FsPath): FsPath {
  const token = `${me}${(seq++).toString(36)}`;
  const base = basenameOf(target);
  if (typeof base === 'string' && typeof dir === 'string') {
    const size = Buffer.byteLength(base);
    const room = Math.max(size, TEMP_MIN_BYTES) - 2 - token.length;
    if (size <= room) return `${dir}${nodePath.sep}.${base}.${token}`; // the usual case: no cut
  }
  const bytes = typeof base === 'string' ? Buffer.from(base) : base;
  const room = Math.max(bytes.length, TEMP_MIN_BYTES) - 2 - token.length;
  let cut = Math.max(Math.min(room, bytes.length), 0);
  if (typeof base === 'string') {
    // Whole characters only: a cut through a UTF-8 sequence would make a bad name.
    while (cut > 0 && cut < bytes.length && (bytes[cut] & 0xc0) === 0x80) cut--;
  }
  return joinName(dir, Buffer.concat([Buffer.from('.'), bytes.subarray(0, cut), Buffer.from(`.${token}`)]));
}

/** Where pids do not name processes exactly, only temps untouched this long are removed. */
const STALE_AGE_MS = 10 * 60_000;

const TOKEN = new RegExp(`^([0-9a-z]+)(?:_[0-9a-z]+)?-([0-9a-z]{${HOST_LEN}})[0-9a-z]+$`);

/** The pid of the writer that made temp `name`, if it was made in this namespace. */
function writerOf(name: Buffer): number | undefined {
  if (name[0] !== 0x2e) return undefined; // '.'
  const s = name.toString('latin1');
  const m = TOKEN.exec(s.slice(s.lastIndexOf('.') + 1));
  if (!m || m[2] !== host || s.lastIndexOf('.') === 0) return undefined;
  const pid = parseInt(m[1], 36);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

function dead(pid: number): boolean {
  if (pid === process.pid) return false; // this process's own threads are alive
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH'; // EPERM: alive, another user's
  }
}

function staleSync(dir: FsPath, name: Buffer): void {
  const pid = writerOf(name);
  if (pid === undefined || !dead(pid)) return;
  const p = joinName(dir, name);
  try {
    const st = fs.lstatSync(p);
    if (!st.isFile() || (!ns.exact && Date.now() - st.mtimeMs < STALE_AGE_MS)) return;
    fs.unlinkSync(p);
  } catch {
    // gone already (another process swept it), or not ours to remove
  }
}

async function stale(dir: FsPath, name: Buffer): Promise<void> {
  const pid = writerOf(name);
  if (pid === undefined || !dead(pid)) return;
  const p = joinName(dir, name);
  try {
    const st = await fs.promises.lstat(p);
    if (!st.isFile() || (!ns.exact && Date.now() - st.mtimeMs < STALE_AGE_MS)) return;
    await fs.promises.unlink(p);
  } catch {
    // gone already (another process swept it), or not ours to remove
  }
}

/** Directories swept by this process (bounded: a cache, not a registry). */
const swept = new Set<string>();

/** True once per directory per process (again after {@link sweepAgain}). */
function due(dir: FsPath): boolean {
  const key = pathKey(dir);
  if (swept.has(key)) return false;
  if (swept.size >= 1000) swept.clear();
  swept.add(key);
  return true;
}

/** A taken temp name hints at leftovers: the next write to `dir` sweeps it again. */
export function sweepAgain(dir: FsPath): void {
  swept.delete(pathKey(dir));
}

/**
 * Removes the temp files in `dir` whose writers are dead: once per directory per
 * process (one listing, no call per name but for names in the temp format). Never
 * fails: a directory that cannot be listed is left as it is.
 */
export function sweepSync(dir: FsPath): void {
  if (!due(dir)) return;
  let names: Buffer[];
  try {
    names = fs.readdirSync(dir, { encoding: 'buffer' });
  } catch {
    return;
  }
  for (const n of names) staleSync(dir, n);
}

export async function sweep(dir: FsPath): Promise<void> {
  if (!due(dir)) return;
  let names: Buffer[];
  try {
    names = await fs.promises.readdir(dir, { encoding: 'buffer' });
  } catch {
    return;
  }
  for (const n of names) await stale(dir, n);
}
