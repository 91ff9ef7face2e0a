// The fslock command's command line: util-linux flock(1)'s (getopt_long with "+": the
// options come first, the first other word is the lock file or descriptor), with
// fslock's additions (-q, -H, --json, `LOCKFILE -- COMMAND`). Loads nothing else: a
// bad command line costs no lock machinery.

export const USAGE = `Usage: fslock [options] LOCKFILE|DIRECTORY [--] COMMAND [ARGS...]
       fslock [options] LOCKFILE|DIRECTORY -c COMMAND
       fslock [-s|-x|-u] [-n|-w SECONDS] [-E N] FD
       fslock -H|--holder [--json] LOCKFILE

Runs COMMAND while holding a lock on LOCKFILE (created if missing, kept after), or
locks the inherited descriptor FD, as util-linux flock(1) does.

Options:
  -s, --shared                 take a shared lock (default: exclusive)
  -x, -e, --exclusive          take an exclusive lock (the default)
  -u, --unlock                 FD: drop the lock on the descriptor
  -n, --nb, --nonblock         fail at once if the lock is held (exit 1, or -E)
  -w, --wait, --timeout SECS   give up after SECS (exit 1, or -E); any number >= 0
  -E, --conflict-exit-code N   exit code when the lock cannot be had (default 1)
  -o, --close                  COMMAND does not share the lock (if fslock is killed,
                               the lock is released although COMMAND still runs)
  -c, --command COMMAND        after LOCKFILE: run COMMAND through the shell ($SHELL,
                               else /bin/sh; Windows: cmd.exe)
  -F, --no-fork                accepted for flock(1) scripts: COMMAND runs as a child
                               that shares the lock all the same
      --verbose                say how long the lock took and what runs (stdout)
  -q, --quiet                  do not say whom we are waiting for or who holds it
  -H, --holder                 print who holds LOCKFILE, take nothing (--json: as JSON)
  -h, --help                   this text
  -V, --version                the fslock version

Short options bundle as in flock(1): -xn, -w5, -nE3.

Exit status: COMMAND's own, 128+n if a signal n ended it; 1 (or -E N) when the lock
cannot be had; 126/127 when COMMAND cannot be run; as flock(1): 64 bad usage, 65 the
lock call failed (e.g. a bad descriptor), 66 the lock file cannot be opened, 71 and 73
out of resources. With -H: 0 locked (holder printed), 1 not locked, 2 cannot tell.

COMMAND shares the lock as flock(1)'s does: it lives while fslock or COMMAND lives.
COMMAND runs in fslock's process group: the terminal's Ctrl-C reaches it once;
signals sent to fslock alone (HUP INT QUIT TERM USR2 ALRM) are passed on to it.`;

/** <sysexits.h> codes, as flock(1) uses them. */
export const EX_USAGE = 64;
export const EX_DATAERR = 65;
export const EX_NOINPUT = 66;
export const EX_OSERR = 71;
export const EX_CANTCREAT = 73;

/**
 * flock(1)'s exit status for a lock that could not be taken for another reason than a
 * conflict: out of resources (ENOLCK, ENOMEM, EMFILE, ENFILE) 71, a lock file that
 * cannot be created (EROFS, ENOSPC, EDQUOT) 73, a lock call that failed (EBADF,
 * ENOTSUP...) 65, and any other failure to open it (ENOENT, EACCES...) 66.
 */
export function exitFor(err: NodeJS.ErrnoException): number {
  const code = err.code ?? '';
  if (['ENOLCK', 'ENOMEM', 'EMFILE', 'ENFILE'].includes(code)) return EX_OSERR;
  if (['EROFS', 'ENOSPC', 'EDQUOT'].includes(code)) return EX_CANTCREAT;
  if (err.syscall === 'flock' || err.syscall === 'fcntl' || code === 'EBADF' || code === 'ENOTSUP') return EX_DATAERR;
  return EX_NOINPUT;
}

/** --verbose: flock(1)'s line, "getting lock took 0.000012 seconds". */
export function tookLine(startNs: bigint): string {
  const us = (process.hrtime.bigint() - startNs) / 1000n;
  return `fslock: getting lock took ${us / 1_000_000n}.${String(us % 1_000_000n).padStart(6, '0')} seconds\n`;
}

interface Common {
  shared: boolean;
  unlock: boolean;
  nonblock: boolean;
  /** ms; undefined: wait for ever. */
  timeout: number | undefined;
  conflictCode: number;
  quiet: boolean;
  verbose: boolean;
}
/** `fslock LOCKFILE COMMAND...` / `fslock LOCKFILE -c COMMAND`. */
export interface RunOptions extends Common {
  mode: 'run';
  file: string;
  command: string[];
  /** -c: `command` is [the shell command line]. */
  shell: boolean;
  close: boolean;
}
/** `fslock FD`. */
export interface FdOptions extends Common {
  mode: 'fd';
  fd: number;
}
/** `fslock -H LOCKFILE`. */
export interface HolderOptions extends Common {
  mode: 'holder';
  file: string;
  json: boolean;
}
export type Options = RunOptions | FdOptions | HolderOptions;

export class UsageError extends Error {}

const FLAGS = 'sexnoFuqHhV'; // short options without a value
const VALUED = 'wE'; // short options with one
/** Long options (getopt_long: any unambiguous prefix), to their short letter or name. */
const LONG: Record<string, string> = {
  shared: 's',
  exclusive: 'x',
  unlock: 'u',
  nonblock: 'n',
  nonblocking: 'n',
  nb: 'n',
  timeout: 'w',
  wait: 'w',
  'conflict-exit-code': 'E',
  close: 'o',
  'no-fork': 'F',
  verbose: 'verbose',
  quiet: 'q',
  holder: 'H',
  json: 'json',
  help: 'h',
  version: 'V',
};

function longOption(name: string): string {
  if (LONG[name]) return LONG[name];
  const hits = new Set(
    Object.keys(LONG)
      .filter((k) => k.startsWith(name))
      .map((k) => LONG[k]),
  );
  if (hits.size === 1) return [...hits][0];
  throw new UsageError(`${hits.size ? 'ambiguous' : 'unrecognized'} option '--${name}'`);
}

/** The options and the words after them, read as getopt_long("+sexnoFuqHhVw:E:") does. */
function options(argv: string[]): { opts: Map<string, string>; rest: string[] } {
  const opts = new Map<string, string>();
  const set = (key: string, value: string): void => {
    // flock(1): the last of -s/-x/-u wins.
    if ('sxeu'.includes(key)) for (const m of 'sxeu') opts.delete(m);
    opts.set(key, value);
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      i++;
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const key = longOption(eq < 0 ? a.slice(2) : a.slice(2, eq));
      if (VALUED.includes(key)) {
        if (eq >= 0) set(key, a.slice(eq + 1));
        else if (i + 1 < argv.length) set(key, argv[++i]);
        else throw new UsageError(`option '${a}' requires an argument`);
      } else if (eq >= 0) throw new UsageError(`option '--${a.slice(2, eq)}' doesn't allow an argument`);
      else set(key, '');
      continue;
    }
    if (!a.startsWith('-') || a === '-') break; // the lock file or descriptor
    // A bundle of short options (-xn), the last one perhaps with its value (-w5, -nE3).
    for (let j = 1; j < a.length; j++) {
      const c = a[j];
      if (VALUED.includes(c)) {
        if (j + 1 < a.length) set(c, a.slice(j + 1));
        else if (i + 1 < argv.length) set(c, argv[++i]);
        else throw new UsageError(`option requires an argument -- '${c}'`);
        break;
      }
      if (!FLAGS.includes(c)) throw new UsageError(`invalid option -- '${c}'`);
      set(c, '');
    }
  }
  return { opts, rest: argv.slice(i) };
}

function seconds(v: string): number {
  const secs = Number(v);
  // Any finite number of seconds, waited for however long (lib/common/long-timer.ts).
  if (v.trim() === '' || !Number.isFinite(secs) || secs < 0) throw new UsageError(`invalid timeout value: '${v}'`);
  return secs * 1000;
}

function exitCode(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n)) throw new UsageError(`invalid exit code: '${v}'`);
  if (n < 0 || n > 255) throw new UsageError('exit code out of range (expected 0 to 255)');
  return n;
}

export function parse(argv: string[]): Options | 'help' | 'version' {
  const { opts, rest } = options(argv);
  if (opts.has('h')) return 'help';
  if (opts.has('V')) return 'version';
  const timeout = opts.has('w') ? seconds(opts.get('w')!) : undefined;
  const common: Common = {
    shared: opts.has('s'),
    unlock: opts.has('u'),
    // flock(1): "-w 0 is equivalent to -n".
    nonblock: opts.has('n') || timeout === 0,
    timeout: timeout === 0 ? undefined : timeout,
    conflictCode: opts.has('E') ? exitCode(opts.get('E')!) : 1,
    quiet: opts.has('q'),
    verbose: opts.has('verbose'),
  };
  if (opts.has('F') && opts.has('o')) throw new UsageError('the --no-fork and --close options are incompatible');
  if (rest.length === 0) throw new UsageError('requires file descriptor, file or directory');
  if (opts.has('H')) {
    if (rest.length > 1) throw new UsageError('--holder takes a lock file and no command');
    return { ...common, mode: 'holder', file: rest[0], json: opts.has('json') };
  }
  if (opts.has('json')) throw new UsageError('--json goes with --holder');
  if (rest.length === 1) {
    // No command: the descriptor form. A word that is not a descriptor number is most
    // likely a lock file whose command was forgotten.
    const fd = /^[0-9]+$/.test(rest[0]) ? Number(rest[0]) : NaN;
    if (!(fd <= 0x7fffffff)) throw new UsageError(`no command given, and '${rest[0]}' is not a file descriptor number`);
    return { ...common, mode: 'fd', fd };
  }
  if (common.unlock) throw new UsageError('-u/--unlock drops the lock of a descriptor: fslock -u FD');
  const [file, first, ...more] = rest;
  const base = { ...common, mode: 'run' as const, file, close: opts.has('o') };
  if (first === '-c' || first === '--command') {
    if (more.length !== 1) throw new UsageError(`${first} requires exactly one command argument`);
    return { ...base, command: more, shell: true };
  }
  // `LOCKFILE -- COMMAND` (fslock's own; flock(1) would run a command named "--").
  const command = first === '--' ? more : [first, ...more];
  if (command.length === 0) throw new UsageError('no command given');
  return { ...base, command, shell: false };
}
