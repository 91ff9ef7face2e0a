// The fslock:write event and the NODE_DEBUG line of an atomic write (lib/common/diagnostics.ts),
// from a job's flags: called once at the end of each write by lib/atomic/atomic-run.ts.
import { displayPath } from '../common/args';
import { writeStart, wrote } from '../common/diagnostics';
import { AtomicFlags } from '../native/binding';
import type { AtomicJob } from './atomic-ops';

export { writeStart };

/**
 * Publishes the end of the write that started at `t0` (writeStart(); 0: nobody was
 * listening then, nothing is published). `j`: the job that ran last (its strategy is
 * the one that succeeded, or failed); `chunked`: the data came as chunks (bytes unknown).
 */
export function writeEnded(j: AtomicJob, t0: number, error?: unknown, chunked = false): void {
  if (t0 === 0 || j.flags & AtomicFlags.WriteOnly) return; // createUnique's temp: not the write itself
  const commit = j.flags & AtomicFlags.Link ? 'link' : j.flags & AtomicFlags.NoReplace ? 'rename-noreplace' : 'rename';
  const tmpFile = (j.flags & AtomicFlags.TmpFile) !== 0;
  wrote(
    displayPath(j.target),
    chunked ? undefined : j.data.byteLength,
    tmpFile,
    commit,
    (j.flags & AtomicFlags.Sync) !== 0,
    t0,
    error,
  );
}

/** {@link writeEnded} for a write that failed with `error`; returns it (to be thrown). */
export function writeFailed(j: AtomicJob, t0: number, error: unknown, chunked = false): unknown {
  writeEnded(j, t0, error, chunked);
  return error;
}
