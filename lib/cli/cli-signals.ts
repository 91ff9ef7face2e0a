// The signals the fslock command catches, and their numbers (exit status 128+n).
import * as os from 'node:os';

/**
 * Signals fslock catches while it waits and while the command runs: those whose
 * default action would end fslock and that someone may mean for the job (terminal
 * keys, hangup, kill, supervisors, alarms). Not SIGUSR1 (Node reserves it for the
 * inspector), not the job control signals (SIGTSTP, SIGCONT...: the command shares
 * fslock's process group, so the shell stops and continues both), not SIGPIPE (Node
 * ignores it).
 */
export const CAUGHT: NodeJS.Signals[] =
  process.platform === 'win32'
    ? ['SIGINT', 'SIGBREAK', 'SIGHUP']
    : ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR2', 'SIGALRM'];

export function signalNumber(sig: NodeJS.Signals): number {
  return (os.constants.signals as Record<string, number>)[sig] ?? 1;
}

/**
 * Until fslock exits, a signal of CAUGHT aborts `ac` and is remembered (the first one):
 * a signal while waiting gives up the wait, and fslock exits as a shell would (128+n).
 * `passOn()` true: the signal is someone else's to handle (lib/cli/cli-run.ts).
 */
export function onInterrupt(
  ac: AbortController,
  passOn: () => boolean = () => false,
): () => NodeJS.Signals | undefined {
  let first: NodeJS.Signals | undefined;
  for (const s of CAUGHT)
    process.on(s, () => {
      if (passOn()) return;
      first ??= s;
      ac.abort();
    });
  return () => first;
}
