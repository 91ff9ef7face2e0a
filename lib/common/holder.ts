// The public shapes that describe a lock's holder and a wait, shared by every layer.

/**
 * Who holds a lock, as far as can be known. A holder that wrote an fslock record
 * (`record: true`) is known by pid, host and time. A holder that left none (`record:
 * false`: a program that takes the kernel lock only — flock(1), Python's filelock,
 * cargo, uv, Java — or an fslock holder of a file that is not an fslock lock file, such
 * as a data file or a directory) is known only by what the OS tells: on Linux the pid of
 * a holder on this host (/proc/locks), nothing else.
 */
export interface Holder {
  /** Its process id on its host; undefined when unknown (a holder that left no record, seen only as a lock). */
  pid: number | undefined;
  /** Its host; undefined when unknown. */
  hostname: string | undefined;
  /** When it took the lock; undefined for a holder that left no record. */
  since: Date | undefined;
  shared: boolean;
  /** Whether it left an fslock record (false: seen only as a kernel lock on the file). */
  record: boolean;
  /**
   * What the holder is, as a person knows it, when known: the name its record gives
   * (the program's `process.title`, else its script: `jest`, `build.js`; or the lock
   * call's `name` option), or for a holder without a record its command (Linux:
   * /proc/PID/comm). At most 64 characters, never control characters: a name read from
   * a lock file that is anything else is dropped.
   */
  name?: string;
  /**
   * Only from `lockHolder(path, { stale: true })` for a lock that nobody holds: `true`
   * on the holder whose record is still in the lock file although it is gone (it
   * crashed, or was killed, while it held the lock; a lock file that stays keeps it).
   */
  stale?: boolean;
}

/** What a waiting call tells its `onWait` callback (see {@link WaitOptions.onWait}). */
export interface WaitInfo {
  /** The lock path (path locks), as shown in messages. */
  path?: string;
  /** The descriptor (descriptor locks). */
  fd?: number;
  /** What this call asked for. */
  shared: boolean;
  /** Who holds it, as far as is known (undefined: it could not be read). */
  holder: Holder | undefined;
  /** Milliseconds this call has waited so far (0 when it starts to wait). */
  waited: number;
}
