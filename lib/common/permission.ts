// Node's permission model (`--permission`; Node 20: `--experimental-permission`) binds
// node:fs, not addons: a native call that touches a path outside `--allow-fs-read` /
// `--allow-fs-write` would go through unchecked. Every public entry that hands a path to
// native code asks `process.permission.has()` first and refuses with Node's own error.
// Without the model, `process.permission` is undefined and each check is one branch.
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { fileURLToPath } from 'node:url';

/** `fs.read` or `fs.write`: the scopes of `process.permission.has()`. */
export type FsScope = 'fs.read' | 'fs.write';

interface Permission {
  has(scope: string, reference?: string): boolean;
}

const permission = (process as unknown as { permission?: Permission }).permission;

/** Whether the permission model is on in this process (fixed at startup). */
export const permissionModel = permission !== undefined;

/**
 * Node's message for ERR_ACCESS_DENIED: since 22.16 / 23.11 / 24.0 it names the flag
 * that grants the access (nodejs/node#57585; 22.15 still lacks it, checked with the
 * official binaries of 22.14, 22.15, 22.16, 22.17, 22.18, 22.20, 22.23 and 24.22).
 */
function hinted(): boolean {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major === 22) return minor >= 16;
  if (major === 23) return minor >= 11;
  return major >= 24;
}
const HINT = hinted();

/** Node's ERR_ACCESS_DENIED: `code`, `permission` ('FileSystemRead' | 'FileSystemWrite'), `resource`. */
export function accessDenied(scope: FsScope, resource: string): Error {
  const flag = scope === 'fs.read' ? '--allow-fs-read' : '--allow-fs-write';
  const err = new Error(
    `Access to this API has been restricted${HINT ? `. Use ${flag} to manage permissions.` : ''}`,
  ) as Error & { code: string; permission: string; resource: string };
  err.code = 'ERR_ACCESS_DENIED';
  err.permission = scope === 'fs.read' ? 'FileSystemRead' : 'FileSystemWrite';
  err.resource = resource;
  Error.captureStackTrace(err, accessDenied);
  return err;
}

/**
 * The path `process.permission.has()` is asked about: absolute (a relative one is
 * resolved against the working directory, as node:fs resolves it), a Buffer read as
 * UTF-8. Undefined for what is not a path: the argument checks that follow report it.
 */
function reference(path: unknown): string | undefined {
  let p: string;
  if (typeof path === 'string') p = path;
  else if (Buffer.isBuffer(path)) p = path.toString('utf8');
  else if (path instanceof URL && path.protocol === 'file:') {
    try {
      p = fileURLToPath(path);
    } catch {
      return undefined;
    }
  } else return undefined;
  if (p.length === 0 || p.includes('\0')) return undefined;
  return nodePath.resolve(p);
}

/**
 * Throws Node's ERR_ACCESS_DENIED unless the permission model grants `scope` on `path`
 * (any path form fslock takes; what is not a path is left to the argument checks).
 * Free when the model is off.
 */
export function checkAccess(scope: FsScope, path: unknown): void {
  if (!permission) return;
  const p = reference(path);
  if (p !== undefined && !permission.has(scope, p)) throw accessDenied(scope, p);
}

/** {@link checkAccess} for reading and then writing `path` (what node:fs checks for 'r+'). */
export function checkReadWrite(path: unknown): void {
  if (!permission) return;
  checkAccess('fs.read', path);
  checkAccess('fs.write', path);
}

/**
 * What a path lock needs (lock, lockSync, the proper-lockfile drop-in): reading and
 * writing the lock file, which it may create and records its holder in — or, for an
 * existing directory, only reading it (a directory is locked through a read-only
 * descriptor and nothing is created).
 */
export function checkLockAccess(path: unknown): void {
  if (!permission) return;
  const p = reference(path);
  if (p === undefined) return;
  if (!permission.has('fs.read', p)) throw accessDenied('fs.read', p);
  if (permission.has('fs.write', p)) return;
  let dir = false;
  try {
    dir = fs.statSync(p).isDirectory();
  } catch {
    // missing or unreachable: a lock file would be created
  }
  if (!dir) throw accessDenied('fs.write', p);
}
