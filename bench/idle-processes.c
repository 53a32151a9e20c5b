/*
 * idle-processes COUNT: forks COUNT processes that only wait (host processes for the at-rest
 * benchmark: each one is a /proc entry the agent's pass walks), prints "ready", and when stdin
 * closes, ends them all. Children die with this process (PDEATHSIG).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: idle-processes COUNT\n");
    return 2;
  }
  int count = atoi(argv[1]);
  pid_t parent = getpid();
  pid_t *kids = calloc((size_t)count + 1, sizeof(pid_t));
  int made = 0;
  for (int i = 0; i < count; i++) {
    pid_t p = fork();
    if (p < 0) {
      perror("idle-processes: fork");
      break;
    }
    if (p == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(0);
      for (;;) pause();
    }
    kids[made++] = p;
  }
  printf("ready\n");
  fflush(stdout);
  char buf[64];
  while (fread(buf, 1, sizeof(buf), stdin) > 0) {
  }
  for (int i = 0; i < made; i++) kill(kids[i], SIGKILL);
  while (wait(NULL) > 0) {
  }
  return 0;
}
