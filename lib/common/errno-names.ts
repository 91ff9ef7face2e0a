// Linux errno values that libuv has no name for (util.getSystemErrorMap() lacks them),
// so that an OS error from a lock file on NFS or FUSE (ESTALE, EBADFD, EDQUOT, ENOLCK…)
// comes out named like every other fs error, never as "Unknown system error -116".
// From glibc's errno table (errno(3)); the numbers are Linux's. Other POSIX systems
// name what libuv does not from os.constants.errno.
import * as os from 'node:os';

const linux: ReadonlyArray<readonly [number, string, string]> = [
  [8, 'ENOEXEC', 'exec format error'],
  [10, 'ECHILD', 'no child processes'],
  [15, 'ENOTBLK', 'block device required'],
  [33, 'EDOM', 'numerical argument out of domain'],
  [35, 'EDEADLK', 'resource deadlock avoided'],
  [37, 'ENOLCK', 'no locks available'],
  [42, 'ENOMSG', 'no message of desired type'],
  [43, 'EIDRM', 'identifier removed'],
  [44, 'ECHRNG', 'channel number out of range'],
  [45, 'EL2NSYNC', 'level 2 not synchronized'],
  [46, 'EL3HLT', 'level 3 halted'],
  [47, 'EL3RST', 'level 3 reset'],
  [48, 'ELNRNG', 'link number out of range'],
  [50, 'ENOCSI', 'no csi structure available'],
  [51, 'EL2HLT', 'level 2 halted'],
  [52, 'EBADE', 'invalid exchange'],
  [53, 'EBADR', 'invalid request descriptor'],
  [54, 'EXFULL', 'exchange full'],
  [55, 'ENOANO', 'no anode'],
  [56, 'EBADRQC', 'invalid request code'],
  [57, 'EBADSLT', 'invalid slot'],
  [59, 'EBFONT', 'bad font file format'],
  [60, 'ENOSTR', 'device not a stream'],
  [62, 'ETIME', 'timer expired'],
  [63, 'ENOSR', 'out of streams resources'],
  [65, 'ENOPKG', 'package not installed'],
  [66, 'EREMOTE', 'object is remote'],
  [67, 'ENOLINK', 'link has been severed'],
  [68, 'EADV', 'advertise error'],
  [69, 'ESRMNT', 'srmount error'],
  [70, 'ECOMM', 'communication error on send'],
  [72, 'EMULTIHOP', 'multihop attempted'],
  [73, 'EDOTDOT', 'rfs specific error'],
  [74, 'EBADMSG', 'bad message'],
  [76, 'ENOTUNIQ', 'name not unique on network'],
  [77, 'EBADFD', 'file descriptor in bad state'],
  [78, 'EREMCHG', 'remote address changed'],
  [79, 'ELIBACC', 'can not access a needed shared library'],
  [80, 'ELIBBAD', 'accessing a corrupted shared library'],
  [81, 'ELIBSCN', '.lib section in a.out corrupted'],
  [82, 'ELIBMAX', 'attempting to link in too many shared libraries'],
  [83, 'ELIBEXEC', 'cannot exec a shared library directly'],
  [85, 'ERESTART', 'interrupted system call should be restarted'],
  [86, 'ESTRPIPE', 'streams pipe error'],
  [87, 'EUSERS', 'too many users'],
  [96, 'EPFNOSUPPORT', 'protocol family not supported'],
  [102, 'ENETRESET', 'network dropped connection on reset'],
  [109, 'ETOOMANYREFS', 'too many references: cannot splice'],
  [115, 'EINPROGRESS', 'operation now in progress'],
  [116, 'ESTALE', 'stale file handle'],
  [117, 'EUCLEAN', 'structure needs cleaning'],
  [118, 'ENOTNAM', 'not a xenix named type file'],
  [119, 'ENAVAIL', 'no xenix semaphores available'],
  [120, 'EISNAM', 'is a named type file'],
  [122, 'EDQUOT', 'disk quota exceeded'],
  [123, 'ENOMEDIUM', 'no medium found'],
  [124, 'EMEDIUMTYPE', 'wrong medium type'],
  [126, 'ENOKEY', 'required key not available'],
  [127, 'EKEYEXPIRED', 'key has expired'],
  [128, 'EKEYREVOKED', 'key has been revoked'],
  [129, 'EKEYREJECTED', 'key was rejected by service'],
  [130, 'EOWNERDEAD', 'owner died'],
  [131, 'ENOTRECOVERABLE', 'state not recoverable'],
  [132, 'ERFKILL', 'operation not possible due to rf-kill'],
];

/** [code, description] of a negative errno that libuv does not name, on this platform. */
export function extraErrno(result: number): [string, string] | undefined {
  if (process.platform === 'linux') {
    for (const [n, code, text] of linux) if (-n === result) return [code, text];
    return undefined;
  }
  for (const [code, n] of Object.entries(os.constants.errno as Record<string, number>))
    if (-n === result) return [code, code.toLowerCase()];
  return undefined;
}
