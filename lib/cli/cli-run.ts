// Running the fslock command's COMMAND while the lock is held: handing the lock to it
// (so that the lock lives as long as either of them holds it) and passing on the
// signals it did not already receive. See README "Command line" and issue 14, item 5.
import { type ChildProcess, spawn } from 'node:child_process';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import type { Lock } from '../locks/locks';
import { adoptHolder, lockDescriptor } from '../locks/cli-hooks';

/**
 * Signals fslock catches while the command runs: those whose default action would
 * end fslock and that someone may mean for the job (terminal keys, hangup, kill,
 * supervisors, alarms). Not SIGUSR1 (Node reserves it for the inspector), not the job
 * control signals (SIGTSTP, SIGCONT...: the command shares fslock's process group,
 * so the shell stops and continues both), not SIGPIPE (Node ignores it).
 */
export const CAUGHT: NodeJS.Signals[] =
  process.platform === 'win32'
    ? ['SIGINT', 'SIGBREAK', 'SIGHUP']
    : ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR2', 'SIGALRM'];

export function signalNumber(sig: NodeJS.Signals): number {
  return (os.constants.signals as Record<string, number>)[sig] ?? 1;
}

type Counts = Record<string, number>;

/**
 * The witness process (lib/cli/cli-witness.ts) and what fslock learnt from it. POSIX gives
 * a process no way to tell whether a kill(2) named its pid or its process group
 * (siginfo says SI_USER with the sender's pid for both), so a second member of the
 * group is asked whether it received the signal too.
 */
class Witness {
  private readonly child: ChildProcess | undefined;
  private counts: Counts | undefined;
  private readonly answers: Array<(c: Counts | undefined) => void> = [];
  private gone = false;
  /** Resolves once the witness counts (or is gone). */
  readonly ready: Promise<void>;

  constructor(signals: NodeJS.Signals[]) {
    let onReady = (): void => {};
    this.ready = new Promise<void>((resolve) => (onReady = resolve));
    const env = { ...process.env };
    delete env.NODE_OPTIONS; // no --inspect or --require of the user's in the witness
    try {
      this.child = spawn(process.execPath, [nodePath.join(__dirname, 'cli-witness.js'), ...signals], {
        stdio: ['pipe', 'pipe', 'ignore'],
        env,
        windowsHide: true,
      });
    } catch {
      this.gone = true;
      onReady();
      return;
    }
    const child = this.child;
    child.on('error', () => this.end(undefined, onReady));
    child.on('exit', (_code, signal) => this.end(signal ?? undefined, onReady));
    child.stdin!.on('error', () => {});
    let buf = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let m: { ready?: Counts; counts?: Counts };
        try {
          m = JSON.parse(line) as typeof m;
        } catch {
          continue;
        }
        if (m.ready) {
          this.counts = m.ready;
          onReady();
        } else if (m.counts) {
          this.counts = m.counts;
          this.answers.shift()?.(this.counts);
        }
      }
    });
  }

  /** The witness ended: killed by `signal` (a group signal before it could count) or otherwise. */
  private end(signal: NodeJS.Signals | undefined, onReady: () => void): void {
    if (this.gone) return;
    this.gone = true;
    if (signal && this.counts) this.counts[signal] = (this.counts[signal] ?? 0) + 1;
    else if (signal) this.counts = { [signal]: 1 };
    for (const a of this.answers.splice(0)) a(this.counts);
    onReady();
  }

  /** What the witness has received so far (undefined: no witness to ask). */
  query(): Promise<Counts | undefined> {
    if (this.gone || !this.child) return Promise.resolve(this.counts);
    return new Promise((resolve) => {
      this.answers.push(resolve);
      this.child!.stdin!.write('?\n');
    });
  }

  stop(): void {
    if (this.gone || !this.child) return;
    this.child.stdin!.end();
  }
}

export interface RunOptions {
  /** -o/--close: the command does not get the lock (if fslock dies, the lock goes). */
  close: boolean;
  /** Called just before the spawn: false means "do not run it" (a signal came first). */
  start: () => boolean;
}

export interface Runner {
  /** Resolves with the status fslock exits with. */
  run(command: string[], held: Lock, o: RunOptions): Promise<number>;
}

/**
 * Prepares running a command: on POSIX the witness starts now; the command starts once
 * the witness counts (one Node start-up, while the lock is already held), so that no
 * signal sent to the group before can go unaccounted.
 */
export function runner(): Runner {
  const witness = process.platform === 'win32' ? undefined : new Witness(CAUGHT);
  return {
    run: async (command, held, o) => {
      await witness?.ready;
      try {
        if (!o.start()) return 1;
        return await runCommand(command, held, o, witness);
      } finally {
        witness?.stop();
      }
    },
  };
}

function runCommand(command: string[], held: Lock, o: RunOptions, witness: Witness | undefined): Promise<number> {
  return new Promise((resolve) => {
    // flock(1) hands the locked descriptor to the command; so does fslock (native
    // backend, POSIX): as fd 3 of the command, sharing the open file description that
    // carries the lock, so the kernel keeps it until both have closed it.
    const fd = o.close ? undefined : lockDescriptor(held);
    const stdio: Array<'inherit' | number> = ['inherit', 'inherit', 'inherit'];
    if (fd !== undefined) stdio.push(fd);
    let child: ChildProcess;
    try {
      child = spawn(command[0], command.slice(1), { stdio });
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
