// Timers for waits of any finite length. Node's setTimeout takes at most 2^31-1 ms
// (24.8 days): a longer delay fires after 1 ms with a TimeoutOverflowWarning
// (https://nodejs.org/api/timers.html#settimeoutcallback-delay-args), and the native
// timed waits take an int. Every `timeout` of fslock's API goes through here, so a
// finite timeout really waits that long (issue 14, item 4).

/** The longest delay one Node timer (and one native timed wait) takes. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A timer from {@link setLongTimeout}; pass it to {@link clearLongTimeout}. */
export interface LongTimer {
  /** The Node timer currently armed (re-armed until the deadline). */
  current: NodeJS.Timeout | undefined;
  /** Whether the timer keeps the event loop alive (as `timer.ref()`); default true. */
  ref: boolean;
}

/**
 * Calls `fn` once `ms` milliseconds have passed (any finite `ms >= 0`; `Infinity`
 * never). Longer delays than one Node timer takes are chained: each link re-arms for
 * what is left of the deadline, measured on the monotonic clock, as setTimeout does.
 * `maxChunk` exists for tests of the chaining.
 */
export function setLongTimeout(fn: () => void, ms: number, maxChunk = MAX_TIMER_MS): LongTimer {
  const timer: LongTimer = { current: undefined, ref: true };
  if (!(ms < Infinity)) return timer;
  const deadline = performance.now() + Math.max(0, ms);
  const arm = (): void => {
    const left = deadline - performance.now();
    if (left <= 0) {
      timer.current = undefined;
      fn();
      return;
    }
    // A timer may fire up to a millisecond early (libuv's clock has 1 ms steps): the
    // deadline is re-checked and the rest waited for.
    timer.current = setTimeout(arm, Math.min(Math.ceil(left), maxChunk));
    if (!timer.ref) timer.current.unref();
  };
  arm();
  return timer;
}

export function clearLongTimeout(timer: LongTimer | undefined): void {
  if (timer?.current !== undefined) clearTimeout(timer.current);
  if (timer) timer.current = undefined;
}

/** Lets the timer not keep the event loop alive (like `timeout.unref()`). */
export function unrefLongTimeout(timer: LongTimer): LongTimer {
  timer.ref = false;
  timer.current?.unref();
  return timer;
}

/**
 * For blocking timed waits (lockSync, flockSync, lockRangeSync): the milliseconds to
 * pass to one native wait for a deadline `deadline` (Date.now() based, undefined = no
 * limit): -1 for "no limit", otherwise at most MAX_TIMER_MS. The caller repeats the
 * wait while it reports "timed out" and `Date.now() < deadline`.
 */
export function waitChunk(deadline: number | undefined, now = Date.now()): number {
  if (deadline === undefined || !(deadline < Infinity)) return -1;
  return Math.min(Math.max(0, Math.ceil(deadline - now)), MAX_TIMER_MS);
}
