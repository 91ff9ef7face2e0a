// The fslock command's signal witness: a second member of the command's process group
// that counts the signals it receives. POSIX gives a process no way to tell whether a
// kill(2) named its pid or its process group (siginfo says SI_USER with the sender's
// pid for both); a signal that the witness received too was sent to the whole group
// (the terminal's Ctrl-C, `kill -INT -PGID`, a supervisor stopping the job), so the
// command has it already and fslock does not pass it on (lib/cli/cli-run.ts).
//
// Native backend: a child started by the addon (native/posix_witness.cc; Linux:
// clone(CLONE_VM) where close_range(2) works, else fork()) that makes only
// async-signal-safe calls: ready when it is created, no second Node start-up (issue 27:
// the command started 2-3x slower than `node -e 0` with one). Without the addon (the
// fallback backend): a second Node process running cli-witness.js. Either way fslock
// waits for the witness to end before it exits (stop()): no process of its own is left
// to init, as an orphan or a zombie.
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { signalNumber } from './cli-signals';

export type Counts = Record<string, number>;

export interface Witness {
  /** Resolves once the witness counts (or is gone). The command must not start before. */
  readonly ready: Promise<void>;
  /** What the witness has received so far (undefined: no witness to ask). */
  query(): Promise<Counts | undefined>;
  /** The witness ends (fslock is done with the command); resolves once it has, reaped. */
  stop(): Promise<void>;
}

/** native/glue_witness.cc (POSIX builds). */
interface WitnessBinding {
  witnessStart(signals: number[], maxFd: number, sharedVm: boolean, fds: Int32Array): number;
  reapChild(pid: number): number;
  lastSyscall(): string;
}

/** The witness for `signals`, or undefined where there is none (Windows, or none could start). */
export function startWitness(signals: NodeJS.Signals[]): Witness | undefined {
  if (process.platform === 'win32') return undefined;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { binding } = require('../native/binding') as typeof import('../native/binding');
  const b = binding as unknown as Partial<WitnessBinding> | undefined;
  if (b?.witnessStart) {
    const fds = new Int32Array(2);
    const numbers = signals.map(signalNumber);
    // Linux: clone(CLONE_VM), no copy of fslock's page tables (bench/cli.bench.js), which
    // the addon refuses where close_range(2) does not work (before Linux 5.9, or a
    // seccomp filter that does not know it); then fork(), as elsewhere.
    let pid = process.platform === 'linux' ? b.witnessStart(numbers, 0, true, fds) : -1;
    if (pid < 0 && (process.platform !== 'linux' || b.lastSyscall!() === 'close_range'))
      pid = b.witnessStart(numbers, highestFd(), false, fds);
    if (pid > 0) return new NativeWitness(b as WitnessBinding, pid, fds[0], fds[1], signals);
    // fork failed (EAGAIN: out of processes): a Node process would not start either.
    return undefined;
  }
  return new ProcessWitness(signals);
}

/** The highest descriptor number open now, for the forked witness to close everything but its pipes. */
function highestFd(): number {
  try {
    const names = fs.readdirSync(process.platform === 'linux' ? '/proc/self/fd' : '/dev/fd');
    return Math.max(...names.map(Number).filter(Number.isInteger), 2) + 16;
  } catch {
    return 4096;
  }
}

/** How long stop() waits for a witness to end: only a kernel out of resources takes long. */
const STOP_WAIT_MS = 10_000;

/** A witness started by the addon: one byte asks, n native-endian uint32 counts answer. */
class NativeWitness implements Witness {
  readonly ready = Promise.resolve();
  private counts: Counts | undefined;
  private gone = false;
  private reading = false;
  private answerOpen = true;
  private stopped: Promise<void> | undefined;
  private readonly answer: Uint32Array;
  private readonly bytes: Buffer;

  constructor(
    private readonly b: WitnessBinding,
    private readonly pid: number,
    private readonly queryFd: number,
    private readonly answerFd: number,
    private readonly signals: NodeJS.Signals[],
  ) {
    this.answer = new Uint32Array(signals.length);
    this.bytes = Buffer.from(this.answer.buffer);
  }

  query(): Promise<Counts | undefined> {
    if (this.gone) return Promise.resolve(this.counts);
    try {
      fs.writeSync(this.queryFd, '?');
    } catch {
      this.end(); // EPIPE: the witness died (Node ignores SIGPIPE)
      return Promise.resolve(this.counts);
    }
    this.reading = true;
    return new Promise((resolve) => this.read(0, resolve));
  }

  /** Reads one answer (a pipe write this small arrives whole; a short read continues). */
  private read(got: number, resolve: (c: Counts | undefined) => void): void {
    fs.read(this.answerFd, this.bytes, got, this.bytes.length - got, null, (err, n) => {
      if (!err && n > 0 && got + n < this.bytes.length) return this.read(got + n, resolve);
      this.reading = false;
      if (err || n === 0) this.end();
      else {
        const counts: Counts = {};
        this.signals.forEach((s, i) => (counts[s] = this.answer[i]));
        this.counts = counts;
        if (this.gone) this.closeAnswer();
      }
      resolve(this.counts);
    });
  }

  /** The witness is gone (its pipe closed). */
  private end(): void {
    void this.stop();
    this.closeAnswer();
  }

  stop(): Promise<void> {
    if (this.stopped) return this.stopped;
    this.gone = true;
    this.stopped = new Promise<void>((resolve) => {
      // SIGCHLD says the witness has ended (clone and fork both ask for it); a timer keeps
      // the event loop alive meanwhile (Node's signal handles do not) and bounds the wait.
      const reap = (): void => {
        // reapChild: the pid once reaped, 0 while it runs, -ECHILD if SIGCHLD was ignored
        // (set so by fslock's parent) when it ended: the kernel reaped it then.
        if (this.b.reapChild(this.pid) === 0) return;
        process.removeListener('SIGCHLD', reap);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        process.removeListener('SIGCHLD', reap);
        resolve(); // left to init: nothing more fslock can do
      }, STOP_WAIT_MS);
      process.on('SIGCHLD', reap);
      // Closing a pipe's end never waits: closeSync keeps libuv's threadpool unstarted
      // (four threads for nothing). The witness reads end-of-file and exits; SIGKILL ends
      // it as well if it was stopped alone (SIGSTOP). Its pid cannot be reused meanwhile:
      // it stays fslock's unreaped child.
      fs.closeSync(this.queryFd);
      if (!this.reading) this.closeAnswer();
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        // ESRCH: reaped already (end() after end-of-file), which reap() sees next
      }
      reap();
    });
    return this.stopped;
  }

  private closeAnswer(): void {
    if (!this.answerOpen) return;
    this.answerOpen = false;
    fs.closeSync(this.answerFd);
  }
}

/**
 * A witness without the addon: a second Node process (lib/cli/cli-witness.js), which
 * answers each query line with its counts as JSON. The command starts once it counts.
 */
class ProcessWitness implements Witness {
  private readonly child: ChildProcess | undefined;
  private counts: Counts | undefined;
  private readonly answers: Array<(c: Counts | undefined) => void> = [];
  private gone = false;
  readonly ready: Promise<void>;

  constructor(signals: NodeJS.Signals[]) {
    let onReady = (): void => {};
    this.ready = new Promise<void>((resolve) => (onReady = resolve));
    const env = { ...process.env };
    delete env.NODE_OPTIONS; // no --inspect or --require of the user's in the witness
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { spawn } = require('node:child_process') as typeof import('node:child_process');
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

  query(): Promise<Counts | undefined> {
    if (this.gone || !this.child) return Promise.resolve(this.counts);
    return new Promise((resolve) => {
      this.answers.push(resolve);
      this.child!.stdin!.write('?\n');
    });
  }

  stop(): Promise<void> {
    if (!this.child) return Promise.resolve();
    const child = this.child;
    return new Promise((resolve) => {
      if (this.gone || child.exitCode !== null || child.signalCode !== null) return resolve();
      // The witness reads end-of-file on its stdin and exits; libuv reaps it.
      const timer = setTimeout(resolve, STOP_WAIT_MS);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.stdin!.end();
    });
  }
}
