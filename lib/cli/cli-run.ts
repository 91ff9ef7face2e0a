// Running the fslock command's COMMAND while the lock is held: handing the lock to it
// (so that the lock lives as long as either of them holds it) and passing on the
// signals it did not already receive. See README "Command line" and issue 14, item 5.
import type { Lock } from '../locks/locks';
import { adoptHolder, lockDescriptor } from '../locks/cli-hooks';
import { CAUGHT, signalNumber } from './cli-signals';
import { type Child, spawnCommand } from './cli-spawn';
import { type Counts, type Witness, startWitness } from './witness';

export interface RunOptions {
  /** -o/--close: the command does not get the lock (if fslock dies, the lock goes). */
  close: boolean;
  /** Called just before the spawn: false means "do not run it" (a signal came first). */
  start: () => boolean;
  /** -c: `command` is one shell command line. */
  shell: boolean;
}

/**
 * What runs for -c: flock(1) runs `$SHELL -c COMMAND` ($SHELL unset or empty:
 * /bin/sh). On Windows, cmd.exe as Node's `shell: true` runs it (%ComSpec% /d /s /c
 * "COMMAND"): $SHELL there is usually a POSIX path of an MSYS or Cygwin shell.
 */
export function shellCommand(command: string): { file: string; args: string[]; shell: boolean } {
  if (process.platform === 'win32') return { file: command, args: [], shell: true };
  return { file: process.env.SHELL || '/bin/sh', args: ['-c', command], shell: false };
}

export interface Runner {
  /** Resolves with the status fslock exits with. */
  run(command: string[], held: Lock, o: RunOptions): Promise<number>;
  /** Resolves once the witness has ended and been reaped (after run). */
  ended(): Promise<void>;
}

/**
 * Prepares running a command: on POSIX the witness starts now; the command starts once
 * the witness counts (native: at once; without the addon, one Node start-up later), so
 * that no signal sent to the group meanwhile can go unaccounted.
 */
export function runner(): Runner {
  const witness = startWitness(CAUGHT);
  let ended = Promise.resolve();
  return {
    run: async (command, held, o) => {
      await witness?.ready;
      try {
        if (!o.start()) return 1;
        return await runCommand(command, held, o, witness);
      } finally {
        // The witness ends while fslock releases the lock; fslock exits after both.
        if (witness) ended = witness.stop();
      }
    },
    ended: () => ended,
  };
}

function runCommand(command: string[], held: Lock, o: RunOptions, witness: Witness | undefined): Promise<number> {
  return new Promise((resolve) => {
    // flock(1) hands the locked descriptor to the command; so does fslock (native
    // backend, POSIX): as fd 3 of the command, sharing the open file description that
    // carries the lock, so the kernel keeps it until both have closed it.
    const fd = o.close ? undefined : lockDescriptor(held);
    const run = o.shell ? shellCommand(command[0]) : { file: command[0], args: command.slice(1), shell: false };
    let child: Child;
    try {
      child = spawnCommand(run.file, run.args, { fd3: fd, shell: run.shell });
    } catch (e) {
      process.stderr.write(`fslock: cannot run ${command[0]}: ${(e as Error).message}\n`);
      resolve(126);
      return;
    }
    // Fallback backend: the command's pid becomes a co-holder in the lock file, in the
    // same turn of the event loop as the spawn.
    if (!o.close && child.pid !== undefined && fd === undefined) {
      try {
        adoptHolder(held, child.pid);
      } catch (e) {
        // The lock stays fslock's alone (as with -o); the command runs all the same.
        process.stderr.write(`fslock: the command does not share the lock: ${(e as Error).message}\n`);
      }
    }

    // Signals: the command runs in fslock's process group, as under flock(1), so the
    // terminal's keys, hangups and kills of the whole group reach it directly. fslock
    // passes on only what was sent to fslock alone (the witness did not get it). On
    // Windows the console sends Ctrl-C/Ctrl-Break to every process attached to it and
    // child.kill() would terminate the command: nothing is passed on there.
    let exited = false;
    const consumed: Counts = {};
    let decisions = Promise.resolve();
    const onSignal = (sig: NodeJS.Signals) => {
      decisions = decisions.then(async () => {
        if (!witness) return;
        const counts = await witness.query();
        if (counts && (counts[sig] ?? 0) > (consumed[sig] ?? 0)) {
          consumed[sig] = (consumed[sig] ?? 0) + 1;
          return;
        }
        if (!exited) child.kill(sig);
      });
    };
    for (const s of CAUGHT) process.on(s, onSignal);
    // The listeners stay until fslock exits: a signal that arrives while fslock
    // releases the lock must not end it halfway (its status is the command's).
    const done = (status: number) => {
      if (exited) return;
      exited = true;
      resolve(status);
    };
    child.on('error', (e: NodeJS.ErrnoException) => {
      process.stderr.write(`fslock: cannot run ${command[0]}: ${e.message}\n`);
      done(e.code === 'ENOENT' ? 127 : 126);
    });
    child.on('exit', (code, signal) => done(signal ? 128 + signalNumber(signal) : (code ?? 1)));
  });
}
