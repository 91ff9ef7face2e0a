// Names derived from another file's name (`cache.json` -> `cache.json.lock`) that must
// stay legal names: a file may have a name of up to NAME_MAX (255) bytes, and its
// derived name must fit too, the same in every process and backend that derives it.
import { createHash } from 'node:crypto';
import { basenameOf, dirnameOf, joinName, type FsPath } from './args';

/** NAME_MAX of Linux, macOS and NTFS (bytes; NTFS counts UTF-16 units, never more than bytes). */
export const NAME_MAX = 255;

/**
 * A shortened name is this long at most: room is left for the names derived from it
 * in turn (the fallback backend's temp names beside a lock file, another program's
 * `.tmp`).
 */
const SHORTENED_MAX = 200;

/**
 * `path + suffix` when that last component fits NAME_MAX bytes (always so far, and
 * what other programs expect); else the name cut (whole UTF-8 characters), then `~`
 * and 16 hex digits of a SHA-256 of the whole name, then `suffix`: 200 bytes in all.
 * A pure function of `path`: every process derives the same name.
 */
export function siblingName(path: FsPath, suffix: string): FsPath {
  const base = basenameOf(path);
  const bytes = typeof base === 'string' ? Buffer.from(base) : base;
  if (bytes.length + Buffer.byteLength(suffix) <= NAME_MAX) {
    return typeof path === 'string' ? path + suffix : Buffer.concat([path, Buffer.from(suffix)]);
  }
  const tag = `~${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}${suffix}`;
  let cut = Math.max(SHORTENED_MAX - Buffer.byteLength(tag), 0);
  while (cut > 0 && (bytes[cut] & 0xc0) === 0x80) cut--; // not inside a UTF-8 sequence
  return joinName(dirnameOf(path), Buffer.concat([bytes.subarray(0, cut), Buffer.from(tag)]));
}
