#!/usr/bin/env python3
"""Reads seccomp filters as dump_filter prints them and reports, per filter: its length,
for how many x86_64 syscall numbers the kernel (>= 5.11) can cache an ALLOW verdict
(the program must reach RET ALLOW having loaded only the syscall number and the
architecture, as the kernel's seccomp_cache emulation decides), and how many instructions
run for the measured calls. Usage: shape.py DUMPFILE"""
import sys

AUDIT_ARCH_X86_64 = 0xC000003E
RET_ALLOW = 0x7FFF0000
NR = {"getppid": 110, "personality": 135, "socket": 41}
ARGS = {"getppid": [], "personality": [0xFFFFFFFF], "socket": [9999, 0, 0]}


class Unknown(Exception):
    pass


def run(prog, nr, args=None):
    """Runs the program; args None means unknown (raises Unknown when they are read)."""
    a = x = 0
    mem = [0] * 16
    pc = steps = 0
    while True:
        code, jt, jf, k = prog[pc]
        steps += 1
        cls = code & 0x07
        if code == 0x20:  # ld [k]
            if k == 0:
                a = nr
            elif k == 4:
                a = AUDIT_ARCH_X86_64
            elif args is not None and 16 <= k < 64:
                i, hi = (k - 16) // 8, (k - 16) % 8 == 4
                v = args[i] if i < len(args) else 0
                a = (v >> 32) & 0xFFFFFFFF if hi else v & 0xFFFFFFFF
            else:
                raise Unknown()
        elif code == 0x00:  # ld #k
            a = k
        elif code == 0x60:  # ld M[k]
            a = mem[k]
        elif code == 0x61:  # ldx M[k]
            x = mem[k]
        elif code == 0x02:  # st M[k]
            mem[k] = a
        elif code == 0x03:  # stx M[k]
            mem[k] = x
        elif code == 0x07:  # tax
            x = a
        elif code == 0x87:  # txa
            a = x
        elif code == 0x54:  # and #k
            a &= k
        elif code == 0x05:  # ja
            pc += k
        elif cls == 0x05:  # conditional jumps on k
            op = code & 0xF0
            val = x if code & 0x08 else k
            cond = {0x10: a == val, 0x20: a > val, 0x30: a >= val, 0x40: a & val != 0}[op]
            pc += jt if cond else jf
        elif code == 0x06:  # ret #k
            return k, steps
        elif code == 0x16:  # ret a
            return a, steps
        else:
            raise SystemExit(f"shape.py: opcode {code:#x} not handled")
        pc += 1


def main():
    filters = [[]]
    for line in open(sys.argv[1]):
        line = line.strip()
        if line == "--":
            filters.append([])
        elif line:
            filters[-1].append(tuple(int(f) for f in line.split()))
    for i, prog in enumerate(f for f in filters if f):
        cached = 0
        for nr in range(0, 463):
            try:
                verdict, _ = run(prog, nr)
                cached += verdict == RET_ALLOW
            except Unknown:
                pass
        first = next(k for code, _, _, k in prog if code == 0x20)
        parts = [f"filter {i}: {len(prog)} instructions", f"first load: offset {first}",
                 f"cacheable ALLOW verdicts: {cached} of 463 x86_64 syscalls"]
        for name, nr in NR.items():
            verdict, steps = run(prog, nr, ARGS[name])
            try:
                run(prog, nr)
                how = "cached"
            except Unknown:
                how = "runs"
            parts.append(f"{name}: {how}, {steps} instructions, ret {verdict:#x}")
        print("; ".join(parts))


main()
