// Waits on the binding's waiter threads (native/waiter.cc, native/wait_pool.cc): the
// one place that starts a lock wait from JavaScript and interrupts it for timeout and
// abort. The threads are a process-wide pool: up to 32 waits block in the kernel, more
// are polled by one more thread; a wait no thread could be started for reports
// -EAGAIN ('pthread_create') like any OS error. A worker that ends while waiting needs
// nothing from here: its environment's teardown cancels and undoes its waits.
import { type Binding, type LockType, type WaitKind } from './binding';
import { abortReason } from '../common/errors';
import { type LongTimer, clearLongTimeout, setLongTimeout } from '../common/long-timer';

/** The outcome of a wait: the OS result, and why it was cancelled (if it was). */
export interface WaitOutcome {
  result: number;
  syscall: string;
  cancelled: unknown;
}

/**
 * Waits for the lock on a waiter thread. Timeout and abort interrupt it; an interrupt
 * can land just before the thread enters the blocking call and be lost, so it is
 * repeated until the thread reports (almost always at once; a queued wait ends at
 * the first).
 */
export function waitOnThread(
  b: Binding,
  kind: WaitKind,
  fd: number,
  type: LockType,
  start: number,
  length: number,
  deadline: number | undefined,
  signal: AbortSignal | undefined,
  onTimeout: () => unknown,
): Promise<WaitOutcome> {
  return new Promise((resolve) => {
    let cancelled: unknown;
    let timer: LongTimer | undefined;
    let repeat: NodeJS.Timeout | undefined;
    const onAbort = () => cancel(abortReason(signal!));
    const handle = b.wait(kind, fd, type, start, length, (result, syscall) => {
      clearLongTimeout(timer);
      clearInterval(repeat);
      signal?.removeEventListener('abort', onAbort);
      resolve({ result, syscall, cancelled });
    });
    const cancel = (reason: unknown) => {
      if (cancelled !== undefined) return;
      cancelled = reason;
      b.cancel(handle);
      repeat = setInterval(() => b.cancel(handle), 5);
    };
    if (deadline !== undefined) timer = setLongTimeout(() => cancel(onTimeout()), Math.max(0, deadline - Date.now()));
    if (signal) {
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
  });
}
