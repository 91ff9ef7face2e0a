// The `fslock` command: util-linux flock(1)'s habit on every platform, for npm scripts
// and CI jobs. Holds a path lock while a command runs, forwards signals to it, and
// exits with its status.
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import { backend } from './index';
import { lock, lockHolder, type Lock } from './locks';
import { describeHolder } from './record';

const USAGE = `Usage: fslock [options] LOCKFILE [--] COMMAND [ARGS...]

Runs COMMAND while holding a lock on LOCKFILE (created if missing, removed after).

Options:
  -s, --shared                 take a shared lock (default: exclusive)
  -n, --nonblock               fail at once if the lock is held (exit 1, or -E)
  -w, --timeout SECONDS        give up after SECONDS (exit 1, or -E)
  -E, --conflict-exit-code N   exit code when the lock cannot be had (default 1)
  -q, --quiet                  do not say whom we are waiting for
  -x, -e, --exclusive, -o      accepted as in flock(1) (exclusive is the default; the
                               command never inherits the lock)
  -h, --help                   this text
  -V, --version                the fslock version

Short options bundle as in flock(1): -xn, -w5, -nE3.

Exit status: COMMAND's own, 128+n if a signal n ended it, 1 (or -E N) when the lock
cannot be had, 64 for bad usage, 126/127 when COMMAND cannot be run.
SIGINT, SIGTERM and SIGHUP are passed on to COMMAND. Unlike flock(1), COMMAND does
not inherit the lock: if fslock itself is killed, the lock is released at once.`;

const EX_USAGE = 64;

interface Options {
  shared: boolean;
  nonblock: boolean;
  timeout: number | undefined;
  conflictCode: number;
  quiet: boolean;
  file: string;
  command: string[];
}

class UsageError extends Error {}

const FLAGS = 'sexnoqhV'; // short options without a value
const VALUED = 'wE'; // short options with one

function parse(args: string[]): Options | 'help' | 'version' {
  const argv = [...args];
  const o: Partial<Options> = { shared: false, nonblock: false, conflictCode: 1, quiet: false };
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
    else if (a === '-o' || a === '--close') {
      // flock(1)'s "the command does not inherit the lock": always so here.
    }
    else if (a === '-n' || a === '--nonblock' || a === '--nb') o.nonblock = true;
    else if (a === '-q' || a === '--quiet') o.quiet = true;
    else if (a === '-h' || a === '--help') return 'help';
    else if (a === '-V' || a === '--version') return 'version';
    else if (a === '-w' || a === '--timeout' || a === '--wait') {
      const v = val(a);
      const secs = Number(v);
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
  if (o.command.length === 0) throw new UsageError('no command given');
  return o as Options;
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

function signalNumber(sig: NodeJS.Signals): number {
  return (os.constants.signals as Record<string, number>)[sig] ?? 1;
}

/** Runs the command; resolves with the exit status fslock should end with. */
function runCommand(command: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command[0], command.slice(1), { stdio: 'inherit' });
    const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
    const handlers = SIGNALS.map((s) => [s, forward(s)] as const);
    for (const [s, h] of handlers) process.on(s, h);
    const done = (status: number) => {
      for (const [s, h] of handlers) process.off(s, h);
      resolve(status);
    };
    child.on('error', (e: NodeJS.ErrnoException) => {
      process.stderr.write(`fslock: cannot run ${command[0]}: ${e.message}\n`);
      done(e.code === 'ENOENT' ? 127 : 126);
    });
    child.on('exit', (code, signal) => done(signal ? 128 + signalNumber(signal) : (code ?? 1)));
  });
}

async function acquire(o: Options): Promise<Lock | number> {
  const ac = new AbortController();
  // Ctrl-C while waiting: stop waiting, exit like a shell would.
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (s: NodeJS.Signals) => {
    interrupted = s;
    ac.abort();
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  let tell: NodeJS.Timeout | undefined;
  if (!o.quiet && !o.nonblock) {
    tell = setTimeout(async () => {
      const h = await lockHolder(o.file).catch(() => undefined);
      const who = describeHolder(h) ?? 'another process';
      process.stderr.write(`fslock: waiting for ${o.file}, held by ${who}\n`);
    }, 1000);
  }
  try {
    return await lock(o.file, { shared: o.shared, wait: !o.nonblock, timeout: o.timeout, signal: ac.signal });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (interrupted) return 128 + signalNumber(interrupted);
    if (err.code === 'ELOCKED' || err.code === 'ETIMEDOUT') {
      if (!o.quiet) process.stderr.write(`fslock: ${err.message}\n`);
      return o.conflictCode;
    }
    process.stderr.write(`fslock: ${err.message}\n`);
    return 1;
  } finally {
    if (tell) clearTimeout(tell);
    for (const s of SIGNALS) process.off(s, onSignal);
  }
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
    process.stdout.write(`fslock ${(require('../../package.json') as { version: string }).version} (${backend} backend)\n`);
    return 0;
  }
  const held = await acquire(o);
  if (typeof held === 'number') return held;
  try {
    return await runCommand(o.command);
  } finally {
    await held.release();
  }
}
