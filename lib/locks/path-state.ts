// Per-path state of this JS thread's path locks (lib/locks/locks.ts): how many of its
// locks hold each path, and its waiters in FIFO order, of which only the head waits on
// the OS: 64 waiters cost one blocked thread, not 64, and are served in order.

export interface PathState {
  exclusive: number;
  shared: number;
  queue: Array<() => void>;
  /** A waiter is at the head (waiting on the OS, or about to). */
  busy: boolean;
}
export const paths = new Map<string, PathState>();

export function stateOf(path: string): PathState {
  let s = paths.get(path);
  if (!s) paths.set(path, (s = { exclusive: 0, shared: 0, queue: [], busy: false }));
  return s;
}

export function forget(path: string, s: PathState): void {
  if (!s.exclusive && !s.shared && !s.busy && !s.queue.length) paths.delete(path);
}

export function nextWaiter(path: string, s: PathState): void {
  const next = s.queue.shift();
  if (next) next();
  else {
    s.busy = false;
    forget(path, s);
  }
}
