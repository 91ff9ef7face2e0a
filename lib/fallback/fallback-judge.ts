// The fallback's judgement of a lock file and its takeover of one nobody holds
// (docs/protocol.md, "Fallback holders", steps 1-3): who holds the file at the lock
// path, the one-step create of an attempt, and the reclaim of a file whose every
// record is dead. Steps (lib/fallback/fallback-io.ts): the same whether they run inside
// a lockSync call or on a timer.
import type * as fs from 'node:fs';
import { type FsPath, besideName, displayPath } from '../common/args';
import { codeError } from '../common/errors';
import { fileKey } from '../protocol/lock-backend';
import { kindOf, notRegularError, otherKindName } from '../protocol/lockfile';
import {
  HEADER,
  READ_MAX,
  type HolderRecord,
  isLockFileContent,
  parseRecords,
  recordLive,
  staleHolder,
} from '../protocol/record';
import { retried } from '../common/diagnostics';
import {
  type Claim,
  asLockError,
  closeQuietly,
  createWhole,
  isGoneCode,
  openExisting,
  refreshFd,
  removeIfThere,
  writeTemp,
} from './fallback-files';
import { type Step, fstat, link, read, rename, unlink } from './fallback-io';

/** An empty file this young may be a native acquirer between create and write. */
const EMPTY_GRACE_MS = 2_000;

export type Judgement =
  | { kind: 'gone' }
  | { kind: 'held'; holder: HolderRecord | undefined; key: string }
  | { kind: 'free'; ino: number; text: string };

/** What one attempt got: the lock (maybe with natives to wait for in a replaced inode), or what stands in the way. */
export type Attempt = { kind: 'mine'; fd: number; st: fs.Stats; oldFd?: number; freeText?: string } | Judgement;

/** The identity of a file from fs.Stats (exact below 2^53, which every inode here is). */
export function statKey(st: fs.Stats): string {
  return fileKey(st.dev, Math.floor(st.ino / 2 ** 32), st.ino % 2 ** 32);
}

/**
 * One attempt at `path` (`shared`: on a shared filesystem): create it whole, or judge
 * what is there, and reclaim it when nobody holds it. `claim` marks each file of this
 * call before it is put at the lock path or the claim path (fallback-files.ts Claim).
 * `judgeFirst` (a poll after a held finding) judges before it creates anything: a
 * waiter makes no temp file while the lock stays held (5 calls a poll instead of 12,
 * and a worker terminated while it waits leaves no temp file behind).
 */
export function* attempt(
  path: FsPath,
  id: string,
  record: string,
  mode: number,
  shared: boolean,
  claim: Claim,
  judgeFirst = false,
): Step<Attempt> {
  let j: Judgement | undefined;
  if (judgeFirst) {
    j = yield* judge(path, shared);
    if (j.kind === 'held') return j;
  }
  if (j?.kind !== 'free') {
    const made = yield* createWhole(path, id, HEADER + record, mode, claim);
    if (made) return { kind: 'mine', ...made };
    j = yield* judge(path, shared);
  }
  if (j.kind !== 'free') return j;
  const r = yield* reclaim(path, j, record, id, mode, shared, claim);
  if (!r) return { kind: 'gone' };
  // A live reclaimer's claim: it is about to hold the file.
  if ('kind' in r) return r;
  // Reclaimed: the file of holders that are all gone is ours now.
  retried('lock', displayPath(path), 'reclaim', undefined, () => staleHolder(j.text));
  return { kind: 'mine', ...r };
}

/**
 * Whether `path` is held, gone, or free (fslock's own file with no live record: then
 * which inode and content). Someone else's file cannot be locked here: ENOTSUP.
 */
export function* judge(path: FsPath, shared: boolean): Step<Judgement> {
  const fd = yield* openExisting(path);
  if (fd === undefined) return { kind: 'gone' };
  try {
    const st = yield* fstat(fd);
    const kind = kindOf(st);
    if (kind === 'directory')
      throw codeError(
        'ENOTSUP',
        'lock',
        displayPath(path),
        undefined,
        'the fallback backend cannot lock a directory (it has no kernel lock to take): use the native backend',
      );
    if (kind) throw notRegularError(displayPath(path), kind, kind === 'other' ? otherKindName(st) : undefined);
    const text = yield* read(fd, st.size);
    const bytes = Buffer.from(text);
    if (!isLockFileContent(bytes, bytes.length, st.size)) {
      if (st.size === 0 && Date.now() - st.mtimeMs < EMPTY_GRACE_MS)
        return { kind: 'held', holder: undefined, key: statKey(st) };
      throw codeError(
        'ENOTSUP',
        'lock',
        displayPath(path),
        undefined,
        'the fallback backend can only lock lock files that fslock creates (this file exists and is not one); ' +
          'lock a separate file such as the path plus ".lock", or use the native backend',
      );
    }
    const live = parseRecords(text).filter((r) => recordLive(r, st.mtimeMs));
    const holder = live.length ? live[live.length - 1] : yield* liveNow(fd, shared);
    if (holder) return { kind: 'held', holder, key: statKey(st) };
    return { kind: 'free', ino: st.ino, text };
  } catch (e) {
    if (isGoneCode(e)) return { kind: 'gone' };
    throw e;
  } finally {
    yield* closeQuietly(fd);
  }
}

/**
 * On a shared filesystem, a live record in what the server holds now for the inode of
 * `fd`. The client's cached view (name and content, about 1 s old on GlusterFS) is
 * judged first and is consistent in itself; a native holder writes its record in place,
 * which that view can miss. Only what both views call free is free: the fresh content
 * alone would pair a stale name with current content (a file that was released and has
 * since been replaced by another holder's would look free: seen as overlapping holders
 * across GlusterFS clients in 4 of 6 stress runs).
 */
function* liveNow(fd: number, shared: boolean): Step<HolderRecord | undefined> {
  if (!shared) return undefined;
  yield* refreshFd(fd, shared);
  const st = yield* fstat(fd);
  const live = parseRecords(yield* read(fd, st.size)).filter((r) => recordLive(r, st.mtimeMs));
  return live[live.length - 1];
}

/**
 * Takes over a lock file that nobody holds (all records dead or retracted). Steps, and
 * why each is safe:
 * 1. The claim `path.reclaim` (exclusive create) makes one fallback reclaimer at a time.
 * 2. Under the claim, `path` is re-opened and must be the judged inode with the judged
 *    content. Fallback processes cannot change it meanwhile (link() fails on an existing
 *    file, its holders are gone, other reclaimers wait on the claim); native ones can
 *    lock it and write a record (step 4 handles that).
 * 3. `rename(own record file, path)` replaces it atomically: `path` never disappears,
 *    so nobody can create a second lock file in between.
 * 4. The caller reads the replaced inode through the returned fd (`nativesInside`): a
 *    native process that locked it after step 2 wrote its record there before checking
 *    that its inode is still linked; if it checked before step 3 it holds the old inode,
 *    so we hold the new one and wait until its record is retracted (it appends a
 *    tombstone on release) or its process is dead. Natives that check after step 3 see
 *    nlink 0 and retry on the new file, where our record stops them.
 * Returns the held fd and inode and the old inode's fd; the claim's judgement when a
 * live reclaimer holds it (this call waits for it as for a holder: the reclaimer may be
 * a waiting lock() of this thread, which a lockSync must not wait for); or undefined
 * when the situation changed (the caller retries).
 */
function* reclaim(
  path: FsPath,
  free: { ino: number; text: string },
  record: string,
  id: string,
  mode: number,
  shared: boolean,
  mark: Claim,
): Step<{ fd: number; st: fs.Stats; oldFd: number; freeText: string } | Judgement | undefined> {
  const claim = besideName(path, '', '.reclaim');
  let unmarkClaim: (() => void) | undefined;
  const made = yield* createWhole(claim, id, HEADER + record, mode, (st) => (unmarkClaim = mark(st)));
  if (!made) {
    const j = yield* removeIfDead(claim, id, shared);
    return j?.kind === 'held' ? j : undefined;
  }
  yield* closeQuietly(made.fd);
  let old: number | undefined;
  try {
    old = yield* openExisting(path);
    if (old === undefined) return undefined;
    const st = yield* fstat(old);
    if (st.ino !== free.ino || (yield* read(old, st.size)) !== free.text || (yield* liveNow(old, shared)))
      return undefined;
    const { temp, fd } = yield* writeTemp(path, id, HEADER + record, mode);
    let newSt: fs.Stats;
    let unmark: (() => void) | undefined;
    try {
      // The temp's inode is what the rename puts at `path`: marked before it is there.
      newSt = yield* fstat(fd);
      unmark = mark(newSt);
      if ((yield* fstat(old)).nlink === 0) throw Object.assign(new Error('gone'), { code: 'ENOENT' });
      yield* rename(temp, path);
    } catch (e) {
      unmark?.();
      yield* closeQuietly(fd);
      yield* removeIfThere(temp);
      if (isGoneCode(e)) return undefined; // a native holder released (removed) it meanwhile: retry
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EPERM' || code === 'EACCES') throw stickyError(displayPath(path), st.uid, code);
      throw asLockError(e, path);
    }
    const result = { fd, st: newSt, oldFd: old, freeText: free.text };
    old = undefined;
    return result;
  } catch (e) {
    if (isGoneCode(e)) return undefined;
    throw e;
  } finally {
    if (old !== undefined) yield* closeQuietly(old);
    yield* removeIfMine(claim, id);
    unmarkClaim?.();
  }
}

/**
 * The takeover of a dead holder's file is a rename over it, which a sticky directory
 * (/tmp) allows only the file's owner and root. Writing into it in place instead would
 * race with native processes (no compare-and-swap), so the fallback says what is wrong.
 */
function stickyError(path: string, uid: number, code: string): Error {
  return codeError(
    code,
    'rename',
    path,
    undefined,
    `operation not permitted: the lock file belongs to uid ${uid} and its holder is gone, but this ` +
      `directory (sticky) lets only its owner replace it; remove it as uid ${uid} or root, or use the native backend`,
  );
}

/** Whether a native process may still hold the inode a reclaim replaced. */
export function* nativesInside(oldFd: number, freeText: string, shared: boolean): Step<boolean> {
  let text: string;
  try {
    yield* refreshFd(oldFd, shared);
    text = yield* read(oldFd, READ_MAX);
  } catch {
    return false; // ESTALE: the old inode is gone everywhere
  }
  if (text === freeText) return false;
  return parseRecords(text).some((r) => r.backend === 'native' && recordLive(r, undefined));
}

/** Removes a claim left by a dead reclaimer, without removing a live one; returns how it was judged. */
function* removeIfDead(claim: FsPath, id: string, shared: boolean): Step<Judgement | undefined> {
  let j: Judgement;
  try {
    j = yield* judge(claim, shared);
  } catch {
    return undefined;
  }
  if (j.kind !== 'free') return j;
  // Move it aside, then look at what was moved: only the judged dead claim is dropped;
  // a live claim moved by mistake (it replaced the dead one in between) goes back.
  const aside = besideName(claim, '', `.${id}.stale`);
  try {
    yield* rename(claim, aside);
  } catch {
    return undefined;
  }
  try {
    const fd = yield* openExisting(aside);
    const text = fd === undefined ? j.text : yield* readAndClose(fd);
    if (text !== j.text) yield* link(aside, claim);
  } catch {
    // EEXIST: a third claim appeared; the inode check of step 2 still guards the lock.
  } finally {
    yield* removeIfThere(aside);
  }
  return undefined;
}

function* readAndClose(fd: number): Step<string> {
  try {
    return yield* read(fd, READ_MAX);
  } finally {
    yield* closeQuietly(fd);
  }
}

function* removeIfMine(path: FsPath, id: string): Step<void> {
  try {
    const fd = yield* openExisting(path);
    if (fd !== undefined && parseRecords(yield* readAndClose(fd)).some((r) => r.id === id)) yield* unlink(path);
  } catch {
    // Already gone.
  }
}
