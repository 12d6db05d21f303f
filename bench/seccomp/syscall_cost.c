/* Times tight loops of single system calls inside a container: ns per call for
 * getppid (allowed by every profile without looking at arguments), personality(query)
 * (filtered on its argument by Docker's profile) and socket(an unknown family).
 * Built static by bench/seccomp/run.sh; prints "name ns_per_call" lines. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static void bench(const char *name, long nr, long a0, long a1, long a2, long n) {
    double best = 1e30;
    for (int round = 0; round < 5; round++) {
        double t0 = now_ns();
        for (long i = 0; i < n; i++)
            syscall(nr, a0, a1, a2);
        double per = (now_ns() - t0) / n;
        if (per < best)
            best = per;
    }
    printf("%s %.1f\n", name, best);
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 200000;
    bench("getppid", SYS_getppid, 0, 0, 0, n);
    bench("personality", SYS_personality, 0xffffffffL, 0, 0, n);
    bench("socket", SYS_socket, 9999, 0, 0, n);
    return 0;
}
