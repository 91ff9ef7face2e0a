// Starting the fslock command's COMMAND. Linux with the addon: posix_spawn
// (native/posix_command.cc), which copies nothing of the Node process, where
// node:child_process forks all of it (and costs its own loading): about a fifth of
// `fslock LOCK true` (bench/cli.bench.js, issue 27). Elsewhere, and without the addon:
// node:child_process. Both give what lib/cli/cli-run.ts uses of a ChildProcess.
import { EventEmitter } from 'node:events';
import * as os from 'node:os';

/** What lib/cli/cli-run.ts uses of a child process: 'exit' (code, signal) and 'error' (e). */
export interface Child extends EventEmitter {
  readonly pid?: number | undefined;
  kill(sig: NodeJS.Signals): boolean | void;
}

export interface SpawnOptions {
  /** The descriptor the command gets as fd 3 (the lock's), if any. */
  fd3: number | undefined;
  /** Run `file` through cmd.exe (Windows -c). */
  shell: boolean;
}

/** native/glue_witness.cc (Linux). */
interface SpawnBinding {
  spawnCommand(file: string, argv: string[], lockFd: number): number;
  waitChild(pid: number, out: Int32Array): number;
  lastSyscall(): string;
}

/** Starts `file` with `args`; throws as node:child_process's spawn() throws (bad arguments). */
export function spawnCommand(file: string, args: string[], o: SpawnOptions): Child {
  // Arguments with NUL bytes: node:child_process throws for them, as it should.
  if (process.platform === 'linux' && !o.shell && ![file, ...args].some((a) => a.includes('\0'))) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { binding } = require('../native/binding') as typeof import('../native/binding');
    const b = binding as unknown as Partial<SpawnBinding> | undefined;
    if (b?.spawnCommand) return new NativeChild(b as SpawnBinding, file, args, o.fd3);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  const stdio: Array<'inherit' | number> = ['inherit', 'inherit', 'inherit'];
  if (o.fd3 !== undefined) stdio.push(o.fd3);
  return spawn(file, args, { stdio, shell: o.shell });
}

/** The longest a timer may be set for (2^31-1 ms); see NativeChild. */
const FOREVER_MS = 0x7fffffff;

/**
 * A command started by posix_spawn. Its end comes as SIGCHLD, which fslock then reaps
 * with waitpid (its own pid only: the witness is reaped by lib/cli/witness.ts); the
 * listener is there before the command starts, so no end goes unseen. Node's signal
 * handles do not keep the event loop alive: a timer that never fires does, as long as
 * the command runs (node:child_process's handle does the same).
 */
class NativeChild extends EventEmitter implements Child {
  readonly pid: number | undefined;
  private ended = false;
  private readonly status = new Int32Array(2);
  private readonly keepAlive: NodeJS.Timeout;
  private readonly onChild = (): void => this.check();

  constructor(
    private readonly b: SpawnBinding,
    file: string,
    args: string[],
    fd3: number | undefined,
  ) {
    super();
    process.on('SIGCHLD', this.onChild);
    this.keepAlive = setInterval(() => {}, FOREVER_MS);
    let pid = b.spawnCommand(file, [file, ...args], fd3 ?? -1);
    // A file the kernel does not recognise (no #! line): /bin/sh runs it, as execvp(3),
    // flock(1) and node:child_process do (posix_spawnp no longer does, glibc 2.26).
    const script = pid === -(os.constants.errno.ENOEXEC ?? 8) ? found(file) : undefined;
    if (script) pid = b.spawnCommand('/bin/sh', ['/bin/sh', script, ...args], fd3 ?? -1);
    if (pid > 0) {
      this.pid = pid;
      return;
    }
    this.finish();
    // As node:child_process reports it ('error', after the caller's listeners are on).
    const code = errnoName(-pid);
    const e = Object.assign(new Error(`spawn ${file} ${code}`), {
      errno: pid,
      code,
      syscall: `spawn ${file}`,
      path: file,
      spawnargs: args,
    });
    process.nextTick(() => this.emit('error', e));
  }

  kill(sig: NodeJS.Signals): void {
    // Not reaped yet (fslock reaps it only once it has ended): the pid is still its.
    if (this.ended || this.pid === undefined) return;
    try {
      process.kill(this.pid, sig);
    } catch {
      // ESRCH cannot happen before the reap; nothing else to do
    }
  }

  private check(): void {
    if (this.ended || this.pid === undefined) return;
    const r = this.b.waitChild(this.pid, this.status);
    if (r === 0) return;
    this.finish();
    // r < 0 (ECHILD): reaped by nobody fslock knows of; no status to tell.
    if (r < 0) return void this.emit('exit', null, null);
    const [code, sig] = this.status;
    if (code >= 0) return void this.emit('exit', code, null);
    const name = signalName(sig);
    // A signal without a name in Node (a real-time one): the status a shell gives.
    this.emit('exit', name ? null : 128 + sig, name ?? null);
  }

  private finish(): void {
    this.ended = true;
    process.removeListener('SIGCHLD', this.onChild);
    clearInterval(this.keepAlive);
  }
}

/**
 * The file posix_spawnp ran: `file` itself if it names a path, else the first
 * executable regular file of that name in $PATH (execvp's search). Only after ENOEXEC,
 * while fslock waits on nothing else: synchronous calls.
 */
function found(file: string): string | undefined {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require('node:fs') as typeof import('node:fs');
  const executable = (p: string): boolean => {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (file.includes('/')) return file;
  for (const dir of (process.env.PATH ?? '/bin:/usr/bin').split(':')) {
    const p = `${dir || '.'}/${file}`;
    if (executable(p)) return p;
  }
  return undefined;
}

function errnoName(errno: number): string {
  for (const [name, n] of Object.entries(os.constants.errno)) if (n === errno) return name;
  return `E${errno}`;
}

function signalName(n: number): NodeJS.Signals | undefined {
  for (const [name, v] of Object.entries(os.constants.signals)) if (v === n) return name as NodeJS.Signals;
  return undefined;
}
