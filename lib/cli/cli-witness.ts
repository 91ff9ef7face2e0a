// The fslock command's signal witness: a tiny process in the command's process group
// that counts the signals it receives. A signal that the witness received too was
// sent to the whole group (the terminal's Ctrl-C, `kill -INT -PGID`, a supervisor
// killing the job), so the command has it already and fslock does not forward it
// (lib/cli.ts, "Signals"). argv: the signal names to count.
//
// Protocol (stdin/stdout, one line each): at start it writes {"ready":counts}; for
// each line it reads it answers {"counts":counts}. The answer waits two turns of the
// event loop: a signal that reached this process before the question did (the kernel
// posts a group signal to every member in one kill(2) call, before fslock can even
// react to its own copy) has run its handler in the poll phase between them.
const signals = process.argv.slice(2) as NodeJS.Signals[];
const counts: Record<string, number> = {};
for (const s of signals) {
  counts[s] = 0;
  process.on(s, () => {
    counts[s]++;
  });
}

const answer = (): void => {
  process.stdout.write(`${JSON.stringify({ counts })}\n`);
};
let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  pending += chunk;
  for (let i = pending.indexOf('\n'); i >= 0; i = pending.indexOf('\n')) {
    pending = pending.slice(i + 1);
    setImmediate(() => setImmediate(answer));
  }
});
// fslock ended (or died: its end of the pipe closed): so does the witness.
process.stdin.on('end', () => process.exit(0));
process.stdout.on('error', () => process.exit(0));
process.stdout.write(`${JSON.stringify({ ready: counts })}\n`);
