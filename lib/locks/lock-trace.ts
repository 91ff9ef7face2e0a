// The path-lock calls as the fslock:lock TracingChannel and NODE_DEBUG see them
// (lib/common/diagnostics.ts): wrappers that lib/locks/locks.ts puts around a call only
// when someone subscribed or NODE_DEBUG names fslock, so untraced calls pay nothing more.
import { type LockMessage, debug, debugOn, lockTrace } from '../common/diagnostics';
import type { CheckedWait } from '../common/args';

/** What a traced lock call carries (lib/locks/locks.ts LockCall). */
export interface Traced {
  readonly display: string;
  readonly shared: boolean;
  readonly w: CheckedWait;
  /** Its context on the TracingChannel; `holder` is filled in by LockCall.busy. */
  trace: LockMessage | undefined;
  /** When it first waited (performance.now(); 0: it did not). */
  busyAt: number;
}

function traceOf(a: Traced, sync: boolean): LockMessage {
  a.trace = {
    path: a.display,
    mode: a.shared ? 'shared' : 'exclusive',
    sync,
    wait: a.w.wait,
    waited: 0,
    holder: undefined,
  };
  return a.trace;
}

/** `waited`, set before Node publishes end (lockSync) or asyncStart (lock). */
function settled(a: Traced, start: number): void {
  if (a.busyAt) a.trace!.waited = performance.now() - start;
}

async function traced<A extends Traced, L>(a: A, run: (a: A) => Promise<L>): Promise<L> {
  const start = performance.now();
  try {
    return await (debugOn ? logged(run(a), a) : run(a));
  } finally {
    settled(a, start);
  }
}

function tracedSync<A extends Traced, L>(a: A, run: (a: A) => L): L {
  const start = performance.now();
  try {
    return debugOn ? loggedSync(a, run) : run(a);
  } finally {
    settled(a, start);
  }
}

/** lock(): start, end, then asyncStart and asyncEnd (error before them on failure). */
export function traceLock<A extends Traced, L>(a: A, run: (a: A) => Promise<L>): Promise<L> {
  return lockTrace.tracePromise(traced, traceOf(a, false), undefined, a, run) as Promise<L>;
}

/** lockSync(): start, then end (error before it on failure). */
export function traceLockSync<A extends Traced, L>(a: A, run: (a: A) => L): L {
  return lockTrace.traceSync(tracedSync, traceOf(a, true), undefined, a, run) as L;
}

/** A lock call's promise that logs its failure (NODE_DEBUG). */
export function logged<L>(p: Promise<L>, a: Traced): Promise<L> {
  return p.catch((e: unknown) => {
    throw failed(e, a);
  });
}

export function loggedSync<A extends Traced, L>(a: A, run: (a: A) => L): L {
  try {
    return run(a);
  } catch (e) {
    throw failed(e, a);
  }
}

/** The NODE_DEBUG line of a failed lock call; returns the error. */
function failed(e: unknown, a: Traced): unknown {
  const err = e as { message?: unknown } | undefined;
  debug("%s '%s': failed: %s", a.shared ? 'shared' : 'exclusive', a.display, err?.message ?? e);
  return e;
}
