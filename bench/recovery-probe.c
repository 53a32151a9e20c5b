/*
 * recovery-probe: what every container experiences after kill -9 of lxcfs, timed per container.
 *
 *   recovery-probe LXCFS_PID TIMEOUT_MS FILE,FILE,...   (container init pids on stdin, one a line)
 *
 * Setup: opens /proc/<pid>/mountinfo of every container (poll() on it wakes on any mount change
 * in that container's mount namespace), prints "ready", waits for "go" on stdin. Then it kills
 * lxcfs (t0), waits for it to die (pidfd), checks that each container's first file fails, and
 * from then on tries a container's files only when its mount table changed: a container's time
 * is t0 to the moment every one of its files answered a read through its own mounts
 * (/proc/<pid>/root/<file>). No round over all containers sets the granularity: the lag from the
 * wake-up to the recorded time is measured and printed, as is the probe's own CPU time. A sweep
 * over the unrecovered containers every SWEEP_MS catches a missed wake-up (counted apart).
 *
 * Output, one line per container: "c <pid> <us since kill> <lag us> <event|sweep|early>", then
 * "s <broken at start> <probe cpu us> <reads> <wakeups> <lxcfs dead us>", or "timeout <left>".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SWEEP_MS 50
#define MAX_FILES 16

struct box {
  int pid, fd, done, pending;
  long long at_us, lag_us;
  const char *how;
};

static char *files[MAX_FILES];
static int nfiles;
static long long reads;

static long long now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int read_ok(int pid, const char *file) {
  char path[256], buf[8192];
  snprintf(path, sizeof(path), "/proc/%d/root%s", pid, file);
  reads++;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  return n > 0;
}

/* Tries the files still failing, in order, stopping at the first that fails: 1 when all answer. */
static int advance(struct box *b) {
  while (b->pending < nfiles) {
    if (!read_ok(b->pid, files[b->pending])) return 0;
    b->pending++;
  }
  return 1;
}

static void drain_mountinfo(int fd) {
  char buf[65536];
  lseek(fd, 0, SEEK_SET);
  while (read(fd, buf, sizeof(buf)) > 0) {
  }
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: recovery-probe LXCFS_PID TIMEOUT_MS FILE,FILE,... < pids\n");
    return 2;
  }
  int lxcfs = atoi(argv[1]);
  long long timeout_us = atoll(argv[2]) * 1000LL;
  for (char *tok = strtok(argv[3], ","); tok && nfiles < MAX_FILES; tok = strtok(NULL, ",")) files[nfiles++] = tok;
  int cap = 1024, n = 0;
  struct box *boxes = calloc((size_t)cap, sizeof(*boxes));
  char line[64];
  while (fgets(line, sizeof(line), stdin) && line[0] != '\n') {
    if (n == cap) boxes = realloc(boxes, sizeof(*boxes) * (size_t)(cap *= 2));
    memset(&boxes[n], 0, sizeof(boxes[n]));
    boxes[n++].pid = atoi(line);
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  for (int i = 0; i < n; i++) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/mountinfo", boxes[i].pid);
    boxes[i].fd = open(path, O_RDONLY | O_CLOEXEC);
    if (boxes[i].fd < 0) {
      fprintf(stderr, "recovery-probe: %s: %s\n", path, strerror(errno));
      return 1;
    }
    drain_mountinfo(boxes[i].fd);
    struct epoll_event ev = {.events = EPOLLPRI, .data.u32 = (unsigned)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, boxes[i].fd, &ev) < 0) {
      perror("recovery-probe: epoll_ctl");
      return 1;
    }
  }
  int pidfd = (int)syscall(SYS_pidfd_open, lxcfs, 0);
  if (pidfd < 0) {
    perror("recovery-probe: pidfd_open");
    return 1;
  }
  /* Consume the change events that setup may have left. */
  struct epoll_event evs[256];
  while (epoll_wait(ep, evs, 256, 0) > 0) {
  }
  printf("ready\n");
  fflush(stdout);
  if (!fgets(line, sizeof(line), stdin)) return 1;

  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  long long t0 = now_us();
  if (kill(lxcfs, SIGKILL) < 0) {
    perror("recovery-probe: kill");
    return 1;
  }
  struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
  while (poll(&pfd, 1, -1) < 0 && errno == EINTR) {
  }
  long long dead_us = now_us() - t0;
  int left = n, broken = 0;
  for (int i = 0; i < n; i++) {
    if (!read_ok(boxes[i].pid, files[0])) {
      broken++;
      continue;
    }
    /* The agent was faster than this check (or the mount never broke): timed here, flagged. */
    if (advance(&boxes[i])) {
      boxes[i].done = 1;
      boxes[i].at_us = now_us() - t0;
      boxes[i].how = "early";
      left--;
    }
  }
  long long wakeups = 0, last_sweep = now_us();
  while (left > 0) {
    long long now = now_us();
    if (now - t0 > timeout_us) {
      printf("timeout %d\n", left);
      return 3;
    }
    int k = epoll_wait(ep, evs, 256, SWEEP_MS);
    long long woke = now_us();
    wakeups++;
    for (int e = 0; e < k; e++) {
      struct box *b = &boxes[evs[e].data.u32];
      if (b->done) continue;
      if (advance(b)) {
        long long t = now_us();
        b->done = 1;
        b->at_us = t - t0;
        b->lag_us = t - woke;
        b->how = "event";
        left--;
      }
    }
    if (woke - last_sweep >= SWEEP_MS * 1000LL) {
      last_sweep = woke;
      for (int i = 0; i < n; i++) {
        struct box *b = &boxes[i];
        if (b->done) continue;
        if (advance(b)) {
          long long t = now_us();
          b->done = 1;
          b->at_us = t - t0;
          b->lag_us = t - woke;
          b->how = "sweep";
          left--;
        }
      }
    }
  }
  getrusage(RUSAGE_SELF, &ru1);
  long long cpu = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1000000LL +
                  (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec);
  for (int i = 0; i < n; i++) printf("c %d %lld %lld %s\n", boxes[i].pid, boxes[i].at_us, boxes[i].lag_us, boxes[i].how);
  printf("s %d %lld %lld %lld %lld\n", broken, cpu, reads, wakeups, dead_us);
  return 0;
}
