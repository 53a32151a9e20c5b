/*
 * lxcfs-kit-remount: the mount syscalls of the lxcfs-kit agent.
 *
 * Node.js is multithreaded and setns(CLONE_NEWNS) refuses multithreaded
 * callers, so this single-threaded helper does the namespace work. All policy
 * (what to attach where, retries, metrics) lives in the TypeScript agent.
 *
 *   lxcfs-kit-remount probe
 *       exit 0 and print "ok" when open_tree/move_mount exist, else exit 3.
 *   lxcfs-kit-remount attach            (requests on stdin, one per line)
 *       <pids> TAB <source> TAB <target> TAB <mode> [TAB <attrs>]
 *       pids: <pid>[,<pid>...][@<inode>] — processes in the target mount
 *       namespace, tried in order: one that exited (or whose pid now names a
 *       process in another namespace than mnt:[<inode>]) is skipped, so a
 *       short-lived process cannot make a namespace unreachable
 *       attrs: comma list of ro,nosuid,nodev,noexec set on the new mount
 *       (the old mount's flags, so a read-only injection stays read-only)
 *       mode replace: clone <source> (agent's namespace) and put it in place of
 *                     the mount at <target> in the mount namespace of <pid>
 *                     (beneath the old one, then detach the old one, so a
 *                     reader never sees a gap; detach-then-move on kernels
 *                     without MOVE_MOUNT_BENEATH)
 *       mode mount:   clone <source> onto <target>, nothing mounted there yet
 *       mode umount:  detach the mount at <target>
 *       mode bind:    classic bind mount in the agent's own namespace
 *                     (fallback for kernels without open_tree)
 *       Requests with the same pids field must be adjacent; they share one setns.
 *       Prints one line per request: "ok TAB pids TAB target TAB how" or
 *       "err TAB pids TAB target TAB step TAB errno TAB message" (pids as given;
 *       step "gone": every process given has exited, the namespace may be gone).
 *   lxcfs-kit-remount exec [--cgroupns FILE] -- PROGRAM ARGS...
 *       join the cgroup namespace FILE (when given), ask the kernel to kill the
 *       program when the agent dies, and exec it (used to start lxcfs).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOVE_MOUNT_BENEATH
#define MOVE_MOUNT_BENEATH 0x00000200
#endif

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

struct lxcfs_kit_mount_attr {
  unsigned long long attr_set, attr_clr, propagation, userns_fd;
};

#define MAX_BATCH 64

struct request {
  char *source, *target, *mode, *attrs;
  int clone_fd, clone_errno;
};

static int open_tree_clone(const char *path) {
  return (int)syscall(SYS_open_tree, AT_FDCWD, path, OPEN_TREE_CLONE | O_CLOEXEC);
}

static int move_mount_fd(int fd, const char *target, unsigned int extra) {
  return (int)syscall(SYS_move_mount, fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH | extra);
}

/* Best effort: kernels before 5.12 lack mount_setattr; the mount then keeps the source's flags. */
static void set_attrs(int fd, const char *attrs) {
  struct lxcfs_kit_mount_attr a = {0, 0, 0, 0};
  if (!attrs) return;
  if (strstr(attrs, "ro")) a.attr_set |= 0x1;
  if (strstr(attrs, "nosuid")) a.attr_set |= 0x2;
  if (strstr(attrs, "nodev")) a.attr_set |= 0x4;
  if (strstr(attrs, "noexec")) a.attr_set |= 0x8;
  if (a.attr_set) syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &a, sizeof(a));
}

static void report_ok(const char *pid, const char *target, const char *how) {
  printf("ok\t%s\t%s\t%s\n", pid, target, how);
}

static void report_err(const char *pid, const char *target, const char *step, int err) {
  printf("err\t%s\t%s\t%s\t%d\t%s\n", pid, target, step, err, strerror(err));
}

/* Enter the root and mount namespace given by the two fds (ours or a target's). */
static int enter(int ns_fd, int root_fd) {
  if (setns(ns_fd, CLONE_NEWNS) < 0) return -1;
  if (fchdir(root_fd) < 0 || chroot(".") < 0 || chdir("/") < 0) return -1;
  return 0;
}

/*
 * Open the mount namespace and root of the first candidate that still exists.
 * Returns 0, or -1 with errno (ESRCH when every candidate is gone).
 */
static int open_target(const char *pids, int *ns_fd, int *root_fd) {
  char list[256], path[64];
  unsigned long long want_ino = 0;
  snprintf(list, sizeof(list), "%s", pids);
  char *at = strchr(list, '@');
  if (at) {
    *at = 0;
    want_ino = strtoull(at + 1, NULL, 10);
  }
  char *save = NULL;
  for (char *pid = strtok_r(list, ",", &save); pid; pid = strtok_r(NULL, ",", &save)) {
    snprintf(path, sizeof(path), "/proc/%s/ns/mnt", pid);
    *ns_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*ns_fd < 0) {
      if (errno == ENOENT || errno == ESRCH) continue;
      return -1;
    }
    struct stat st;
    if (want_ino != 0 && (fstat(*ns_fd, &st) < 0 || (unsigned long long)st.st_ino != want_ino)) {
      /* The pid was reused by a process elsewhere: never mount into the wrong namespace. */
      close(*ns_fd);
      continue;
    }
    snprintf(path, sizeof(path), "/proc/%s/root", pid);
    *root_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*root_fd < 0) {
      int err = errno;
      close(*ns_fd);
      if (err == ENOENT || err == ESRCH) continue;
      errno = err;
      return -1;
    }
    /* Both fds now hold the namespace and its root, whatever the process does next. */
    return 0;
  }
  *ns_fd = *root_fd = -1;
  errno = ESRCH;
  return -1;
}

static void attach_one(const char *pid, struct request *r) {
  if (strcmp(r->mode, "umount") == 0) {
    if (umount2(r->target, MNT_DETACH) < 0) report_err(pid, r->target, "umount2", errno);
    else report_ok(pid, r->target, "detached");
    return;
  }
  if (strcmp(r->mode, "replace") == 0) {
    if (move_mount_fd(r->clone_fd, r->target, MOVE_MOUNT_BENEATH) == 0) {
      if (umount2(r->target, MNT_DETACH) < 0) report_err(pid, r->target, "umount2-old", errno);
      else report_ok(pid, r->target, "beneath");
      return;
    }
    /* No MOVE_MOUNT_BENEATH (kernel < 6.5) or not possible here: detach, then attach. */
    if (umount2(r->target, MNT_DETACH) < 0 && errno != EINVAL) {
      report_err(pid, r->target, "umount2", errno);
      return;
    }
  }
  if (move_mount_fd(r->clone_fd, r->target, 0) < 0) report_err(pid, r->target, "move_mount", errno);
  else report_ok(pid, r->target, strcmp(r->mode, "replace") == 0 ? "detach-then-move" : "mounted");
}

static void run_batch(const char *pid, struct request *reqs, int n, int self_ns, int self_root) {
  int i, need_ns = 0;
  for (i = 0; i < n; i++) {
    reqs[i].clone_fd = -1;
    if (strcmp(reqs[i].mode, "bind") == 0) {
      if (mount(reqs[i].source, reqs[i].target, NULL, MS_BIND, NULL) < 0) report_err(pid, reqs[i].target, "mount-bind", errno);
      else report_ok(pid, reqs[i].target, "bind");
      continue;
    }
    need_ns = 1;
  }
  if (!need_ns) return;
  /* Clones are taken in our own namespace, before entering the target's. */
  for (i = 0; i < n; i++) {
    if (strcmp(reqs[i].mode, "replace") != 0 && strcmp(reqs[i].mode, "mount") != 0) continue;
    reqs[i].clone_fd = open_tree_clone(reqs[i].source);
    reqs[i].clone_errno = errno;
    if (reqs[i].clone_fd >= 0) set_attrs(reqs[i].clone_fd, reqs[i].attrs);
  }
  int ns_fd = -1, root_fd = -1;
  int opened = open_target(pid, &ns_fd, &root_fd) == 0;
  int gone = !opened && errno == ESRCH;
  int entered = opened && enter(ns_fd, root_fd) == 0;
  int enter_errno = errno;
  for (i = 0; i < n; i++) {
    struct request *r = &reqs[i];
    if (strcmp(r->mode, "bind") == 0) continue;
    if (gone) report_err(pid, r->target, "gone", ESRCH);
    else if (!entered) report_err(pid, r->target, "setns", enter_errno);
    else if (strcmp(r->mode, "umount") != 0 && r->clone_fd < 0) report_err(pid, r->target, "open_tree", r->clone_errno);
    else attach_one(pid, r);
  }
  if (enter(self_ns, self_root) < 0) {
    /* Without our own namespace back, later clones would come from the wrong place. */
    report_err(pid, "-", "setns-back", errno);
    fflush(stdout);
    exit(4);
  }
  for (i = 0; i < n; i++)
    if (reqs[i].clone_fd >= 0) close(reqs[i].clone_fd);
  if (ns_fd >= 0) close(ns_fd);
  if (root_fd >= 0) close(root_fd);
}

static int cmd_attach(void) {
  int self_ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  int self_root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (self_ns < 0 || self_root < 0) {
    perror("lxcfs-kit-remount: open own namespace");
    return 1;
  }
  struct request reqs[MAX_BATCH];
  char *lines[MAX_BATCH];
  char cur_pid[256] = "";
  int n = 0;
  char *line = NULL;
  size_t cap = 0;
  for (;;) {
    ssize_t len = getline(&line, &cap, stdin);
    int flush = len < 0;
    char *fields[5] = {0};
    if (!flush) {
      if (len > 0 && line[len - 1] == '\n') line[len - 1] = 0;
      if (line[0] == 0) continue;
      char *save = NULL, *tok = strtok_r(line, "\t", &save);
      int k = 0;
      while (tok && k < 5) { fields[k++] = tok; tok = strtok_r(NULL, "\t", &save); }
      if (k < 4 || strlen(fields[0]) >= sizeof(cur_pid)) {
        printf("err\t-\t-\tparse\t%d\t%s\n", EINVAL, "expected pids, source, target, mode");
        continue;
      }
      flush = n > 0 && (strcmp(fields[0], cur_pid) != 0 || n == MAX_BATCH);
    }
    if (flush && n > 0) {
      run_batch(cur_pid, reqs, n, self_ns, self_root);
      for (int i = 0; i < n; i++) free(lines[i]);
      n = 0;
      fflush(stdout);
    }
    if (len < 0) break;
    /* Keep our own copy of the line; fields point into it. */
    char *copy = malloc((size_t)len + 1);
    if (!copy) return 1;
    size_t off[5];
    for (int k = 0; k < 5; k++) off[k] = fields[k] ? (size_t)(fields[k] - line) : 0;
    memcpy(copy, line, (size_t)len + 1);
    snprintf(cur_pid, sizeof(cur_pid), "%s", copy + off[0]);
    reqs[n].source = copy + off[1];
    reqs[n].target = copy + off[2];
    reqs[n].mode = copy + off[3];
    reqs[n].attrs = fields[4] ? copy + off[4] : NULL;
    lines[n++] = copy;
  }
  free(line);
  fflush(stdout);
  return 0;
}

static int cmd_probe(void) {
  int fd = open_tree_clone("/");
  if (fd < 0 && (errno == ENOSYS)) {
    printf("unsupported\topen_tree\t%s\n", strerror(errno));
    return 3;
  }
  if (fd >= 0) close(fd);
  /* move_mount with an invalid fd tells ENOSYS apart from EBADF. */
  if (syscall(SYS_move_mount, -1, "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) < 0 && errno == ENOSYS) {
    printf("unsupported\tmove_mount\t%s\n", strerror(errno));
    return 3;
  }
  printf("ok\n");
  return 0;
}

static int cmd_exec(int argc, char **argv) {
  int i = 2;
  const char *cgroupns = NULL;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--cgroupns") == 0 && i + 1 < argc) cgroupns = argv[++i];
    else if (strcmp(argv[i], "--") == 0) { i++; break; }
    else break;
  }
  if (i >= argc) {
    fprintf(stderr, "lxcfs-kit-remount exec: no program given\n");
    return 2;
  }
  if (cgroupns) {
    int fd = open(cgroupns, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWCGROUP) < 0) {
      fprintf(stderr, "lxcfs-kit-remount exec: cannot join cgroup namespace %s: %s\n", cgroupns, strerror(errno));
      return 1;
    }
    close(fd);
  }
  /* lxcfs must not outlive the agent that supervises it: a new agent heals instead. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  execvp(argv[i], &argv[i]);
  fprintf(stderr, "lxcfs-kit-remount exec: cannot run %s: %s\n", argv[i], strerror(errno));
  return 127;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "probe") == 0) return cmd_probe();
  if (argc >= 2 && strcmp(argv[1], "attach") == 0) return cmd_attach();
  if (argc >= 2 && strcmp(argv[1], "exec") == 0) return cmd_exec(argc, argv);
  fprintf(stderr, "usage: lxcfs-kit-remount probe | attach < requests | exec [--cgroupns FILE] -- PROGRAM ARGS...\n");
  return 2;
}
