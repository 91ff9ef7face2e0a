// The fslock command's signal witness (native/posix_witness.cc, glue_witness.cc;
// lib/cli/witness.ts decides everything around it). POSIX only.
#pragma once

namespace fslock {
namespace os {

// Most signals one witness counts.
constexpr int kWitnessMaxSignals = 16;

// Starts the witness: a child process in the caller's process group that counts the
// `n` signals it receives and answers each byte written to its query pipe with the
// counts (n native-endian uint32, one write). It makes only async-signal-safe calls and
// exits when the query pipe's write end is closed. `sharedVm` (Linux): clone(CLONE_VM)
// instead of fork(), see posix_witness.cc; at most one such witness per process; it
// fails with ENOSYS or EPERM (syscall "close_range") where close_range(2) does not
// work. Descriptors are closed in the child except its two pipe ends: with close_range
// (Linux), else (fork) up to `maxFd` at least. Returns the child's pid, with fds[0] =
// the query pipe's write end and fds[1] = the answer pipe's read end (both
// close-on-exec), or a negative error.
int StartWitness(const int *signals, int n, int maxFd, bool sharedVm, int fds[2], const char **sc);

// Linux: posix_spawnp(file, argv) with the caller's environment, `lockFd` (>= 0) as
// the child's fd 3, every signal at its default action and none blocked. Returns the
// child's pid, or a negative error (a failed exec too: ENOENT, EACCES, ENOEXEC).
int SpawnCommand(const char *file, char *const *argv, int lockFd, const char **sc);

// waitpid(pid, WNOHANG) for a child whose status matters: the pid once it has ended,
// with out[0] = its exit code (-1 when killed) and out[1] = the signal that killed it
// (0 when it exited); 0 while it runs; or a negative error.
int WaitChild(int pid, int out[2], const char **sc);

// waitpid(pid, WNOHANG): the pid once it has ended (reaped), 0 while it runs, or a
// negative error.
int ReapChild(int pid, const char **sc);

}  // namespace os
}  // namespace fslock
