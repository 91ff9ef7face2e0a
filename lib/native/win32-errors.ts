import { describeCode } from '../common/errors';

// Names for Win32 error codes (negative GetLastError() values from the Windows OS
// files): the codes libuv gives them (uv_translate_sys_error, libuv src/win/error.c),
// so that fslock's errors carry the code node:fs would, with the Windows number kept in
// the message: "EBUSY: resource busy or locked (Windows error 32)". The socket (WSA*)
// codes are left out: no file call returns them.
const libuv: Record<number, string> = {
  1: 'EISDIR', // ERROR_INVALID_FUNCTION (a read of a directory handle)
  2: 'ENOENT', // ERROR_FILE_NOT_FOUND
  3: 'ENOENT', // ERROR_PATH_NOT_FOUND
  4: 'EMFILE', // ERROR_TOO_MANY_OPEN_FILES
  5: 'EPERM', // ERROR_ACCESS_DENIED
  6: 'EBADF', // ERROR_INVALID_HANDLE
  8: 'ENOMEM', // ERROR_NOT_ENOUGH_MEMORY
  13: 'EINVAL', // ERROR_INVALID_DATA
  14: 'ENOMEM', // ERROR_OUTOFMEMORY
  15: 'ENOENT', // ERROR_INVALID_DRIVE
  17: 'EXDEV', // ERROR_NOT_SAME_DEVICE
  19: 'EROFS', // ERROR_WRITE_PROTECT
  23: 'EIO', // ERROR_CRC
  31: 'EIO', // ERROR_GEN_FAILURE
  32: 'EBUSY', // ERROR_SHARING_VIOLATION
  33: 'EBUSY', // ERROR_LOCK_VIOLATION (a lock attempt that would wait is ELOCKED before this)
  39: 'ENOSPC', // ERROR_HANDLE_DISK_FULL
  50: 'ENOTSUP', // ERROR_NOT_SUPPORTED
  64: 'ECONNRESET', // ERROR_NETNAME_DELETED (an SMB share went away)
  80: 'EEXIST', // ERROR_FILE_EXISTS
  82: 'ENOSPC', // ERROR_CANNOT_MAKE
  87: 'EINVAL', // ERROR_INVALID_PARAMETER
  109: 'EOF', // ERROR_BROKEN_PIPE
  110: 'EIO', // ERROR_OPEN_FAILED
  111: 'ENAMETOOLONG', // ERROR_BUFFER_OVERFLOW
  112: 'ENOSPC', // ERROR_DISK_FULL
  121: 'ETIMEDOUT', // ERROR_SEM_TIMEOUT
  122: 'EINVAL', // ERROR_INSUFFICIENT_BUFFER
  123: 'ENOENT', // ERROR_INVALID_NAME
  126: 'ENOENT', // ERROR_MOD_NOT_FOUND
  145: 'ENOTEMPTY', // ERROR_DIR_NOT_EMPTY
  156: 'EIO', // ERROR_SIGNAL_REFUSED
  161: 'ENOENT', // ERROR_BAD_PATHNAME
  183: 'EEXIST', // ERROR_ALREADY_EXISTS
  193: 'EFTYPE', // ERROR_BAD_EXE_FORMAT
  203: 'ENOENT', // ERROR_ENVVAR_NOT_FOUND
  206: 'ENAMETOOLONG', // ERROR_FILENAME_EXCED_RANGE
  208: 'E2BIG', // ERROR_META_EXPANSION_TOO_LONG
  230: 'EPIPE', // ERROR_BAD_PIPE
  231: 'EBUSY', // ERROR_PIPE_BUSY
  232: 'EAGAIN', // ERROR_NO_DATA
  233: 'EPIPE', // ERROR_PIPE_NOT_CONNECTED
  267: 'ENOENT', // ERROR_DIRECTORY
  277: 'ENOSPC', // ERROR_EA_TABLE_FULL
  740: 'EACCES', // ERROR_ELEVATION_REQUIRED
  995: 'ECANCELED', // ERROR_OPERATION_ABORTED
  998: 'EFAULT', // ERROR_NOACCESS
  1004: 'EBADF', // ERROR_INVALID_FLAGS
  1100: 'ENOSPC', // ERROR_END_OF_MEDIA
  1101: 'EIO', // ERROR_FILEMARK_DETECTED
  1102: 'EIO', // ERROR_BEGINNING_OF_MEDIA
  1103: 'EIO', // ERROR_SETMARK_DETECTED
  1104: 'EIO', // ERROR_NO_DATA_DETECTED
  1105: 'EIO', // ERROR_NO_SIGNAL_SENT
  1106: 'EIO', // ERROR_INVALID_BLOCK_LENGTH
  1111: 'EIO', // ERROR_BUS_RESET
  1113: 'ECHARSET', // ERROR_NO_UNICODE_TRANSLATION
  1117: 'EIO', // ERROR_IO_DEVICE
  1129: 'EIO', // ERROR_EOM_OVERFLOW
  1165: 'EIO', // ERROR_DEVICE_REQUIRES_CLEANING
  1166: 'EIO', // ERROR_DEVICE_DOOR_OPEN
  1225: 'ECONNREFUSED', // ERROR_CONNECTION_REFUSED
  1231: 'ENETUNREACH', // ERROR_NETWORK_UNREACHABLE
  1232: 'EHOSTUNREACH', // ERROR_HOST_UNREACHABLE
  1236: 'ECONNABORTED', // ERROR_CONNECTION_ABORTED
  1314: 'EPERM', // ERROR_PRIVILEGE_NOT_HELD
  1393: 'EIO', // ERROR_DISK_CORRUPT
  1464: 'EINVAL', // ERROR_SYMLINK_NOT_SUPPORTED
  1920: 'EACCES', // ERROR_CANT_ACCESS_FILE
  1921: 'ELOOP', // ERROR_CANT_RESOLVE_FILENAME
  2250: 'ENOTCONN', // ERROR_NOT_CONNECTED
  4392: 'ENOENT', // ERROR_INVALID_REPARSE_DATA
};

// Codes libuv leaves UNKNOWN that have an exact POSIX name, and fslock's own results
// (native/win32_common.h: bit 29 set, never an OS code), with what they mean here.
const beyond: Record<number, { code: string; detail?: string }> = {
  38: { code: 'EOF' }, // ERROR_HANDLE_EOF
  120: { code: 'ENOSYS' }, // ERROR_CALL_NOT_IMPLEMENTED
  158: {
    // ERROR_NOT_LOCKED: UnlockFileEx releases only a range exactly as it was locked.
    code: 'ENOLCK',
    detail: 'no lock on exactly this range (Windows unlocks only a range exactly as it was locked)',
  },
  303: { code: 'EPERM' }, // ERROR_DELETE_PENDING (libuv: EPERM from the ERROR_ACCESS_DENIED it hides behind)
  1142: { code: 'EMLINK' }, // ERROR_TOO_MANY_LINKS
  1921: {
    // ERROR_CANT_RESOLVE_FILENAME (libuv: ELOOP): a link loop, or under Wine a dangling
    // symbolic link (native/win32_locks.cc OpenLockFile).
    code: 'ELOOP',
    detail: 'the name cannot be resolved: a symbolic link that loops or leads nowhere (never followed)',
  },
  4390: { code: 'EINVAL' }, // ERROR_NOT_A_REPARSE_POINT (libuv's readlink says EINVAL too)
  0x20000001: {
    code: 'EISDIR',
    detail:
      'directories cannot be locked on Windows (LockFileEx locks files only): lock a file beside it, such as the directory name + ".lock"',
  },
  0x20000002: {
    code: 'EINVAL',
    detail:
      'lock path is not a regular file (a Windows device name: CON, PRN, AUX, NUL, COM1-9, LPT1-9, also with an extension before Windows 11, or a \\\\.\\ device path)',
  },
  0x20000003: {
    code: 'EDEADLK',
    detail:
      'this descriptor already holds a lock overlapping this range, and Windows cannot convert or merge byte-range locks (LockFileEx): unlock that range first',
  },
};

/**
 * Windows `ERROR_SHARING_VIOLATION` as a native result: another program (a scanner, a
 * backup, an indexer) has the file open without `FILE_SHARE_WRITE`. Undefined elsewhere.
 */
export const SHARING_VIOLATION = process.platform === 'win32' ? -32 : undefined;

/**
 * Windows `ERROR_LOCK_VIOLATION` and `ERROR_IO_PENDING` as native results of a lock
 * call: held by someone else (libuv names the first EBUSY, for the reads and writes a
 * mandatory lock refuses). Empty elsewhere.
 */
export const WOULD_BLOCK: ReadonlySet<number> = new Set(process.platform === 'win32' ? [-33, -997] : []);

/** The error namer for Windows (installed by lib/native/binding.ts with setErrorNamer). */
export function win32ErrorName(result: number): { code: string; detail: string } {
  const n = -result;
  const own = beyond[n];
  if (own && n >= 0x20000000) return { code: own.code, detail: own.detail! };
  const code = libuv[n] ?? own?.code ?? 'UNKNOWN';
  return { code, detail: `${own?.detail ?? describeCode(code)} (Windows error ${n})` };
}
