/*
 * Fuzz and inspection driver for the helper's request parser (test only).
 * Built by helper-parser.test.ts with -fsanitize=address,undefined from the
 * helper's own source, with everything but the parser left out.
 *
 *   helper-fuzz fuzz COUNT SEED   generate COUNT inputs, parse each, check invariants
 *   helper-fuzz dump              parse stdin, print each record (paths in hex)
 */
#define LXCFS_KIT_PARSER_ONLY
#include "lxcfs-kit-remount.c"

#define MAX_RECS 64

static unsigned long long rng_state;
static unsigned rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (unsigned)(rng_state >> 11);
}

static const char *const tokens[] = {
  "", "replace", "mount", "umount", "bind", "check", "Replace", "replace ", "exec", "0", "1", "-1", "+1", "01", "1,", ",1",
  "1,,2", "1,2,3,4,5,6,7,8", "1,2,3,4,5,6,7,8,9", "2147483647", "2147483648", "18446744073709551615", "18446744073709551616",
  "4026531841", "99999999999999999999999", "/", "//", "/.", "/..", "/a/../b", "/a/./b", "/a/", "a/b", "/proc/meminfo",
  "/x\nreplace\t1\t/etc", "/a b\tc\nd\\e", "ro", "ro,ro", "ro,nosuid,nodev,noexec", "rw", "ro,", ",ro", "nosuid,ro", "-",
  "/run/lxcfs-kit/instances/1-a/mnt/proc/meminfo", "\xff\xfe", "/\xff", "0:60", "0:0", "00:1", "1:01", ":", "0:", ":1", "4294967295:4294967295",
  "4294967296:0", "0:4294967296", "0:60:1", "0 :60", "-1:60", "18446744073709551616:1",
};
#define NTOKENS (sizeof(tokens) / sizeof(tokens[0]))

static const char *const seeds[][FIELDS] = {
  {"replace", "1234,99", "4026532000", "812", "0:61", "/run/lxcfs-kit/instances/1-a/mnt/proc/meminfo", "/proc/meminfo", "ro,nosuid"},
  {"umount", "1", "4026531841", "33", "0:60", "", "/var/lib/lxcfs", ""},
  {"check", "77", "4026532001", "900", "259:3", "", "/a b/\n/c", ""},
  {"mount", "1", "4026531841", "25", "", "/run/x/mnt", "/var/lib/lxcfs", ""},
  {"bind", "5", "4026531841", "25", "", "/run/x/mnt", "/var/lib/lxcfs", "ro"},
};
#define NSEEDS (sizeof(seeds) / sizeof(seeds[0]))

static size_t append(char *buf, size_t len, size_t cap, const char *s, size_t n) {
  if (len + n > cap) n = cap - len;
  memcpy(buf + len, s, n);
  return len + n;
}

static size_t generate(char *buf, size_t cap) {
  size_t len = 0;
  unsigned strategy = rnd() % 4;
  if (strategy == 0) {
    /* Raw bytes, biased toward the characters the grammar cares about. */
    static const char bias[] = {0, 0, 0, ',', '/', '1', '0', '9', '.', 'r', 'o'};
    size_t n = rnd() % 400;
    for (size_t i = 0; i < n && len < cap; i++) buf[len++] = (rnd() % 3) ? bias[rnd() % sizeof(bias)] : (char)(rnd() & 0xff);
    return len;
  }
  int records = 1 + (int)(rnd() % 4);
  for (int r = 0; r < records; r++) {
    for (int f = 0; f < FIELDS; f++) {
      const char *s = seeds[rnd() % NSEEDS][f];
      if (strategy == 2 || rnd() % 5 == 0) s = tokens[rnd() % NTOKENS];
      if (strategy == 3 && rnd() % 40 == 0) {
        /* A long field (paths near and over the limit). */
        size_t n = 4000 + rnd() % 200;
        if (len < cap) buf[len++] = '/';
        for (size_t i = 0; i < n && len < cap; i++) buf[len++] = (i % 50 == 49) ? '/' : 'a';
      } else {
        len = append(buf, len, cap, s, strlen(s));
      }
      if (rnd() % 30 != 0) len = append(buf, len, cap, "", 1); /* the NUL terminator, sometimes missing */
    }
  }
  /* Byte-level mutations. */
  int mutations = (int)(rnd() % 4);
  for (int m = 0; m < mutations && len > 0; m++) {
    size_t at = rnd() % len;
    switch (rnd() % 4) {
    case 0: buf[at] = (char)(rnd() & 0xff); break;
    case 1: buf[at] = 0; break;
    case 2: len = at; break;
    case 3: if (len < cap) { memmove(buf + at + 1, buf + at, len - at); buf[at] = (char)(rnd() & 0xff); len++; } break;
    }
  }
  return len;
}

static int check(const struct request *r, const char *buf, size_t len) {
  if (r->refusal) return strlen(r->refusal) > 0;
  if (r->mode > MODE_CHECK || r->npids < 1 || r->npids > MAX_PIDS || r->ns_ino == 0 || r->mnt_id == 0 || r->attrs > 0xf) return 0;
  for (int i = 0; i < r->npids; i++)
    if (r->pids[i] <= 0) return 0;
  int wants_source = r->mode == MODE_REPLACE || r->mode == MODE_MOUNT || r->mode == MODE_BIND;
  if (wants_source != (r->source != NULL)) return 0;
  if (!wants_source && r->attrs) return 0;
  int wants_dev = r->mode == MODE_REPLACE || r->mode == MODE_UMOUNT || r->mode == MODE_CHECK;
  if (wants_dev != r->has_dev || (!wants_dev && (r->dev_major || r->dev_minor))) return 0;
  const char *paths[2] = {r->source, r->target};
  for (int i = 0; i < 2; i++) {
    const char *p = paths[i];
    if (!p) continue;
    if (p < buf || p >= buf + len || p[0] != '/') return 0;
    size_t n = strnlen(p, (size_t)(buf + len - p));
    if (n > MAX_PATH_LEN || strstr(p, "//") || strstr(p, "/./") || strstr(p, "/../")) return 0;
    if (n > 1 && p[n - 1] == '/') return 0;
  }
  return 1;
}

static int cmd_fuzz(unsigned long count, unsigned long long seed) {
  static struct request reqs[MAX_RECS];
  static char scratch[1 << 16];
  unsigned long records = 0, accepted = 0, refused = 0, overflow = 0;
  rng_state = seed ? seed : 88172645463325252ULL;
  for (unsigned long i = 0; i < count; i++) {
    size_t len = generate(scratch, sizeof(scratch));
    /* An exact-size heap copy: the sanitizer sees any read past its end. */
    char *buf = malloc(len ? len : 1);
    if (!buf) return 2;
    memcpy(buf, scratch, len);
    int n = lxcfs_kit_parse_requests(buf, len, reqs, MAX_RECS);
    if (n < 0) overflow++;
    for (int k = 0; k < n; k++) {
      records++;
      if (!check(&reqs[k], buf, len)) {
        fprintf(stderr, "invariant violated at input %lu record %d\n", i, k);
        free(buf);
        return 1;
      }
      if (reqs[k].refusal) refused++;
      else accepted++;
    }
    free(buf);
  }
  printf("inputs=%lu records=%lu accepted=%lu refused=%lu overflow=%lu\n", count, records, accepted, refused, overflow);
  return 0;
}

static void hex(const char *s) {
  if (!s) { printf("-"); return; }
  for (; *s; s++) printf("%02x", (unsigned char)*s);
}

static int cmd_dump(void) {
  static char buf[1 << 20];
  static struct request reqs[MAX_RECS];
  size_t len = fread(buf, 1, sizeof(buf), stdin);
  int n = lxcfs_kit_parse_requests(buf, len, reqs, MAX_RECS);
  static const char *const names[] = {"replace", "mount", "umount", "bind", "check"};
  for (int k = 0; k < n; k++) {
    const struct request *r = &reqs[k];
    if (r->refusal) { printf("refused\t%s\n", r->refusal); continue; }
    printf("ok\t%s\t", names[r->mode]);
    for (int i = 0; i < r->npids; i++) printf(i ? ",%d" : "%d", r->pids[i]);
    printf("\t%llu\t%llu\t", r->ns_ino, r->mnt_id);
    if (r->has_dev) printf("%u:%u\t", r->dev_major, r->dev_minor);
    else printf("-\t");
    hex(r->source);
    printf("\t");
    hex(r->target);
    printf("\t%u\n", r->attrs);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "fuzz") == 0) return cmd_fuzz(strtoul(argv[2], NULL, 10), strtoull(argv[3], NULL, 10));
  if (argc == 2 && strcmp(argv[1], "dump") == 0) return cmd_dump();
  fprintf(stderr, "usage: helper-fuzz fuzz COUNT SEED | dump\n");
  return 2;
}
