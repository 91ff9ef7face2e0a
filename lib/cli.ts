// The `fslock` command: util-linux flock(1)'s habit on every platform, for npm scripts
// and CI jobs. Holds a path lock while a command runs (lib/cli/cli-run.ts: the command
// shares the lock, signals), exits with its status; `--holder` says who holds a lock.
import * as nodePath from 'node:path';
import { timeoutError } from './common/errors';
import { backend } from './index';
import { isLocked, lock, lockHolder, type Lock } from './locks/locks';
import { clearLongTimeout, setLongTimeout } from './common/long-timer';
import { CAUGHT, runner, signalNumber } from './cli/cli-run';
import { describeHolder } from './protocol/record';

const USAGE = `Usage: fslock [options] LOCKFILE [--] COMMAND [ARGS...]
       fslock -H|--holder [--json] LOCKFILE

Runs COMMAND while holding a lock on LOCKFILE (created if missing, removed after).

Options:
  -s, --shared                 take a shared lock (default: exclusive)
  -x, -e, --exclusive          take an exclusive lock (the default)
  -n, --nonblock               fail at once if the lock is held (exit 1, or -E)
  -w, --timeout SECONDS        give up after SECONDS (exit 1, or -E); any number >= 0
  -E, --conflict-exit-code N   exit code when the lock cannot be had (default 1)
  -o, --close                  COMMAND does not share the lock (if fslock is killed,
                               the lock is released although COMMAND still runs)
  -q, --quiet                  do not say whom we are waiting for
  -H, --holder                 print who holds LOCKFILE, take nothing (--json: as JSON)
  -h, --help                   this text
  -V, --version                the fslock version

Short options bundle as in flock(1): -xn, -w5, -nE3.

Exit status: COMMAND's own, 128+n if a signal n ended it, 1 (or -E N) when the lock
cannot be had, 64 for bad usage, 126/127 when COMMAND cannot be run.
With -H: 0 locked (holder printed), 1 not locked, 2 cannot tell (error on stderr).

COMMAND shares the lock as flock(1)'s does: it lives while fslock or COMMAND lives.
COMMAND runs in fslock's process group: the terminal's Ctrl-C reaches it once;
signals sent to fslock alone (HUP INT QUIT TERM USR2 ALRM) are passed on to it.`;

const EX_USAGE = 64;

interface Options {
  mode: 'run' | 'holder';
  json: boolean;
  close: boolean;
  shared: boolean;
  nonblock: boolean;
  timeout: number | undefined;
  conflictCode: number;
  quiet: boolean;
  file: string;
  command: string[];
}

class UsageError extends Error {}

const FLAGS = 'sexnoqhVH'; // short options without a value
const VALUED = 'wE'; // short options with one

function parse(args: string[]): Options | 'help' | 'version' {
  const argv = [...args];
  const o: Partial<Options> = {
    mode: 'run',
    json: false,
    close: false,
    shared: false,
    nonblock: false,
    conflictCode: 1,
    quiet: false,
  };
  let i = 0;
  const value = (name: string): string => {
    if (i + 1 >= argv.length) throw new UsageError(`option ${name} needs a value`);
    return argv[++i];
  };
  for (; i < argv.length; i++) {
    let a = argv[i];
    // flock(1)'s getopt forms: bundled flags (`-xn`) and attached values (`-w5`, `-E3`).
    if (/^-[^-]./.test(a) && o.file === undefined) {
      const c = a[1];
      if (VALUED.includes(c)) argv.splice(i, 1, `-${c}`, a.slice(2));
      else if (FLAGS.includes(c)) argv.splice(i, 1, `-${c}`, `-${a.slice(2)}`);
      else throw new UsageError(`unknown option: -${c}`);
      a = argv[i];
    }
    let inline: string | undefined;
    if (a.startsWith('--') && a.includes('=')) [a, inline] = [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)];
    const val = (name: string) => (inline !== undefined ? inline : value(name));
    if (a === '-s' || a === '--shared') o.shared = true;
    else if (a === '-x' || a === '-e' || a === '--exclusive') o.shared = false;
    else if (a === '-o' || a === '--close') o.close = true;
    else if (a === '-H' || a === '--holder') o.mode = 'holder';
    else if (a === '--json') o.json = true;
    else if (a === '-n' || a === '--nonblock' || a === '--nb') o.nonblock = true;
    else if (a === '-q' || a === '--quiet') o.quiet = true;
    else if (a === '-h' || a === '--help') return 'help';
    else if (a === '-V' || a === '--version') return 'version';
    else if (a === '-w' || a === '--timeout' || a === '--wait') {
      const v = val(a);
      const secs = Number(v);
      // Any finite number of seconds, waited for however long (lib/common/long-timer.ts).
      if (v.trim() === '' || !Number.isFinite(secs) || secs < 0) throw new UsageError(`invalid timeout: ${v}`);
      o.timeout = secs * 1000;
    } else if (a === '-E' || a === '--conflict-exit-code') {
      const v = val(a);
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 255) throw new UsageError(`invalid exit code: ${v}`);
      o.conflictCode = n;
    } else if (a === '--') {
      i++;
      break;
    } else if (a.startsWith('-') && a.length > 1 && o.file === undefined) {
      throw new UsageError(`unknown option: ${a}`);
    } else if (o.file === undefined) {
      o.file = a;
    } else break; // the command starts here
  }
  if (o.file === undefined && i < argv.length) o.file = argv[i++];
  if (o.file === undefined) throw new UsageError('no lock file given');
  o.command = argv.slice(i);
  if (o.mode === 'holder') {
    if (o.command.length) throw new UsageError('--holder takes a lock file and no command');
  } else if (o.command.length === 0) throw new UsageError('no command given');
  else if (o.json) throw new UsageError('--json goes with --holder');
  return o as Options;
}

/**
 * Takes the lock, or resolves with the status to exit with. Waits of any length: the
 * -w timer is fslock's own (setLongTimeout), which aborts the wait.
 */
async function acquire(o: Options, ac: AbortController): Promise<Lock | number> {
  const file = nodePath.resolve(o.file);
  let tell: NodeJS.Timeout | undefined;
  if (!o.quiet && !o.nonblock) {
    tell = setTimeout(async () => {
      const h = await lockHolder(file).catch(() => undefined);
      const who = describeHolder(h) ?? 'another process';
      process.stderr.write(`fslock: waiting for ${o.file}, held by ${who}\n`);
    }, 1000);
  }
  const ms = o.timeout;
  const timer =
    ms === undefined || ms === 0 || o.nonblock
      ? undefined
      : setLongTimeout(async () => {
          const h = await lockHolder(file).catch(() => undefined);
          ac.abort(timeoutError(file, ms, describeHolder(h)));
        }, ms);
  try {
    return await lock(file, {
      shared: o.shared,
      wait: !o.nonblock,
      timeout: ms === 0 ? 0 : undefined,
      signal: ac.signal,
    });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ELOCKED' || err.code === 'ETIMEDOUT') {
      if (!o.quiet) process.stderr.write(`fslock: ${err.message}\n`);
      return o.conflictCode;
    }
    if (err.code !== 'ABORT_ERR') process.stderr.write(`fslock: ${err.message}\n`);
    return 1;
  } finally {
    if (tell) clearTimeout(tell);
    clearLongTimeout(timer);
  }
}

/** -H: who holds the lock. Takes nothing, creates nothing, never waits. */
async function holder(o: Options): Promise<number> {
  let h: Awaited<ReturnType<typeof lockHolder>>;
  let locked: boolean;
  try {
    h = await lockHolder(o.file);
    locked = h !== undefined || (await isLocked(o.file));
  } catch (e) {
    process.stderr.write(`fslock: ${(e as Error).message}\n`);
    return 2;
  }
  if (o.json) {
    const out = h
      ? {
          locked: true,
          pid: h.pid,
          hostname: h.hostname,
          since: h.since?.toISOString(),
          shared: h.shared,
          record: h.record,
          name: h.name,
        }
      : { locked };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } else if (h) {
    const mode = h.shared ? 'shared' : 'exclusive';
    process.stdout.write(`${o.file}: locked (${mode}) by ${describeHolder(h)}\n`);
  } else {
    process.stdout.write(`${o.file}: ${locked ? 'locked, by a holder that left no record' : 'not locked'}\n`);
  }
  return locked ? 0 : 1;
}

/** Entry point of bin/fslock.js; resolves with the process exit status. */
export async function main(argv: string[]): Promise<number> {
  let o: ReturnType<typeof parse>;
  try {
    o = parse(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`fslock: ${e.message}\n${USAGE}\n`);
    return EX_USAGE;
  }
  if (o === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (o === 'version') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { version } = require('../../package.json') as { version: string };
    process.stdout.write(`fslock ${version} (${backend} backend)\n`);
    return 0;
  }
  if (o.mode === 'holder') return holder(o);

  // A signal before the command runs (while waiting, or before the command starts)
  // stops everything: exit as a shell would (128+n), the command never runs. Once it
  // runs, lib/cli/cli-run.ts decides. These listeners stay until fslock exits.
  const ac = new AbortController();
  let interrupted: NodeJS.Signals | undefined;
  let running = false;
  for (const s of CAUGHT)
    process.on(s, () => {
      if (running) return;
      interrupted ??= s;
      ac.abort();
    });
  const held = await acquire(o, ac);
  if (typeof held === 'number' || interrupted) {
    if (typeof held !== 'number') await held.release();
    return interrupted ? 128 + signalNumber(interrupted) : (held as number);
  }
  const r = runner();
  try {
    const status = await r.run(o.command, held, {
      close: o.close,
      start: () => {
        if (interrupted) return false;
        running = true;
        return true;
      },
    });
    return running ? status : 128 + signalNumber(interrupted!);
  } finally {
    // The exit status stays the command's; a release that fails (e.g. ELOCKLOST: a
    // fallback lock reclaimed by another host meanwhile) is said on stderr.
    await held.release().catch((e: Error) => process.stderr.write(`fslock: ${e.message}\n`));
  }
}
