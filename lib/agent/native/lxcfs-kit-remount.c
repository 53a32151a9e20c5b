/*
 * lxcfs-kit-remount: the mount syscalls of the lxcfs-kit agent.
 *
 * Node.js is multithreaded and setns(CLONE_NEWNS) refuses multithreaded
 * callers, so this single-threaded helper does the namespace work. All policy
 * (what to attach where, retries, metrics) lives in the TypeScript agent. Its
 * input is built from mountinfo, which containers control: every field is
 * validated here before any syscall, and a request that fails validation is
 * refused with a reason and never acted on.
 *
 *   lxcfs-kit-remount probe
 *       exit 0 and print "ok" when open_tree/move_mount exist, else exit 3.
 *   lxcfs-kit-remount attach            (requests on stdin)
 *       A request is exactly 8 fields, each terminated by a NUL byte (paths
 *       can hold any other byte, newlines included, so no other framing is
 *       unambiguous):
 *         mode    replace | mount | umount | bind | check
 *         pids    1 to 8 decimal pids, comma-separated: processes in the target
 *                 mount namespace, tried in order (one that exited, or whose pid
 *                 now names a process in another namespace, is skipped)
 *         ns      decimal inode of the target mount namespace (required)
 *         mntid   decimal mount ID of the mount acted on, as that namespace's
 *                 mountinfo shows it: replace, umount and check act only when
 *                 the path still leads to exactly that mount; mount and bind
 *                 only when the path still lies on exactly that mount
 *         dev     replace, umount and check: major:minor (decimal) of that
 *                 mount's filesystem, as mountinfo shows it, checked with the
 *                 mount ID (the kernel reuses mount IDs: a mount a container
 *                 made after the agent looked could carry the ID, but not the
 *                 device of an lxcfs). Empty for mount and bind, whose target
 *                 lies on a mount of any filesystem (a btrfs subvolume reports
 *                 another device to statx than mountinfo shows).
 *         source  absolute path in the agent's namespace (replace, mount,
 *                 bind); empty for umount and check
 *         target  absolute path in the target namespace
 *         attrs   empty, or a comma list of ro,nosuid,nodev,noexec: exactly
 *                 the flags of these four the new mount carries (the replaced
 *                 mount's); if they cannot be applied the request fails and
 *                 nothing is attached (a read-only file never turns writable)
 *       mode replace: clone <source> and put it in place of the mount at
 *                     <target> (beneath it, then detach the old one; detach
 *                     then move on kernels without MOVE_MOUNT_BENEATH)
 *       mode mount:   clone <source> onto <target>
 *       mode umount:  detach the mount at <target>
 *       mode bind:    classic bind mount; only in the helper's own namespace
 *                     (fallback for kernels without open_tree)
 *       mode check:   statfs <target>: "dead" (ENOTCONN: its FUSE daemon is
 *                     gone) or "alive". May block on a hung FUSE daemon: the
 *                     agent runs it with a deadline and kills the helper.
 *       Adjacent requests with the same pids and ns share one setns.
 *       Answers go to stdout, one per request in input order, each exactly 5
 *       NUL-terminated fields, flushed as they happen:
 *         index (0-based), result (ok | err | gone | refused), how or failed
 *         step, errno, message. The message of an ok replace or mount is the
 *         decimal mount ID of the mount it attached (read from the clone
 *         itself, so never another mount at the path), or empty when it cannot
 *         be read: the agent knows that mount without reading the namespace's
 *         mount table again.
 *   lxcfs-kit-remount exec [--cgroupns FILE] -- PROGRAM ARGS...
 *       join the cgroup namespace FILE (when given), ask the kernel to kill the
 *       program when the agent dies, and exec it (used to start lxcfs).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
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
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
#ifndef STATX_MNT_ID
#define STATX_MNT_ID 0x00001000U
#endif
#ifndef AT_STATX_DONT_SYNC
#define AT_STATX_DONT_SYNC 0x4000
#endif
#ifndef UMOUNT_NOFOLLOW
#define UMOUNT_NOFOLLOW 0x00000008
#endif

#define FIELDS 8
#define MAX_PIDS 8
#define MAX_PATH_LEN 4095
#define MAX_REQUESTS 65536
#define MAX_INPUT_BYTES (64u << 20)

enum mode { MODE_REPLACE, MODE_MOUNT, MODE_UMOUNT, MODE_BIND, MODE_CHECK };

enum attr_bits { ATTR_RO = 0x1, ATTR_NOSUID = 0x2, ATTR_NODEV = 0x4, ATTR_NOEXEC = 0x8 };

struct request {
  enum mode mode;
  int pids[MAX_PIDS];
  int npids;
  unsigned long long ns_ino;
  unsigned long long mnt_id;
  int has_dev;
  unsigned dev_major, dev_minor;
  const char *source, *target;
  unsigned attrs;
  /* Set when validation failed: why (the request is answered "refused"). */
  const char *refusal;
  int clone_fd, clone_errno;
  /* The clone's mount ID (0: unknown); it keeps it once attached. */
  unsigned long long clone_mnt_id;
};

/* ---- validation (pure: no syscalls; fuzzed by test/native/helper-fuzz) ---- */

/* A decimal in [1, max] without sign, spaces or leading zeros. */
static int parse_decimal(const char *s, size_t len, unsigned long long max, unsigned long long *out) {
  unsigned long long v = 0;
  if (len == 0 || len > 20 || s[0] == '0') return -1;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    unsigned d = (unsigned)(s[i] - '0');
    if (v > (max - d) / 10) return -1;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

/* Absolute and canonical, as mountinfo prints paths: no empty, "." or ".." components. */
static int valid_path(const char *p, size_t len) {
  if (len == 0 || len > MAX_PATH_LEN || p[0] != '/') return 0;
  if (len == 1) return 1;
  if (p[len - 1] == '/') return 0;
  size_t start = 1;
  for (size_t i = 1; i <= len; i++) {
    if (i < len && p[i] != '/') continue;
    size_t n = i - start;
    if (n == 0) return 0;
    if (n == 1 && p[start] == '.') return 0;
    if (n == 2 && p[start] == '.' && p[start + 1] == '.') return 0;
    start = i + 1;
  }
  return 1;
}

/* major:minor, each a decimal in [0, 2^32) without sign or leading zeros. */
static int parse_dev(const char *s, size_t len, unsigned *major, unsigned *minor) {
  const char *colon = memchr(s, ':', len);
  if (!colon) return -1;
  const char *parts[2] = {s, colon + 1};
  size_t lens[2] = {(size_t)(colon - s), len - (size_t)(colon - s) - 1};
  unsigned *out[2] = {major, minor};
  for (int i = 0; i < 2; i++) {
    unsigned long long v;
    if (lens[i] == 1 && parts[i][0] == '0') v = 0;
    else if (parse_decimal(parts[i], lens[i], 0xffffffffULL, &v) < 0) return -1;
    *out[i] = (unsigned)v;
  }
  return 0;
}

static int parse_mode(const char *s, enum mode *m) {
  static const struct { const char *name; enum mode mode; } modes[] = {
    {"replace", MODE_REPLACE}, {"mount", MODE_MOUNT}, {"umount", MODE_UMOUNT}, {"bind", MODE_BIND}, {"check", MODE_CHECK},
  };
  for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
    if (strcmp(s, modes[i].name) == 0) {
      *m = modes[i].mode;
      return 0;
    }
  }
  return -1;
}

static int parse_pids(const char *s, size_t len, struct request *r) {
  size_t start = 0;
  r->npids = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && s[i] != ',') continue;
    unsigned long long v;
    if (r->npids == MAX_PIDS || parse_decimal(s + start, i - start, INT_MAX, &v) < 0) return -1;
    r->pids[r->npids++] = (int)v;
    start = i + 1;
  }
  return 0;
}

static int parse_attrs(const char *s, size_t len, unsigned *out) {
  static const struct { const char *name; unsigned bit; } names[] = {
    {"ro", ATTR_RO}, {"nosuid", ATTR_NOSUID}, {"nodev", ATTR_NODEV}, {"noexec", ATTR_NOEXEC},
  };
  size_t start = 0;
  *out = 0;
  if (len == 0) return 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && s[i] != ',') continue;
    size_t n = i - start, k;
    for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
      if (strlen(names[k].name) == n && memcmp(names[k].name, s + start, n) == 0) break;
    }
    if (k == sizeof(names) / sizeof(names[0]) || (*out & names[k].bit)) return -1;
    *out |= names[k].bit;
    start = i + 1;
  }
  return 0;
}

/*
 * Fills `r` from one record's fields (each NUL-terminated, lens without the NUL).
 * Returns 0 when every field is valid; otherwise -1 with r->refusal set.
 */
int lxcfs_kit_parse_request(const char *const f[FIELDS], const size_t lens[FIELDS], struct request *r) {
  unsigned long long v;
  memset(r, 0, sizeof(*r));
  r->clone_fd = -1;
  for (int i = 0; i < FIELDS; i++) {
    if (strlen(f[i]) != lens[i]) return r->refusal = "a field holds a NUL byte", -1;
  }
  if (parse_mode(f[0], &r->mode) < 0) return r->refusal = "mode is not one of replace, mount, umount, bind, check", -1;
  if (parse_pids(f[1], lens[1], r) < 0) return r->refusal = "pids must be 1 to 8 decimal process ids separated by commas", -1;
  if (parse_decimal(f[2], lens[2], ULLONG_MAX, &r->ns_ino) < 0) return r->refusal = "ns must be the decimal inode of a mount namespace", -1;
  if (parse_decimal(f[3], lens[3], ULLONG_MAX, &v) < 0) return r->refusal = "mntid must be a decimal mount ID", -1;
  r->mnt_id = v;
  int wants_source = r->mode == MODE_REPLACE || r->mode == MODE_MOUNT || r->mode == MODE_BIND;
  int wants_dev = r->mode == MODE_REPLACE || r->mode == MODE_UMOUNT || r->mode == MODE_CHECK;
  if (wants_dev && parse_dev(f[4], lens[4], &r->dev_major, &r->dev_minor) < 0) return r->refusal = "dev must be major:minor in decimal for replace, umount and check", -1;
  if (!wants_dev && lens[4] != 0) return r->refusal = "dev must be empty for mount and bind", -1;
  r->has_dev = wants_dev;
  if (wants_source && !valid_path(f[5], lens[5])) return r->refusal = "source must be an absolute canonical path", -1;
  if (!wants_source && lens[5] != 0) return r->refusal = "source must be empty for umount and check", -1;
  r->source = wants_source ? f[5] : NULL;
  if (!valid_path(f[6], lens[6])) return r->refusal = "target must be an absolute canonical path", -1;
  r->target = f[6];
  if (parse_attrs(f[7], lens[7], &r->attrs) < 0) return r->refusal = "attrs must be a comma list of distinct ro, nosuid, nodev, noexec", -1;
  if (!wants_source && r->attrs != 0) return r->refusal = "attrs apply only to a new mount", -1;
  return 0;
}

/*
 * Splits `buf` into records of FIELDS NUL-terminated fields and validates each.
 * Every record becomes one entry of `out` (valid, or refused with a reason); a
 * trailing incomplete record becomes one refused entry. Returns the count, or -1
 * when there are more than `max` records.
 */
int lxcfs_kit_parse_requests(const char *buf, size_t len, struct request *out, int max) {
  int n = 0;
  size_t pos = 0;
  while (pos < len) {
    const char *f[FIELDS];
    size_t lens[FIELDS];
    int k = 0;
    while (k < FIELDS && pos < len) {
      const char *end = memchr(buf + pos, 0, len - pos);
      if (!end) break;
      f[k] = buf + pos;
      lens[k] = (size_t)(end - (buf + pos));
      pos += lens[k] + 1;
      k++;
    }
    if (n == max) return -1;
    if (k < FIELDS) {
      memset(&out[n], 0, sizeof(out[n]));
      out[n].clone_fd = -1;
      out[n].refusal = "truncated request: fewer than 8 NUL-terminated fields";
      n++;
      break;
    }
    lxcfs_kit_parse_request(f, lens, &out[n]);
    n++;
  }
  return n;
}

#ifndef LXCFS_KIT_PARSER_ONLY

/* ---- answers ----------------------------------------------------------- */

static void answer(int index, const char *result, const char *how, int err, const char *message) {
  printf("%d%c%s%c%s%c%d%c%s%c", index, 0, result, 0, how, 0, err, 0, message, 0);
  fflush(stdout);
}

static void answer_errno(int index, const char *step, int err) {
  answer(index, "err", step, err, strerror(err));
}

/* ok, with the ID of the mount attached (empty when it could not be read). */
static void answer_attached(int index, const char *how, const struct request *r) {
  char id_text[24] = "";
  if (r->clone_mnt_id != 0) snprintf(id_text, sizeof(id_text), "%llu", r->clone_mnt_id);
  answer(index, "ok", how, 0, id_text);
}

/* ---- syscalls ---------------------------------------------------------- */

struct lxcfs_kit_mount_attr {
  unsigned long long attr_set, attr_clr, propagation, userns_fd;
};

static int open_tree_clone(const char *path) {
  return (int)syscall(SYS_open_tree, AT_FDCWD, path, OPEN_TREE_CLONE | O_CLOEXEC);
}

static int move_mount_fd(int fd, const char *target, unsigned int extra) {
  return (int)syscall(SYS_move_mount, fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH | extra);
}

/*
 * Gives the clone exactly the requested flags among ro, nosuid, nodev, noexec (the replaced
 * mount's), or fails: a read-only lxcfs file must never come back writable. Without
 * mount_setattr (Linux < 5.12) the clone keeps its source's flags, which is acceptable
 * only when read-only is not asked for.
 */
static int set_attrs(int fd, unsigned attrs) {
  struct lxcfs_kit_mount_attr a = {0, 0, 0, 0};
  unsigned all = ATTR_RO | ATTR_NOSUID | ATTR_NODEV | ATTR_NOEXEC;
  /* MOUNT_ATTR_RDONLY 0x1, NOSUID 0x2, NODEV 0x4, NOEXEC 0x8: the same bits as ours. */
  a.attr_set = attrs & all;
  a.attr_clr = ~attrs & all;
  if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &a, sizeof(a)) == 0) return 0;
  if (errno == ENOSYS && !(attrs & ATTR_RO)) return 0;
  return -1;
}

/*
 * The mount a path leads to, without asking its filesystem anything
 * (AT_STATX_DONT_SYNC: a dead or hung FUSE daemon is never consulted) and
 * without following a final symlink.
 */
static int mount_id_of(const char *path, unsigned long long *id, int *is_root, unsigned dev[2]) {
  struct statx stx;
  if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_DONT_SYNC, STATX_MNT_ID, &stx) < 0) return -1;
  if (!(stx.stx_mask & STATX_MNT_ID)) {
    errno = ENOTSUP;
    return -1;
  }
  *id = stx.stx_mnt_id;
  *is_root = (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) ? !!(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) : -1;
  dev[0] = stx.stx_dev_major;
  dev[1] = stx.stx_dev_minor;
  return 0;
}

/* The helper's own mount namespace (the agent's), set once in cmd_attach. */
static unsigned long long self_ns_ino;

/*
 * Whether move_mount knows MOVE_MOUNT_BENEATH (Linux 6.5): an unknown flag is refused with
 * EINVAL before the fd is looked at, a known one gets as far as the invalid fd (EBADF).
 */
static int beneath_supported;

static int kernel_has_beneath(void) {
  return syscall(SYS_move_mount, -1, "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_BENEATH) < 0 && errno == EBADF;
}

/*
 * 0 when `path` still leads to the mount `want` on the request's device (as its root when
 * `as_root`); else -1 with errno ESTALE. In the agent's own namespace only (admin-chosen paths,
 * never a container's), a kernel that cannot report mount IDs (before 5.8) does not stop the
 * host path's upkeep.
 */
static int still_is(const struct request *r, unsigned long long want, int as_root) {
  const char *path = r->target;
  unsigned long long id;
  int root;
  unsigned dev[2];
  if (mount_id_of(path, &id, &root, dev) < 0) return (errno == ENOTSUP && r->ns_ino == self_ns_ino) ? 0 : -1;
  if (id != want || (r->has_dev && (dev[0] != r->dev_major || dev[1] != r->dev_minor)) || (as_root && root == 0)) {
    errno = ESTALE;
    return -1;
  }
  return 0;
}

/* Enter the root and mount namespace given by the two fds (ours or a target's). */
static int enter(int ns_fd, int root_fd) {
  if (setns(ns_fd, CLONE_NEWNS) < 0) return -1;
  if (fchdir(root_fd) < 0 || chroot(".") < 0 || chdir("/") < 0) return -1;
  return 0;
}

/*
 * Open the mount namespace and root of the first candidate that still exists
 * and is in namespace `want_ino`. Returns 0, or -1 with errno (ESRCH when none is).
 */
static int open_target(const struct request *r, int *ns_fd, int *root_fd) {
  char path[64];
  for (int i = 0; i < r->npids; i++) {
    snprintf(path, sizeof(path), "/proc/%d/ns/mnt", r->pids[i]);
    *ns_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*ns_fd < 0) {
      if (errno == ENOENT || errno == ESRCH) continue;
      return -1;
    }
    struct stat st;
    if (fstat(*ns_fd, &st) < 0 || (unsigned long long)st.st_ino != r->ns_ino) {
      /* Exited and reused by a process elsewhere: never act in another namespace. */
      close(*ns_fd);
      continue;
    }
    snprintf(path, sizeof(path), "/proc/%d/root", r->pids[i]);
    *root_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*root_fd < 0) {
      int err = errno;
      close(*ns_fd);
      if (err == ENOENT || err == ESRCH) continue;
      errno = err;
      return -1;
    }
    /* The fds hold the namespace and its root now, whatever the process does next. */
    return 0;
  }
  *ns_fd = *root_fd = -1;
  errno = ESRCH;
  return -1;
}

static void act(int index, struct request *r) {
  switch (r->mode) {
  case MODE_CHECK: {
    struct statfs sfs;
    if (still_is(r, r->mnt_id, 1) < 0) return answer_errno(index, "mount-changed", errno);
    if (statfs(r->target, &sfs) == 0) return answer(index, "ok", "alive", 0, "");
    if (errno == ENOTCONN || errno == ECONNABORTED) return answer(index, "ok", "dead", errno, strerror(errno));
    return answer_errno(index, "statfs", errno);
  }
  case MODE_UMOUNT:
    if (still_is(r, r->mnt_id, 1) < 0) return answer_errno(index, "mount-changed", errno);
    if (umount2(r->target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0) return answer_errno(index, "umount2", errno);
    return answer(index, "ok", "detached", 0, "");
  case MODE_REPLACE:
    if (still_is(r, r->mnt_id, 1) < 0) return answer_errno(index, "mount-changed", errno);
    if (beneath_supported) {
      /*
       * A failure leaves the old mount as it was, for the agent to try again: never detach it
       * first (seen: a rare transient ENOENT here, which the detach-then-move fallback turned
       * into a file with no lxcfs mount at all).
       */
      /*
       * Seen about once in a few thousand re-attaches, more with many helpers at once: ENOENT.
       * As far as we can tell a lookup elsewhere invalidated a FUSE dentry above the clone's
       * root in the new lxcfs, and nothing can be mounted on an unhashed dentry: retrying with
       * this clone fails the same way (tried, with pauses), while the agent's next attempt, with
       * a fresh clone, succeeds (the scan after the index re-plans what did not succeed).
       */
      if (move_mount_fd(r->clone_fd, r->target, MOVE_MOUNT_BENEATH) < 0) return answer_errno(index, "move_mount-beneath", errno);
      /* The old mount is on top of the new one now: detach exactly it. */
      if (still_is(r, r->mnt_id, 1) < 0) return answer_errno(index, "mount-changed-beneath", errno);
      if (umount2(r->target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0) return answer_errno(index, "umount2-old", errno);
      return answer_attached(index, "beneath", r);
    }
    /* No MOVE_MOUNT_BENEATH (kernel < 6.5): detach, then attach. */
    if (umount2(r->target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0) return answer_errno(index, "umount2", errno);
    if (move_mount_fd(r->clone_fd, r->target, 0) < 0) return answer_errno(index, "move_mount", errno);
    return answer_attached(index, "detach-then-move", r);
  case MODE_MOUNT:
    if (still_is(r, r->mnt_id, 0) < 0) return answer_errno(index, "mount-changed", errno);
    if (move_mount_fd(r->clone_fd, r->target, 0) < 0) return answer_errno(index, "move_mount", errno);
    return answer_attached(index, "mounted", r);
  case MODE_BIND:
    break;
  }
}

static void bind_one(int index, struct request *r, unsigned long long self_ino) {
  if (r->ns_ino != self_ino) return answer(index, "refused", "bind", EINVAL, "bind works only in the helper's own mount namespace");
  if (still_is(r, r->mnt_id, 0) < 0) return answer_errno(index, "mount-changed", errno);
  if (mount(r->source, r->target, NULL, MS_BIND, NULL) < 0) return answer_errno(index, "mount-bind", errno);
  {
    unsigned long flags = MS_REMOUNT | MS_BIND;
    if (r->attrs & ATTR_RO) flags |= MS_RDONLY;
    if (r->attrs & ATTR_NOSUID) flags |= MS_NOSUID;
    if (r->attrs & ATTR_NODEV) flags |= MS_NODEV;
    if (r->attrs & ATTR_NOEXEC) flags |= MS_NOEXEC;
    if (mount(NULL, r->target, NULL, flags, NULL) < 0) {
      int err = errno;
      umount2(r->target, MNT_DETACH | UMOUNT_NOFOLLOW);
      return answer_errno(index, "remount-flags", err);
    }
  }
  answer(index, "ok", "bind", 0, "");
}

static int same_target(const struct request *a, const struct request *b) {
  if (a->ns_ino != b->ns_ino || a->npids != b->npids) return 0;
  return memcmp(a->pids, b->pids, sizeof(int) * (size_t)a->npids) == 0;
}

/* Requests [first, first+n) share pids and namespace: one setns for all of them. */
static void run_batch(struct request *reqs, int first, int n, int self_ns, int self_root) {
  int need_ns = 0;
  for (int i = first; i < first + n; i++) {
    struct request *r = &reqs[i];
    if (r->mode != MODE_REPLACE && r->mode != MODE_MOUNT) {
      need_ns |= r->mode != MODE_BIND;
      continue;
    }
    need_ns = 1;
    /* Clones are taken in our own namespace, before entering the target's. */
    r->clone_fd = open_tree_clone(r->source);
    r->clone_errno = errno;
    if (r->clone_fd >= 0 && set_attrs(r->clone_fd, r->attrs) < 0) {
      r->clone_errno = errno;
      close(r->clone_fd);
      r->clone_fd = -2;
    }
    struct statx stx;
    if (r->clone_fd >= 0 && statx(r->clone_fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID, &stx) == 0 && (stx.stx_mask & STATX_MNT_ID))
      r->clone_mnt_id = stx.stx_mnt_id;
  }
  int ns_fd = -1, root_fd = -1, opened = 0, entered = 0, gone = 0, enter_errno = 0;
  if (need_ns) {
    opened = open_target(&reqs[first], &ns_fd, &root_fd) == 0;
    gone = !opened && errno == ESRCH;
    entered = opened && enter(ns_fd, root_fd) == 0;
    enter_errno = errno;
  }
  for (int i = first; i < first + n; i++) {
    struct request *r = &reqs[i];
    if (r->mode == MODE_BIND) continue;
    if (gone) answer(i, "gone", "gone", ESRCH, "every process given has exited or left the namespace");
    else if (!entered) answer_errno(i, "setns", enter_errno);
    else if (r->clone_fd == -2) answer_errno(i, "mount_setattr", r->clone_errno);
    else if ((r->mode == MODE_REPLACE || r->mode == MODE_MOUNT) && r->clone_fd < 0) answer_errno(i, "open_tree", r->clone_errno);
    else act(i, r);
  }
  if (entered && enter(self_ns, self_root) < 0) {
    /* Without our own namespace back, later clones would come from the wrong place. */
    answer_errno(first, "setns-back", errno);
    exit(4);
  }
  for (int i = first; i < first + n; i++)
    if (reqs[i].clone_fd >= 0) close(reqs[i].clone_fd);
  if (ns_fd >= 0) close(ns_fd);
  if (root_fd >= 0) close(root_fd);
}

static int cmd_attach(void) {
  int self_ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  int self_root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct stat self_st;
  if (self_ns < 0 || self_root < 0 || fstat(self_ns, &self_st) < 0) {
    perror("lxcfs-kit-remount: open own namespace");
    return 1;
  }
  self_ns_ino = (unsigned long long)self_st.st_ino;
  beneath_supported = kernel_has_beneath();
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  if (!buf) return 1;
  for (;;) {
    if (len == cap) {
      if (cap >= MAX_INPUT_BYTES) {
        fprintf(stderr, "lxcfs-kit-remount: more than %u bytes of requests\n", MAX_INPUT_BYTES);
        return 2;
      }
      char *bigger = realloc(buf, cap * 2);
      if (!bigger) return 1;
      buf = bigger;
      cap *= 2;
    }
    ssize_t got = read(0, buf + len, cap - len);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return 1;
    if (got == 0) break;
    len += (size_t)got;
  }
  struct request *reqs = calloc(MAX_REQUESTS, sizeof(*reqs));
  if (!reqs) return 1;
  int n = lxcfs_kit_parse_requests(buf, len, reqs, MAX_REQUESTS);
  if (n < 0) {
    fprintf(stderr, "lxcfs-kit-remount: more than %d requests\n", MAX_REQUESTS);
    return 2;
  }
  for (int i = 0; i < n;) {
    if (reqs[i].refusal) {
      answer(i, "refused", "parse", EINVAL, reqs[i].refusal);
      i++;
      continue;
    }
    if (reqs[i].mode == MODE_BIND) {
      bind_one(i, &reqs[i], (unsigned long long)self_st.st_ino);
      i++;
      continue;
    }
    int j = i + 1;
    while (j < n && !reqs[j].refusal && reqs[j].mode != MODE_BIND && same_target(&reqs[i], &reqs[j])) j++;
    run_batch(reqs, i, j - i, self_ns, self_root);
    i = j;
  }
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
  /* Without mount IDs from statx (Linux 5.8) no container mount can be checked before acting. */
  unsigned long long id;
  int root;
  unsigned dev[2];
  if (mount_id_of("/", &id, &root, dev) < 0) {
    printf("unsupported\tstatx STATX_MNT_ID\t%s\n", strerror(errno));
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

#endif /* LXCFS_KIT_PARSER_ONLY */
