/* Prints the classic BPF seccomp filter(s) of a running process, one instruction per
 * line as "code jt jf k" (decimal), filters separated by "--", with
 * PTRACE_SECCOMP_GET_FILTER (needs CAP_SYS_ADMIN; the process is seized, not stopped
 * for longer than the reads). Usage: dump_filter PID */
#include <errno.h>
#include <linux/filter.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: dump_filter PID\n");
        return 2;
    }
    pid_t pid = atoi(argv[1]);
    if (ptrace(PTRACE_ATTACH, pid, 0, 0) < 0) {
        perror("ptrace attach");
        return 1;
    }
    waitpid(pid, NULL, __WALL);
    for (long i = 0;; i++) {
        long count = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, (void *)i, NULL);
        if (count < 0)
            break;
        struct sock_filter *prog = calloc(count, sizeof *prog);
        if (ptrace(PTRACE_SECCOMP_GET_FILTER, pid, (void *)i, prog) != count) {
            perror("PTRACE_SECCOMP_GET_FILTER");
            return 1;
        }
        if (i > 0)
            printf("--\n");
        for (long j = 0; j < count; j++)
            printf("%u %u %u %u\n", prog[j].code, prog[j].jt, prog[j].jf, prog[j].k);
        free(prog);
    }
    ptrace(PTRACE_DETACH, pid, 0, 0);
    return 0;
}
