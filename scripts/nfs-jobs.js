'use strict';
// Jobs in a guest of scripts/nfs.js: a bash script dropped as ID.cmd into the guest's
// control directory (a 9p share, the same path inside and out) is run by the guest's
// agent (scripts/nfs-guest.sh) as a session of its own, which writes ID.pid, ID.out and
// then ID.rc; ID.kill SIGKILLs the session. The host polls those files: on a timer in
// start()/run() (the event loop stays free), blocking in runSync() (the CLI, up()).
const fs = require('node:fs');
const path = require('node:path');

function waitFor(cond, ms, what) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  }
}

let jobSeq = 0;

/**
 * Starts `script` (bash) in guest `n` (1 or 2) and returns the job at once: `output()`
 * (what it printed so far), `lines()` (its JSON lines, parsed), `done(ms)` (resolves
 * {status, stdout} when it ends, rejects after `ms`), `kill()` (SIGKILL to the whole
 * job), `pid()` (its session leader in the guest, once started).
 */
function start(setup, n, script) {
  const g = setup.guests[n - 1];
  const id = `j${process.pid}-${Date.now()}-${jobSeq++}`;
  const base = path.join(g.ctl, id);
  fs.writeFileSync(`${base}.tmp`, script);
  fs.renameSync(`${base}.tmp`, `${base}.cmd`);
  const read = (ext) => {
    try {
      return fs.readFileSync(`${base}.${ext}`, 'utf8');
    } catch {
      return undefined;
    }
  };
  const job = {
    id,
    guest: n,
    output: () => read('out') || '',
    lines: () =>
      job
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{') && l.endsWith('}'))
        .map((l) => JSON.parse(l)),
    status: () => {
      const rc = read('rc');
      return rc === undefined ? undefined : Number(rc);
    },
    pid: () => Number(read('pid')) || undefined,
    kill: () => fs.writeFileSync(`${base}.kill`, ''),
    /** Resolves with the first JSON line that `pred` accepts; rejects if the job ends first. */
    line: (pred, ms = 120_000, what = 'a line') =>
      poll(
        () => {
          const l = job.lines().find(pred);
          if (l) return l;
          if (job.status() !== undefined)
            throw new Error(`job in guest ${n} ended (${job.status()}) before ${what}:\n${job.output().slice(-2000)}`);
        },
        ms,
        `${what} from guest ${n}`,
      ),
    done: (ms = 120_000) =>
      poll(
        () => (job.status() === undefined ? undefined : { status: job.status(), stdout: job.output() }),
        ms,
        `job in guest ${n} to end`,
      ).catch((e) => {
        job.kill();
        e.message += `; output so far:\n${job.output().slice(-2000)}`;
        throw e;
      }),
  };
  return job;
}

/** Polls `fn` every 50 ms (a timer: the event loop stays free) until it returns a value. */
function poll(fn, ms, what) {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = () => {
      let v;
      try {
        v = fn();
      } catch (e) {
        return reject(e);
      }
      if (v !== undefined) return resolve(v);
      if (Date.now() > end) return reject(new Error(`${what}: not within ${ms} ms`));
      setTimeout(tick, 50);
    };
    tick();
  });
}

/** Runs `script` in guest `n`; resolves {status, stdout}. */
function run(setup, n, script, ms = 120_000) {
  return start(setup, n, script).done(ms);
}

/** The same, blocking (the CLI and up()). Throws when the script fails. */
function runSync(setup, n, script, ms = 120_000) {
  const job = start(setup, n, script);
  waitFor(() => job.status() !== undefined, ms, `job in guest ${n}: ${script.slice(0, 60)}`);
  if (job.status() !== 0) throw new Error(`guest ${n}: ${script.slice(0, 80)}: exit ${job.status()}\n${job.output()}`);
  return job.output();
}

module.exports = { start, run, runSync, poll };
