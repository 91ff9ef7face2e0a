// The pure-JS path-lock backend (no binding): a lock is a record file created at the
// lock path in one atomic step (link of a complete temp file), and released by
// removing it. It honours native holders through their records (docs/protocol.md);
// native processes honour it by reading its record after taking their kernel lock.
//
// What it cannot do (README "Fallback backend"): be woken by the kernel (waiters poll
// with backoff), share (a shared request is taken exclusively: without a
// compare-and-swap on file content, a reader count cannot be kept), or see that a
// worker thread of a living process was terminated.
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import type { CheckedWait } from './args';
import { abortReason, codeError, deadlockError, lockedError, timeoutError } from './errors';
import { type Held, type PathLockBackend, type Probe, pollDelay, sleep, sleepSync } from './lock-backend';
import { type HolderRecord, describeHolder, newId, parseRecords, recordLine, recordLive, toHolder } from './record';

/** Records from another host count as live while refreshed within this window. */
export const STALE_MS = 10_000;
/** An empty lock file this young may be a native acquirer between open and write. */
const EMPTY_GRACE_MS = 2_000;
const HEARTBEAT_MS = STALE_MS / 4;

interface FallbackHeld extends Held {
  id: string;
  ino: number;
  heartbeat: NodeJS.Timeout;
}

type Judgement =
  | { kind: 'gone' }
  | { kind: 'held'; holder: HolderRecord | undefined }
  | { kind: 'dead'; ino: number; text: string };

/** Node's fs error re-addressed to the lock path (the temp file is an implementation detail). */
function asLockError(e: unknown, path: string): unknown {
  const err = e as NodeJS.ErrnoException;
  if (!err || typeof err.code !== 'string') return e;
  return codeError(err.code, err.syscall ?? 'open', path);
}

function tempName(path: string, id: string): string {
  return nodePath.join(nodePath.dirname(path), `.${nodePath.basename(path)}.${id}.tmp`);
}

/** Writes `text` to a new unique file beside `path`; returns its name. */
function writeTemp(path: string, id: string, text: string): string {
  const temp = tempName(path, id);
  try {
    fs.writeFileSync(temp, text, { flag: 'wx', mode: 0o666 });
  } catch (e) {
    throw asLockError(e, path);
  }
  return temp;
}

/**
 * Creates `path` with `text` in one step: `link(temp, path)` fails with EEXIST if it
 * exists and never shows an empty or partial file. Filesystems without hard links get
 * `open(O_EXCL)` + write, whose empty instant readers treat as held (EMPTY_GRACE_MS).
 */
function createWhole(path: string, id: string, text: string): boolean {
  const temp = writeTemp(path, id, text);
  try {
    fs.linkSync(temp, path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EMLINK') {
      try {
        fs.writeFileSync(path, text, { flag: 'wx', mode: 0o666 });
        return true;
      } catch (e2) {
        if ((e2 as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw asLockError(e2, path);
      }
    }
    throw asLockError(e, path);
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

function readFd(fd: number): string {
  const st = fs.fstatSync(fd);
  const buf = Buffer.alloc(Math.min(st.size, 1 << 16));
  const n = fs.readSync(fd, buf, 0, buf.length, 0);
  return buf.toString('utf8', 0, n);
}

/** Whether `path` is held, gone, or holds only dead records (then: which inode). */
function judge(path: string): Judgement {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'gone' };
    throw asLockError(e, path);
  }
  try {
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) throw codeError('EISDIR', 'open', path);
    const text = readFd(fd);
    const records = parseRecords(text);
    const live = records.filter((r) => recordLive(r, st.mtimeMs, STALE_MS));
    if (live.length) return { kind: 'held', holder: live[live.length - 1] };
    if (records.length === 0 && Date.now() - st.mtimeMs < EMPTY_GRACE_MS) return { kind: 'held', holder: undefined };
    return { kind: 'dead', ino: st.ino, text };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Takes over a lock file whose holders are all dead. Steps, and why each is safe:
 * 1. The claim `path.reclaim` (exclusive create) makes one fallback reclaimer at a time.
 * 2. Under the claim, `path` is re-opened and must be the judged inode, still dead.
 *    Fallback processes cannot change it meanwhile (link() fails on an existing file,
 *    its holder is dead, other reclaimers wait on the claim); native ones can lock it
 *    and write a record (step 4 handles that).
 * 3. `rename(own record file, path)` replaces it atomically: `path` never disappears,
 *    so nobody can create a second lock file in between.
 * 4. The caller reads the replaced inode through the returned fd (`nativesInside`): a
 *    native process that locked it after step 2 wrote its record there before checking
 *    that its inode is still linked; if it checked before step 3 it holds the old inode,
 *    so we hold the new one and wait until its record is retracted (it appends a
 *    tombstone on release) or its process is dead. Natives that check after step 3 see
 *    nlink 0 and retry on the new file, where our record stops them.
 * Returns the held inode and the old inode's fd, or undefined when the situation
 * changed (the caller retries).
 */
function reclaim(path: string, dead: { ino: number; text: string }, record: string, id: string):
  { ino: number; oldFd: number; deadText: string } | undefined {
  const claim = `${path}.reclaim`;
  if (!createWhole(claim, id, record)) {
    removeIfDead(claim, id);
    return undefined;
  }
  let fd: number | undefined;
  try {
    try {
      fd = fs.openSync(path, 'r');
    } catch {
      return undefined;
    }
    if (fs.fstatSync(fd).ino !== dead.ino || readFd(fd) !== dead.text) return undefined;
    const temp = writeTemp(path, id, record);
    if (fs.fstatSync(fd).nlink === 0) {
      fs.rmSync(temp, { force: true });
      return undefined; // a native holder released (removed) it meanwhile: retry
    }
    fs.renameSync(temp, path);
    const result = { ino: fs.statSync(path).ino, oldFd: fd, deadText: dead.text };
    fd = undefined;
    return result;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
    removeIfMine(claim, id);
  }
}

/** Whether a native process may still hold the inode a reclaim replaced. */
function nativesInside(oldFd: number, deadText: string): boolean {
  const text = readFd(oldFd);
  if (text === deadText) return false;
  return parseRecords(text).some((r) => r.backend === 'native' && recordLive(r, undefined, STALE_MS));
}

/** Removes a claim left by a dead reclaimer, without removing a live one (see notes). */
function removeIfDead(claim: string, id: string): void {
  const j = judge(claim);
  if (j.kind !== 'dead') return;
  // Move it aside, then look at what was moved: only the judged dead claim is dropped;
  // a live claim moved by mistake (it replaced the dead one in between) goes back.
  const aside = `${claim}.${id}.stale`;
  try {
    fs.renameSync(claim, aside);
  } catch {
    return;
  }
  try {
    if (fs.readFileSync(aside, 'utf8') !== j.text) fs.linkSync(aside, claim);
  } catch {
    // EEXIST: a third claim appeared; the inode check of step 2 still guards the lock.
  } finally {
    fs.rmSync(aside, { force: true });
  }
}

function removeIfMine(path: string, id: string): void {
  try {
    const text = fs.readFileSync(path, 'utf8');
    if (parseRecords(text).some((r) => r.id === id)) fs.unlinkSync(path);
  } catch {
    // Already gone.
  }
}

function startHeartbeat(path: string): NodeJS.Timeout {
  // Other hosts judge a fallback record by its refresh time (they cannot see our pid).
  const t = setInterval(() => {
    const now = new Date();
    fs.utimes(path, now, now, () => {});
  }, HEARTBEAT_MS);
  t.unref();
  return t;
}

type Attempt = { kind: 'mine'; ino: number; oldFd?: number; deadText?: string } | Judgement;

/** One attempt: held (maybe pending natives in a replaced inode), or what stands in the way. */
function attempt(path: string, id: string, record: string): Attempt {
  if (createWhole(path, id, record)) return { kind: 'mine', ino: fs.statSync(path).ino };
  const j = judge(path);
  if (j.kind !== 'dead') return j;
  const r = reclaim(path, j, record, id);
  return r ? { kind: 'mine', ...r } : { kind: 'gone' };
}

class FallbackLocks implements PathLockBackend {
  async acquire(path: string, shared: boolean, w: CheckedWait): Promise<Held> {
    const id = newId();
    const record = recordLine(id, 'fallback', shared ? 'shared' : 'exclusive');
    const deadline = w.timeout === undefined ? undefined : Date.now() + w.timeout;
    for (let n = 0; ; n++) {
      if (w.signal?.aborted) throw abortReason(w.signal);
      const r = attempt(path, id, record);
      if (r.kind === 'mine') {
        const held = this.held(path, shared, id, r.ino);
        if (r.oldFd === undefined) return held;
        try {
          for (let i = 0; nativesInside(r.oldFd, r.deadText!); i++) {
            if (deadline !== undefined && Date.now() >= deadline) throw timeoutError(path, w.timeout!);
            await sleep(pollDelay(i), w.signal, abortReason);
          }
          return held;
        } catch (e) {
          this.release(held);
          throw e;
        } finally {
          fs.closeSync(r.oldFd);
        }
      }
      if (r.kind === 'gone') continue;
      const holder = r.kind === 'held' ? describeHolder(r.holder && toHolder(r.holder)) : undefined;
      if (!w.wait) throw lockedError(path, holder);
      const left = deadline === undefined ? Infinity : deadline - Date.now();
      if (left <= 0) throw timeoutError(path, w.timeout!, holder);
      await sleep(Math.min(pollDelay(n), left), w.signal, abortReason);
    }
  }

  acquireSync(path: string, shared: boolean, w: CheckedWait, conflictsHere: () => boolean): Held {
    const id = newId();
    const record = recordLine(id, 'fallback', shared ? 'shared' : 'exclusive');
    const deadline = w.timeout === undefined ? undefined : Date.now() + w.timeout;
    for (let n = 0; ; n++) {
      const r = attempt(path, id, record);
      if (r.kind === 'mine') {
        const held = this.held(path, shared, id, r.ino);
        if (r.oldFd === undefined) return held;
        try {
          for (let i = 0; nativesInside(r.oldFd, r.deadText!); i++) {
            if (deadline !== undefined && Date.now() >= deadline) throw timeoutError(path, w.timeout!);
            sleepSync(pollDelay(i));
          }
          return held;
        } catch (e) {
          this.release(held);
          throw e;
        } finally {
          fs.closeSync(r.oldFd);
        }
      }
      if (r.kind === 'gone') continue;
      const holder = r.kind === 'held' ? describeHolder(r.holder && toHolder(r.holder)) : undefined;
      if (!w.wait) throw lockedError(path, holder);
      if (conflictsHere()) throw deadlockError(path);
      const left = deadline === undefined ? Infinity : deadline - Date.now();
      if (left <= 0) throw timeoutError(path, w.timeout!, holder);
      sleepSync(Math.min(pollDelay(n), left));
    }
  }

  private held(path: string, shared: boolean, id: string, ino: number): FallbackHeld {
    return { path, shared, id, ino, heartbeat: startHeartbeat(path) };
  }

  release(held: Held): void {
    const h = held as FallbackHeld;
    clearInterval(h.heartbeat);
    let fd: number;
    try {
      fd = fs.openSync(h.path, 'r');
    } catch {
      return; // removed by someone else: nothing of ours is left
    }
    try {
      // Only our own record file goes: after a (mistaken) reclaim by someone else the
      // file at the path is theirs.
      if (fs.fstatSync(fd).ino === h.ino && parseRecords(readFd(fd)).some((r) => r.id === h.id)) fs.unlinkSync(h.path);
    } finally {
      fs.closeSync(fd);
    }
  }

  probe(path: string): Probe {
    const j = judge(path);
    if (j.kind !== 'held') return { state: 0, holder: undefined };
    return { state: j.holder?.mode === 'shared' ? 1 : 2, holder: j.holder && toHolder(j.holder) };
  }
}

export const fallbackLocks: PathLockBackend = new FallbackLocks();
