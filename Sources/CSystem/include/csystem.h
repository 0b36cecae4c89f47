#ifndef CA_CSYSTEM_H
#define CA_CSYSTEM_H
/* Linux calls Swift cannot import (variadic, or without a glibc wrapper on Debian 12),
   forwarded one-to-one. No logic lives here. */
#define _GNU_SOURCE
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <signal.h>
#include <unistd.h>
#include <fcntl.h>

/* O_PATH is a GNU extension the Glibc module does not export. */
static const int CA_O_PATH = O_PATH;

static inline int ca_prctl_set_dumpable(int value) { return prctl(PR_SET_DUMPABLE, value, 0, 0, 0); }
static inline int ca_prctl_get_dumpable(void) { return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0); }
static inline int ca_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }
static inline int ca_pidfd_send_signal(int pidfd, int sig) { return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, (void *)0, 0); }
static inline int ca_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
#endif
