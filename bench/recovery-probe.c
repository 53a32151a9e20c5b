/*
 * recovery-probe: what every container experiences after kill -9 of lxcfs, timed per container.
 *
 *   recovery-probe LXCFS_PID TIMEOUT_MS FILE,FILE,... [read-all]   (container init pids on stdin, one a line)
 *   environment: PROBE_THREADS (default 2), PROBE_GATHER_US (default 3000): threads, and how long
 *   a wake-up gathers further changes; PROBE_NORMAL: no real-time priority.
 *
 * Setup: opens /proc/<pid>/mountinfo of every container (poll() on it wakes on any mount change
 * in that container's mount namespace) and notes the device of each of its files, prints "ready",
 * waits for "go" on stdin. Then it kills lxcfs (t0), waits for it to die (pidfd), checks that each
 * container's first file fails, and from then on looks at a container only when its mount table
 * changed: once every one of its files sits on another device (statx without asking the
 * filesystem), it reads one of them through the container's own mount (/proc/<pid>/root/<file>;
 * a different file from container to container, so each file is read in 1/8 of them). Every file
 * on the same new device is on the same FUSE connection as the one that answered: the container
 * is served again. Its time is t0 to the moment that read answered. Why not read every file:
 * lxcfs spends 100-300 us of CPU building each answer (measured, 2 cores), so 1,600 reads at once
 * cost more CPU than the whole re-attach, and the figure would be lxcfs's content generation on a
 * saturated machine rather than the time until containers are served again. With "read-all",
 * every file is read in full (that slower figure). THREADS threads
 * share the containers, so no round over all containers sets the granularity: the lag from the
 * wake-up to the recorded time is measured and printed, as is the probe's own CPU time. A sweep
 * over a thread's unrecovered containers every SWEEP_MS catches a missed wake-up (counted apart).
 *
 * Output, one line per container: "c <pid> <us since kill> <lag us> <event|sweep|early>", then
 * "s <broken at start> <probe cpu us> <reads> <threads> <lxcfs dead us> <kill, ms since the epoch>", or "timeout <left>".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SWEEP_MS 200
#define GATHER_US 3000
#define MAX_FILES 16
#define THREADS 2
#define MAX_THREADS 64

struct box {
  /* read: the file read (unless read-all). */
  int pid, fd, done, moved, read;
  long long batch;
  unsigned dev_major[MAX_FILES], dev_minor[MAX_FILES];
  long long at_us, lag_us;
  const char *how;
};

struct worker {
  pthread_t thread;
  struct box *boxes;
  int n, ep;
  long long reads, batch;
};

static char *files[MAX_FILES];
static int nfiles;
static int read_all;
static int gather_us = GATHER_US;
static long long t0, timeout_us;
static volatile int timed_out;

static long long now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int read_ok(struct worker *w, int pid, const char *file) {
  char path[256], buf[8192];
  snprintf(path, sizeof(path), "/proc/%d/root%s", pid, file);
  w->reads++;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  return n > 0;
}

/* The device of the mount a container's file leads to, without asking the filesystem. */
static int dev_of(int pid, const char *file, unsigned *major, unsigned *minor) {
  char path[256];
  struct statx stx;
  snprintf(path, sizeof(path), "/proc/%d/root%s", pid, file);
  if (statx(AT_FDCWD, path, AT_STATX_DONT_SYNC, 0, &stx) < 0) return -1;
  *major = stx.stx_dev_major;
  *minor = stx.stx_dev_minor;
  return 0;
}

/* 1 once every file of the container left its old device and answers a read. */
static int recovered(struct worker *w, struct box *b) {
  while (b->moved < nfiles) {
    unsigned ma, mi;
    if (dev_of(b->pid, files[b->moved], &ma, &mi) < 0 || (ma == b->dev_major[b->moved] && mi == b->dev_minor[b->moved])) return 0;
    b->moved++;
  }
  for (int f = 0; f < nfiles; f++)
    if ((read_all || f == b->read) && !read_ok(w, b->pid, files[f])) return 0;
  return 1;
}

static void record(struct box *b, long long woke, const char *how) {
  long long t = now_us();
  b->done = 1;
  b->at_us = t - t0;
  b->lag_us = t - woke;
  b->how = how;
}

static void *work(void *arg) {
  struct worker *w = arg;
  struct epoll_event evs[256];
  int left = 0;
  for (int i = 0; i < w->n; i++) left += !w->boxes[i].done;
  long long last_sweep = now_us();
  while (left > 0) {
    if (now_us() - t0 > timeout_us) {
      timed_out = 1;
      return NULL;
    }
    int k = epoll_wait(w->ep, evs, 256, SWEEP_MS);
    long long woke = now_us();
    if (k > 0 && k < 256) {
      /*
       * A re-attach changes a container's table twice per file: gathering the changes of the next
       * GATHER_US costs each recorded time at most that (it is inside the lag printed) and saves
       * most wake-ups, whose CPU would be taken from the agent being measured.
       */
      usleep(gather_us);
      int more = epoll_wait(w->ep, evs + k, 256 - k, 0);
      if (more > 0) k += more;
    }
    w->batch++;
    for (int e = 0; e < k; e++) {
      struct box *b = &w->boxes[evs[e].data.u32];
      /* Both waits may name a box: look once per batch. */
      if (b->batch == w->batch) continue;
      b->batch = w->batch;
      if (!b->done && recovered(w, b)) {
        record(b, woke, "event");
        left--;
      }
    }
    if (woke - last_sweep >= SWEEP_MS * 1000LL) {
      last_sweep = woke;
      for (int i = 0; i < w->n; i++) {
        struct box *b = &w->boxes[i];
        if (!b->done && recovered(w, b)) {
          record(b, woke, "sweep");
          left--;
        }
      }
    }
  }
  return NULL;
}

static void drain_mountinfo(int fd) {
  char buf[65536];
  lseek(fd, 0, SEEK_SET);
  while (read(fd, buf, sizeof(buf)) > 0) {
  }
}

int main(int argc, char **argv) {
  if (argc != 4 && !(argc == 5 && strcmp(argv[4], "read-all") == 0)) {
    fprintf(stderr, "usage: recovery-probe LXCFS_PID TIMEOUT_MS FILE,FILE,... [read-all] < pids\n");
    return 2;
  }
  read_all = argc == 5;
  int lxcfs = atoi(argv[1]);
  timeout_us = atoll(argv[2]) * 1000LL;
  for (char *tok = strtok(argv[3], ","); tok && nfiles < MAX_FILES; tok = strtok(NULL, ",")) files[nfiles++] = tok;
  int cap = 1024, n = 0;
  struct box *boxes = calloc((size_t)cap, sizeof(*boxes));
  char line[64];
  while (fgets(line, sizeof(line), stdin) && line[0] != '\n') {
    if (n == cap) boxes = realloc(boxes, sizeof(*boxes) * (size_t)(cap *= 2));
    memset(&boxes[n], 0, sizeof(boxes[n]));
    boxes[n].read = nfiles > 0 ? n % nfiles : 0;
    boxes[n++].pid = atoi(line);
  }
  int threads = getenv("PROBE_THREADS") ? atoi(getenv("PROBE_THREADS")) : THREADS;
  if (threads < 1 || threads > MAX_THREADS) threads = THREADS;
  if (getenv("PROBE_GATHER_US")) gather_us = atoi(getenv("PROBE_GATHER_US"));
  struct worker workers[MAX_THREADS];
  int nworkers = n < threads ? n : threads;
  for (int t = 0; t < nworkers; t++) {
    workers[t].boxes = boxes + (long)n * t / nworkers;
    workers[t].n = (int)((long)n * (t + 1) / nworkers - (long)n * t / nworkers);
    workers[t].ep = epoll_create1(EPOLL_CLOEXEC);
    workers[t].reads = 0;
    workers[t].batch = 0;
    for (int i = 0; i < workers[t].n; i++) {
      struct box *b = &workers[t].boxes[i];
      char path[64];
      snprintf(path, sizeof(path), "/proc/%d/mountinfo", b->pid);
      b->fd = open(path, O_RDONLY | O_CLOEXEC);
      if (b->fd < 0) {
        fprintf(stderr, "recovery-probe: %s: %s\n", path, strerror(errno));
        return 1;
      }
      for (int f = 0; f < nfiles; f++) {
        if (dev_of(b->pid, files[f], &b->dev_major[f], &b->dev_minor[f]) < 0) {
          fprintf(stderr, "recovery-probe: statx %d %s: %s\n", b->pid, files[f], strerror(errno));
          return 1;
        }
      }
      drain_mountinfo(b->fd);
      struct epoll_event ev = {.events = EPOLLPRI, .data.u32 = (unsigned)i};
      if (epoll_ctl(workers[t].ep, EPOLL_CTL_ADD, b->fd, &ev) < 0) {
        perror("recovery-probe: epoll_ctl");
        return 1;
      }
    }
    /* Consume the change events that setup may have left. */
    struct epoll_event evs[256];
    while (epoll_wait(workers[t].ep, evs, 256, 0) > 0) {
    }
  }
  int pidfd = (int)syscall(SYS_pidfd_open, lxcfs, 0);
  if (pidfd < 0) {
    perror("recovery-probe: pidfd_open");
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  if (!fgets(line, sizeof(line), stdin)) return 1;

  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  t0 = now_us();
  if (kill(lxcfs, SIGKILL) < 0) {
    perror("recovery-probe: kill");
    return 1;
  }
  struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
  while (poll(&pfd, 1, -1) < 0 && errno == EINTR) {
  }
  long long dead_us = now_us() - t0;
  int broken = 0;
  struct worker checker = {.reads = 0};
  for (int i = 0; i < n; i++) {
    if (!read_ok(&checker, boxes[i].pid, files[0])) broken++;
    /* Else the agent was faster than this check (or the mount never broke): timed here, flagged. */
    else if (recovered(&checker, &boxes[i])) record(&boxes[i], now_us(), "early");
  }
  /*
   * Real-time priority (threads inherit it): a probe thread runs as soon as its wake-up comes,
   * instead of queueing behind the agent it measures, so its lag is its own work. Its CPU time
   * is taken from the agent all the same, and printed.
   */
  struct sched_param prio = {.sched_priority = 1};
  int realtime = getenv("PROBE_NORMAL") == NULL && sched_setscheduler(0, SCHED_FIFO, &prio) == 0;
  for (int t = 0; t < nworkers; t++) pthread_create(&workers[t].thread, NULL, work, &workers[t]);
  for (int t = 0; t < nworkers; t++) pthread_join(workers[t].thread, NULL);
  getrusage(RUSAGE_SELF, &ru1);
  if (timed_out) {
    int left = 0;
    for (int i = 0; i < n; i++) left += !boxes[i].done;
    printf("timeout %d\n", left);
    return 3;
  }
  long long cpu = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1000000LL +
                  (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec);
  long long reads = checker.reads;
  for (int t = 0; t < nworkers; t++) reads += workers[t].reads;
  for (int i = 0; i < n; i++) printf("c %d %lld %lld %s\n", boxes[i].pid, boxes[i].at_us, boxes[i].lag_us, boxes[i].how);
  printf("s %d %lld %lld %d %lld %lld %s\n", broken, cpu, reads, nworkers, dead_us, (long long)wall.tv_sec * 1000 + wall.tv_nsec / 1000000, realtime ? "fifo" : "normal");
  return 0;
}
