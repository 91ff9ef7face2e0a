// Starting and reaping the fslock command's COMMAND (lib/cli/cli-spawn.ts decides
// everything around it). Linux only: there node:child_process forks the whole Node
// process (libuv's uv_spawn), copying its page tables and leaving it copy-on-write
// faults afterwards, about a fifth of `fslock LOCK true` (bench/cli.bench.js);
// posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK)) copies nothing and reports a failed
// exec as its result.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "witness.h"

extern char **environ;

namespace fslock {
namespace os {

int SpawnCommand(const char *file, char *const *argv, int lockFd, const char **sc) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  int err = posix_spawn_file_actions_init(&fa);
  if (err != 0) {
    *sc = "posix_spawn_file_actions_init";
    return -err;
  }
  err = posix_spawnattr_init(&attr);
  if (err != 0) {
    posix_spawn_file_actions_destroy(&fa);
    *sc = "posix_spawnattr_init";
    return -err;
  }
  // The lock's descriptor becomes the command's fd 3 (dup2 clears close-on-exec). A
  // descriptor that is 3 already is duplicated first: dup2 onto itself would leave its
  // close-on-exec flag set (glibc < 2.29).
  int dup = -1;
  if (lockFd == 3) {
    dup = fcntl(lockFd, F_DUPFD_CLOEXEC, 4);
    if (dup < 0) err = errno, *sc = "fcntl";
    lockFd = dup;
  }
  if (err == 0 && lockFd >= 0) {
    err = posix_spawn_file_actions_adddup2(&fa, lockFd, 3);
    if (err != 0) *sc = "posix_spawn_file_actions_adddup2";
  }
  // As libuv's children: every signal at its default action and none blocked (fslock
  // catches some and Node ignores SIGPIPE; neither is the command's business).
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  if (err == 0) err = posix_spawnattr_setsigdefault(&attr, &all);
  if (err == 0) err = posix_spawnattr_setsigmask(&attr, &none);
  if (err == 0)
    err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  if (err != 0 && **sc == '\0') *sc = "posix_spawnattr";
  // The command inherits fslock's standard descriptors, which Node may have made
  // close-on-exec (its streams on pipes): as libuv does in its children, they are not.
  // The flag belongs to fslock's descriptor table only, and fslock starts nothing else.
  for (int fd = 0; fd <= 2 && err == 0; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0 && (flags & FD_CLOEXEC)) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
  pid_t pid = -1;
  if (err == 0) {
    // The PATH search and a failed exec (ENOENT, EACCES, ENOEXEC) are reported here.
    err = posix_spawnp(&pid, file, &fa, &attr, argv, environ);
    if (err != 0) *sc = "posix_spawnp";
  }
  if (dup >= 0) close(dup);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  return err != 0 ? -err : static_cast<int>(pid);
}

int WaitChild(int pid, int out[2], const char **sc) {
  int status = 0;
  pid_t r = waitpid(static_cast<pid_t>(pid), &status, WNOHANG);
  if (r < 0) {
    *sc = "waitpid";
    return -errno;
  }
  if (r > 0) {
    out[0] = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    out[1] = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  }
  return static_cast<int>(r);
}

}  // namespace os
}  // namespace fslock
