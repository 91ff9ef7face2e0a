import { describeCode } from '../common/errors';

// Names for Win32 error codes (negative GetLastError() values from the Windows OS
// files), the same Node codes libuv gives (uv_translate_sys_error), with the Windows
// number kept in the message: "EBUSY: resource busy or locked (Windows error 32)".
const table: Record<number, string> = {
  1: 'ENOSYS', // ERROR_INVALID_FUNCTION
  2: 'ENOENT', // ERROR_FILE_NOT_FOUND
  3: 'ENOENT', // ERROR_PATH_NOT_FOUND
  4: 'EMFILE', // ERROR_TOO_MANY_OPEN_FILES
  5: 'EPERM', // ERROR_ACCESS_DENIED (libuv: EPERM)
  6: 'EBADF', // ERROR_INVALID_HANDLE
  8: 'ENOMEM', // ERROR_NOT_ENOUGH_MEMORY
  15: 'ENOENT', // ERROR_INVALID_DRIVE
  17: 'EXDEV', // ERROR_NOT_SAME_DEVICE
  19: 'EROFS', // ERROR_WRITE_PROTECT
  32: 'EBUSY', // ERROR_SHARING_VIOLATION
  33: 'EAGAIN', // ERROR_LOCK_VIOLATION
  38: 'EOF', // ERROR_HANDLE_EOF
  39: 'ENOSPC', // ERROR_HANDLE_DISK_FULL
  50: 'ENOTSUP', // ERROR_NOT_SUPPORTED
  80: 'EEXIST', // ERROR_FILE_EXISTS
  87: 'EINVAL', // ERROR_INVALID_PARAMETER
  112: 'ENOSPC', // ERROR_DISK_FULL
  120: 'ENOSYS', // ERROR_CALL_NOT_IMPLEMENTED
  123: 'ENOENT', // ERROR_INVALID_NAME
  145: 'ENOTEMPTY', // ERROR_DIR_NOT_EMPTY
  158: 'ENOLCK', // ERROR_NOT_LOCKED
  183: 'EEXIST', // ERROR_ALREADY_EXISTS
  206: 'ENAMETOOLONG', // ERROR_FILENAME_EXCED_RANGE
  267: 'ENOTDIR', // ERROR_DIRECTORY
  303: 'EPERM', // ERROR_DELETE_PENDING
  995: 'ECANCELED', // ERROR_OPERATION_ABORTED
  1142: 'EMLINK', // ERROR_TOO_MANY_LINKS
  1920: 'EACCES', // ERROR_CANT_ACCESS_FILE
  4390: 'EINVAL', // ERROR_NOT_A_REPARSE_POINT
};

/** The error namer for Windows (installed by lib/native/binding.ts with setErrorNamer). */
export function win32ErrorName(result: number): { code: string; detail: string } {
  const n = -result;
  const code = table[n] ?? 'EIO';
  return { code, detail: `${describeCode(code)} (Windows error ${n})` };
}
