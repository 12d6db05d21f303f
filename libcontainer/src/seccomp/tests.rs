use oci_spec::runtime::LinuxSeccomp;

use super::bpf::{self, RET_ALLOW, RET_ERRNO};
use super::table::{AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};
use super::Filter;

fn profile(json: &str) -> LinuxSeccomp {
    serde_json::from_str(json).unwrap()
}

/// A minimal classic-BPF interpreter over seccomp_data (nr, arch, args), enough for the
/// instructions our compiler emits.
fn run(prog: &[seccompiler::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let mut data = Vec::new();
    data.extend(nr.to_ne_bytes());
    data.extend(arch.to_ne_bytes());
    data.extend(0u64.to_ne_bytes());
    for a in args {
        data.extend(a.to_ne_bytes());
    }
    let (mut acc, mut pc) = (0u32, 0usize);
    loop {
        let i = &prog[pc];
        pc += 1;
        match i.code {
            bpf::LD_W_ABS => {
                let o = i.k as usize;
                acc = u32::from_ne_bytes(data[o..o + 4].try_into().unwrap());
            }
            bpf::RET_K => return i.k,
            bpf::JMP_JA => pc += i.k as usize,
            0x54 => acc &= i.k, // and k
            0x35 | 0x15 | 0x25 | bpf::JMP_JSET_K => {
                let hit = match i.code {
                    0x15 => acc == i.k,
                    0x25 => acc > i.k,
                    0x35 => acc >= i.k,
                    _ => acc & i.k != 0,
                };
                pc += usize::from(if hit { i.jt } else { i.jf });
            }
            code => panic!("unhandled BPF code {code:#x}"),
        }
    }
}

/// Runs every program as the kernel would: the most restrictive result wins.
fn eval(f: &Filter, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    f.programs()
        .iter()
        .map(|p| run(&p.insns, arch, nr, args))
        .min_by_key(|r| (*r & 0xffff_0000) as i32)
        .unwrap()
}

const NO: [u64; 6] = [0; 6];

#[test]
fn allowlist_with_errno_default_and_enosys_stub() {
    let f = Filter::compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],
            "syscalls":[{"names":["getpid","read","openat","no_such_call"],"action":"SCMP_ACT_ALLOW"},
                        {"names":["mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13},
                        {"names":["getppid"],"action":"SCMP_ACT_KILL_PROCESS"}]}"#,
    ))
    .unwrap();
    assert_eq!(f.programs().len(), 1);
    assert_eq!(eval(&f, AUDIT_ARCH_X86_64, 39, NO), RET_ALLOW); // getpid
    assert_eq!(eval(&f, AUDIT_ARCH_X86_64, 83, NO), RET_ERRNO | 1); // mkdir: EPERM
    assert_eq!(eval(&f, AUDIT_ARCH_X86_64, 258, NO), RET_ERRNO | 13); // mkdirat
    assert_eq!(eval(&f, AUDIT_ARCH_X86_64, 110, NO), bpf::RET_KILL_PROCESS);
    // Above the largest syscall named (mkdirat = 258): ENOSYS, as runc's stub.
    assert_eq!(eval(&f, AUDIT_ARCH_X86_64, 300, NO), RET_ERRNO | 38);
    // i386 getpid (20) and x32 getpid.
    assert_eq!(eval(&f, AUDIT_ARCH_I386, 20, NO), RET_ALLOW);
    assert_eq!(eval(&f, AUDIT_ARCH_I386, 39, NO), RET_ERRNO | 1);
    assert_eq!(
        eval(&f, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 39, NO),
        RET_ALLOW
    );
    assert_eq!(
        eval(&f, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 83, NO),
        RET_ERRNO | 1
    );
    // An architecture not listed: libseccomp's bad-arch action.
    assert_eq!(eval(&f, 0xc00000b7, 39, NO), bpf::RET_KILL_THREAD);
}

#[test]
fn unlisted_x32_and_x86_are_bad_arch() {
    let f = Filter::compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getpid"],"action":"SCMP_ACT_ERRNO"}]}"#,
    ))
    .unwrap();
    assert_eq!(f.programs().len(), 1);
    assert_eq!(eval(&f, AUDIT_ARCH_X86_64, 39, NO), RET_ERRNO | 1);
    assert_eq!(eval(&f, AUDIT_ARCH_X86_64, 300, NO), RET_ALLOW); // no stub: default allows
    assert_eq!(eval(&f, AUDIT_ARCH_I386, 20, NO), bpf::RET_KILL_THREAD);
    assert_eq!(
        eval(&f, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 39, NO),
        bpf::RET_KILL_THREAD
    );
}

#[test]
fn argument_operators() {
    let f = Filter::compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":22,"args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
            {"names":["clone"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]},
            {"names":["kill"],"action":"SCMP_ACT_ERRNO","args":[{"index":1,"value":9,"op":"SCMP_CMP_GE"},{"index":0,"value":100,"op":"SCMP_CMP_LT"}]},
            {"names":["tkill"],"action":"SCMP_ACT_ERRNO","args":[{"index":1,"value":9,"op":"SCMP_CMP_EQ"},{"index":1,"value":15,"op":"SCMP_CMP_EQ"}]},
            {"names":["dup"],"action":"SCMP_ACT_TRAP","args":[{"index":0,"value":4294967296,"op":"SCMP_CMP_GT"}]},
            {"names":["dup2"],"action":"SCMP_ACT_LOG","args":[{"index":0,"value":3,"op":"SCMP_CMP_NE"}]}]}"#,
    ))
    .unwrap();
    let e = |nr, args| eval(&f, AUDIT_ARCH_X86_64, nr, args);
    assert_eq!(e(135, [8, 0, 0, 0, 0, 0]), RET_ERRNO | 22);
    assert_eq!(e(135, [0, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(e(56, [0x11, 0, 0, 0, 0, 0]), RET_ERRNO | 1); // no namespace flags
    assert_eq!(e(56, [0x2000_0000, 0, 0, 0, 0, 0]), RET_ALLOW); // CLONE_NEWUSER... masked
    assert_eq!(e(62, [50, 9, 0, 0, 0, 0]), RET_ERRNO | 1);
    assert_eq!(e(62, [150, 9, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(e(62, [50, 2, 0, 0, 0, 0]), RET_ALLOW);
    // Repeated index: each condition is its own rule (either may match).
    assert_eq!(e(200, [0, 9, 0, 0, 0, 0]), RET_ERRNO | 1);
    assert_eq!(e(200, [0, 15, 0, 0, 0, 0]), RET_ERRNO | 1);
    assert_eq!(e(200, [0, 2, 0, 0, 0, 0]), RET_ALLOW);
    // 64-bit comparison.
    assert_eq!(e(32, [1 << 33, 0, 0, 0, 0, 0]), bpf::RET_TRAP);
    assert_eq!(e(32, [7, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(e(33, [4, 0, 0, 0, 0, 0]), bpf::RET_LOG);
    assert_eq!(e(33, [3, 0, 0, 0, 0, 0]), RET_ALLOW);
}

#[test]
fn most_restrictive_action_wins_and_notify_is_marked() {
    let f = Filter::compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/x","syscalls":[
            {"names":["getpid"],"action":"SCMP_ACT_NOTIFY"},
            {"names":["getpid"],"action":"SCMP_ACT_KILL"},
            {"names":["getppid"],"action":"SCMP_ACT_TRACE"}]}"#,
    ))
    .unwrap();
    assert!(f.programs()[0].listener);
    assert_eq!(eval(&f, AUDIT_ARCH_X86_64, 39, NO), bpf::RET_KILL_THREAD);
    assert_eq!(eval(&f, AUDIT_ARCH_X86_64, 110, NO), bpf::RET_TRACE | 1);
}

#[test]
fn invalid_profiles_are_errors() {
    for (json, text) in [
        (
            r#"{"defaultAction":"SCMP_ACT_NOTIFY","listenerPath":"/x"}"#,
            "cannot be used as default action",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getpid"],"action":"SCMP_ACT_NOTIFY"}]}"#,
            "requires a listenerPath",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/x","syscalls":[{"names":["write"],"action":"SCMP_ACT_NOTIFY"}]}"#,
            "write syscall",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["getpid"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
            "out of range",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}"#,
            "not supported",
        ),
    ] {
        let err = Filter::compile(&profile(json)).unwrap_err().to_string();
        assert!(err.contains(text), "{json}: {err}");
    }
}
