// The `fslock` command: util-linux flock(1)'s habit on every platform, for npm scripts
// and CI jobs. Holds a path lock while a command runs (lib/cli/cli-run.ts: the command
// shares the lock, signals) and exits with its status; locks an inherited descriptor
// (lib/cli/cli-fd.ts); `--holder` says who holds a lock (lib/cli/cli-holder.ts).
//
// Start-up is most of what a short command costs (bench/cli.bench.js): each form loads
// only the modules it uses, when it uses them (hence the require() calls below).
/* eslint-disable @typescript-eslint/no-require-imports */
import { type Options, type RunOptions, EX_USAGE, USAGE, UsageError, parse } from './cli/cli-args';
import type { Lock } from './locks/locks';

/** Entry point of bin/fslock.js; resolves with the process exit status. */
export async function main(argv: string[]): Promise<number> {
  let o: Options | 'help' | 'version';
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
    const { version } = require('../../package.json') as { version: string };
    const { backendName } = require('./native/binding') as typeof import('./native/binding');
    process.stdout.write(`fslock ${version} (${backendName} backend)\n`);
    return 0;
  }
  if (o.mode === 'holder') return (require('./cli/cli-holder') as typeof import('./cli/cli-holder')).holder(o);
  if (o.mode === 'fd') return (require('./cli/cli-fd') as typeof import('./cli/cli-fd')).lockFd(o);
  return runLocked(o);
}

/** `fslock LOCKFILE COMMAND`: take the lock, run the command, release. */
async function runLocked(o: RunOptions): Promise<number> {
  const { runner, shellCommand } = require('./cli/cli-run') as typeof import('./cli/cli-run');
  const { acquire } = require('./cli/cli-acquire') as typeof import('./cli/cli-acquire');
  const { onInterrupt, signalNumber } = require('./cli/cli-signals') as typeof import('./cli/cli-signals');
  // A signal before the command runs (while waiting, or before the command starts)
  // stops everything: exit as a shell would (128+n), the command never runs. Once it
  // runs, lib/cli/cli-run.ts decides.
  const ac = new AbortController();
  let running = false;
  const interruptedBy = onInterrupt(ac, () => running);
  const held: Lock | number = await acquire(o, ac);
  if (typeof held === 'number' || interruptedBy()) {
    if (typeof held !== 'number') await held.release();
    const s = interruptedBy();
    return s ? 128 + signalNumber(s) : (held as number);
  }
  const r = runner();
  try {
    const status = await r.run(o.command, held, {
      close: o.close,
      shell: o.shell,
      start: () => {
        if (interruptedBy()) return false;
        running = true;
        if (o.verbose) {
          const file = o.shell ? shellCommand(o.command[0]).file : o.command[0];
          process.stdout.write(`fslock: executing ${file}\n`);
        }
        return true;
      },
    });
    return running ? status : 128 + signalNumber(interruptedBy()!);
  } finally {
    // The exit status stays the command's; a release that fails (e.g. ELOCKLOST: a
    // fallback lock reclaimed by another host meanwhile) is said on stderr.
    await held.release().catch((e: Error) => process.stderr.write(`fslock: ${e.message}\n`));
    await r.ended();
  }
}
