// createUnique: the "timestamp-N" pattern. The data is written once to a temp file,
// which no-replace renames then try to give name(0), name(1), ...
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { basenameOf, joinName, toFsPath, toFunction, type FsPath, type PathLike } from '../common/args';
import { AtomicFlags } from '../native/binding';
import { abortReason, invalidArgValue } from '../common/errors';
import { ops } from './atomic-ops';
import { checkAccess } from '../common/permission';
import { moveNoReplace, moveNoReplaceSync } from './atomic-move';
import {
  code,
  exclusiveOptions,
  isIterable,
  job,
  report,
  runData,
  runSync,
  toBytes,
  type Data,
  type DataSource,
  type WriteOptions,
} from './atomic-run';

const MAX_UNIQUE_ATTEMPTS = 10000;

/** Taken names in a row after which createUnique lists the directory. */
const LIST_AFTER = 8;

/**
 * The names createUnique tries, in order. After LIST_AFTER taken names in a row, one
 * listing of the directory lets it pass over the names that existed then without a
 * probe each: the same answer as probing them (each was taken when listed, before the
 * probe that succeeds), in one call instead of one per name. The no-replace rename
 * still decides every name it returns.
 */
class UniqueNames {
  private attempt = 0;
  private takenInARow = 0;
  private listing: Set<string> | undefined;
  private canList = true;

  constructor(
    private readonly dir: FsPath,
    private readonly fn: (attempt: number) => string,
  ) {}

  /** The last name was taken: true when a listing is due (pass it to {@link listed}). */
  taken(): boolean {
    return this.canList && ++this.takenInARow >= LIST_AFTER;
  }

  /** The directory's entries, or undefined where it cannot be listed (then: probe every name). */
  listed(names: Buffer[] | undefined): void {
    this.takenInARow = 0;
    if (names) this.listing = new Set(names.map((n) => n.toString('latin1')));
    else this.canList = false;
  }

  /** The next name to probe, or undefined after MAX_UNIQUE_ATTEMPTS names. */
  next(): FsPath | undefined {
    while (++this.attempt < MAX_UNIQUE_ATTEMPTS) {
      const target = uniqueName(this.dir, this.fn, this.attempt);
      if (!this.listing?.has(Buffer.from(basenameOf(target)).toString('latin1'))) return target;
    }
    return undefined;
  }
}

/** The directory's entries; undefined where it cannot be read (write-only directories). */
function listSync(dir: FsPath): Buffer[] | undefined {
  try {
    return fs.readdirSync(dir, { encoding: 'buffer' });
  } catch {
    return undefined;
  }
}

function uniqueName(dir: FsPath, name: (attempt: number) => string, attempt: number): FsPath {
  const n = name(attempt);
  if (
    typeof n !== 'string' ||
    n.length === 0 ||
    n.includes('\0') ||
    n !== nodePath.basename(n) ||
    n === '.' ||
    n === '..'
  ) {
    throw invalidArgValue('name', n, `must return a non-empty file name without directory parts (attempt ${attempt})`);
  }
  return joinName(dir, n);
}

/** `iterable`: the promise API, which also takes chunks (written as they come). */
function uniqueSetup(dirArg: unknown, name: unknown, data: unknown, options: unknown, iterable: boolean) {
  const dir = toFsPath(dirArg, 'dir');
  const fn = toFunction<(attempt: number) => string>(name, 'name');
  const c = exclusiveOptions(options, !iterable);
  const bytes =
    iterable && isIterable(data) && typeof data !== 'string' ? new Uint8Array(0) : toBytes(data, c.encoding);
  const j = job(uniqueName(dir, fn, 0), bytes, c, 0);
  // Written once, to a temp file that createUnique then moves itself.
  return { dir, fn, c, j: { ...j, flags: (j.flags & ~AtomicFlags.SyncDir) | AtomicFlags.WriteOnly } };
}

/**
 * The "timestamp-N" pattern without races: writes `data` once to a temp file, then
 * moves it with a no-replace rename to `dir/name(0)`, `dir/name(1)`, ... until a name is
 * free, and returns that path. No two callers ever get the same name, and the file
 * appears with its whole content. After 8 taken names in a row, one listing of `dir`
 * lets it pass over names that existed then without a rename each.
 *
 * @param name called with 0, 1, 2, ... for every attempt; returns a plain file name.
 * @returns the path created: a string, or a Buffer when `dir` is a Buffer whose bytes
 *   are not valid UTF-8 (its exact bytes, which a string cannot hold).
 */
export async function createUnique(
  dir: string | URL,
  name: (attempt: number) => string,
  data: DataSource,
  options?: WriteOptions,
): Promise<string>;
export async function createUnique(
  dir: PathLike,
  name: (attempt: number) => string,
  data: DataSource,
  options?: WriteOptions,
): Promise<string | Buffer>;
export async function createUnique(
  dir: PathLike,
  name: (attempt: number) => string,
  data: DataSource,
  options?: WriteOptions,
): Promise<FsPath> {
  const u = uniqueSetup(dir, name, data, options, true);
  const { temp } = await runData(u.j, data, u.c);
  const names = new UniqueNames(u.dir, u.fn);
  try {
    for (let target = u.j.target; ;) {
      u.c.signal?.throwIfAborted();
      checkAccess('fs.write', target);
      try {
        await moveNoReplace(temp, target, true);
      } catch (e) {
        if (code(e) !== 'EEXIST') throw report(e, target);
        if (names.taken())
          names.listed(await fs.promises.readdir(u.dir, { encoding: 'buffer' }).catch(() => undefined));
        const after = names.next();
        if (after === undefined) throw report(e, target);
        target = after;
        continue;
      }
      if (u.c.flags & AtomicFlags.SyncDir) await ops.syncDir(u.dir);
      return target;
    }
  } catch (e) {
    await fs.promises.unlink(temp).catch(() => undefined);
    throw u.c.signal?.aborted ? abortReason(u.c.signal) : e;
  }
}

/** Synchronous {@link createUnique}. */
export function createUniqueSync(
  dir: string | URL,
  name: (attempt: number) => string,
  data: Data,
  options?: Omit<WriteOptions, 'signal'>,
): string;
export function createUniqueSync(
  dir: PathLike,
  name: (attempt: number) => string,
  data: Data,
  options?: Omit<WriteOptions, 'signal'>,
): string | Buffer;
export function createUniqueSync(
  dir: PathLike,
  name: (attempt: number) => string,
  data: Data,
  options?: Omit<WriteOptions, 'signal'>,
): FsPath {
  const u = uniqueSetup(dir, name, data, options, false);
  const { temp } = runSync(u.j, u.c);
  const names = new UniqueNames(u.dir, u.fn);
  try {
    for (let target = u.j.target; ;) {
      checkAccess('fs.write', target);
      try {
        moveNoReplaceSync(temp, target, true);
      } catch (e) {
        if (code(e) !== 'EEXIST') throw report(e, target);
        if (names.taken()) names.listed(listSync(u.dir));
        const after = names.next();
        if (after === undefined) throw report(e, target);
        target = after;
        continue;
      }
      if (u.c.flags & AtomicFlags.SyncDir) ops.syncDirSync(u.dir);
      return target;
    }
  } catch (e) {
    try {
      fs.unlinkSync(temp);
    } catch {
      // the temp file may be gone already
    }
    throw e;
  }
}
