// The short name a lock-file record gives its holder, as a person would recognise it
// ("held by pid 4121 (jest)"): the title the program set, else the script it runs —
// the command a package installs it as (`jest` for node_modules/jest/bin/jest.js),
// else its file name (`build.js`). Names read back from records are untrusted: they are
// shown in messages and terminals, so anything but a short, plain string is dropped.
import * as fs from 'node:fs';
import { invalidArgType, invalidArgValue } from './errors';

/** The longest holder name written or accepted (UTF-16 code units, as `String.length`). */
export const NAME_MAX = 64;
/** C0 and C1 controls, and the marks that reorder what a terminal shows (bidi overrides). */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** `v` when it is a name fit to show (1–64 characters, no controls, well-formed), else undefined. */
export function cleanName(v: unknown): string | undefined {
  if (typeof v !== 'string' || v.length === 0 || v.length > NAME_MAX) return undefined;
  return CONTROL.test(v) || LONE_SURROGATE.test(v) ? undefined : v;
}

/** The checked `name` option of a lock call (undefined: this process's own name). */
export function toName(v: unknown, option = 'options.name'): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalidArgType(option, 'of type string', v);
  if (cleanName(v) === undefined)
    throw invalidArgValue(option, v, `must be 1 to ${NAME_MAX} characters, without control characters`);
  return v;
}

/** A name derived from the OS or argv, made fit: controls replaced, cut to NAME_MAX. */
function fit(s: string): string | undefined {
  let t = s.trim().replace(new RegExp(CONTROL.source, 'g'), '?');
  if (t.length > NAME_MAX) t = t.slice(0, NAME_MAX - 1) + '…';
  return cleanName(t.replace(new RegExp(LONE_SURROGATE.source, 'g'), '?'));
}

function baseName(p: string): string {
  const parts = p.split(/[\\/]/);
  return parts[parts.length - 1];
}

/** What process.title is when the program did not set it (the command as started). */
function defaultTitle(title: string): boolean {
  const base = baseName(title).replace(/\.exe$/i, '');
  return (
    title === process.argv0 ||
    title === process.execPath ||
    base === 'node' ||
    base === 'nodejs' ||
    base === baseName(process.argv0).replace(/\.exe$/i, '')
  );
}

const noExt = (p: string) => p.replace(/\.[cm]?js$/, '');

/**
 * The command under which the package in `dir` installs `script` (its `bin` entry),
 * if it is one of them. package.json is the running program's own: read once, bounded.
 */
function binName(dir: string, pkg: string, script: string): string | undefined {
  let bin: unknown;
  try {
    const fd = fs.openSync(`${dir}/package.json`, 'r');
    try {
      const buf = Buffer.alloc(1 << 20);
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      bin = (JSON.parse(buf.toString('utf8', 0, n)) as { bin?: unknown }).bin;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const target = noExt(script.replace(/\\/g, '/'));
  const same = (rel: unknown) =>
    typeof rel === 'string' && noExt(`${dir}/${rel}`.replace(/\\/g, '/').replace(/\/\.\//g, '/')) === target;
  if (same(bin)) return pkg.replace(/^@[^/]+\//, ''); // a string bin is installed under the package's name
  if (bin && typeof bin === 'object')
    for (const [cmd, rel] of Object.entries(bin as Record<string, unknown>)) if (same(rel)) return cmd;
  return undefined;
}

/**
 * The name for the script `script` (process.argv[1]): a package's command when it is
 * one (`jest`), the command itself when run through node_modules/.bin, the package and
 * file for another file of a package (`jest-worker/processChild.js`), else its file name.
 */
export function scriptName(script: string): string | undefined {
  const parts = script.split(/[\\/]/);
  const base = parts[parts.length - 1];
  const nm = parts.lastIndexOf('node_modules');
  if (nm < 0 || nm + 2 >= parts.length) return fit(base);
  if (parts[nm + 1] === '.bin') return fit(base);
  let pkg = parts[nm + 1];
  let end = nm + 2;
  if (pkg.startsWith('@') && end + 1 < parts.length) pkg = `${pkg}/${parts[end++]}`;
  const bin = binName(parts.slice(0, end).join('/'), pkg, script);
  return fit(bin ?? `${pkg}/${base}`);
}

/** `node -e`/`-p`: process.argv[1] is then the first argument, not a script. */
function evaluated(): boolean {
  return process.execArgv.some((a) => /^(-[ep]|--eval|--print)(=|$)/.test(a) || /^-[a-z]*[ep]$/.test(a));
}

let own: string | undefined;
let known = false;

/**
 * This process's holder name: `process.title` when the program set one (not on
 * Windows, where it is the console window's title), else the name of the script it
 * runs ({@link scriptName}); undefined for a process without a script (the REPL,
 * `node -e`). Learnt at the first lock (reading process.title costs microseconds).
 */
export function processName(): string | undefined {
  if (known) return own;
  known = true;
  const title = process.platform === 'win32' ? '' : process.title;
  if (title && !defaultTitle(title)) own = fit(title);
  else if (process.argv[1] && !evaluated()) own = scriptName(process.argv[1]);
  return own;
}
