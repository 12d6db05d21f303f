//! cgroup v2 device filter: the rules compiled into an eBPF program of type
//! BPF_PROG_TYPE_CGROUP_DEVICE, loaded with bpf(BPF_PROG_LOAD) and attached to the
//! container's cgroup with bpf(BPF_PROG_ATTACH). Attached without BPF_F_ALLOW_MULTI, so
//! a later attach (update) replaces the program; rmdir of the cgroup releases it.
//!
//! The program (runc's devicefilter is the model): load type, access, major, minor from
//! the `bpf_cgroup_dev_ctx`, then one block per rule, last rule first (a later rule
//! overrides an earlier one), each falling through to the next on mismatch and
//! returning 1 (allow) or 0 (deny) on match; the end returns the default.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use super::{effective, Rule, ACCESS_ALL};
use crate::cgroups::CgroupError;

/// One eBPF instruction, as `struct bpf_insn`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    code: u8,
    /// dst in the low nibble, src in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

const BPF_LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const BPF_ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const BPF_ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const BPF_ALU32_MOV_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const BPF_ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const BPF_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const BPF_JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const BPF_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

// Registers: R1 ctx (then scratch), R2 type, R3 access, R4 major, R5 minor.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;

// Device types in bpf_cgroup_dev_ctx.access_type's low 16 bits.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

/// Compiles the rules into the filter program.
pub(crate) fn program(rules: &[Rule]) -> Vec<Insn> {
    let (default_allow, rest) = effective(rules);
    let mut p = vec![
        insn(BPF_LDX_MEM_W, R2, R1, 0, 0),
        insn(BPF_ALU32_AND_K, R2, 0, 0, 0xffff),
        insn(BPF_LDX_MEM_W, R3, R1, 0, 0),
        insn(BPF_ALU32_RSH_K, R3, 0, 0, 16),
        insn(BPF_LDX_MEM_W, R4, R1, 4, 0),
        insn(BPF_LDX_MEM_W, R5, R1, 8, 0),
    ];
    for rule in rest.iter().rev() {
        p.extend(block(rule));
    }
    p.push(insn(BPF_ALU32_MOV_K, R0, 0, 0, default_allow as i32));
    p.push(insn(BPF_EXIT, 0, 0, 0, 0));
    p
}

/// One rule's checks; each jump skips to the end of the block (the next rule).
fn block(rule: &Rule) -> Vec<Insn> {
    // Each check as (instructions before its jump, the jump without its offset).
    let mut checks: Vec<Vec<Insn>> = Vec::new();
    match rule.kind {
        'b' => checks.push(vec![insn(BPF_JNE_K, R2, 0, 0, DEV_BLOCK)]),
        'c' => checks.push(vec![insn(BPF_JNE_K, R2, 0, 0, DEV_CHAR)]),
        _ => {}
    }
    if rule.access != ACCESS_ALL {
        // The requested access must be a subset of the rule's.
        checks.push(vec![
            insn(BPF_ALU32_MOV_X, R1, R3, 0, 0),
            insn(BPF_ALU32_AND_K, R1, 0, 0, rule.access as i32),
            insn(BPF_JNE_X, R1, R3, 0, 0),
        ]);
    }
    if let Some(major) = rule.major {
        checks.push(vec![insn(BPF_JNE_K, R4, 0, 0, major as i32)]);
    }
    if let Some(minor) = rule.minor {
        checks.push(vec![insn(BPF_JNE_K, R5, 0, 0, minor as i32)]);
    }
    let total: usize = checks.iter().map(Vec::len).sum::<usize>() + 2;
    let mut out = Vec::with_capacity(total);
    for check in checks {
        out.extend(check);
        // The jump is the last instruction emitted; skip the rest of the block.
        let remaining = total - out.len();
        if let Some(last) = out.last_mut() {
            last.off = remaining as i16;
        }
    }
    out.push(insn(BPF_ALU32_MOV_K, R0, 0, 0, rule.allow as i32));
    out.push(insn(BPF_EXIT, 0, 0, 0, 0));
    out
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
/// Programs of several owners on one cgroup, all of which must allow: systemd attaches its
/// own DeviceAllow= filter to a unit's cgroup this way, and an exclusive attach next to
/// it fails with EPERM.
const BPF_F_ALLOW_MULTI: u32 = 2;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;

/// The BPF_PROG_LOAD part of `union bpf_attr`, padded; the kernel wants the rest zero.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    pad: [u64; 8],
}

#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    pad: [u32; 11],
}

fn bpf_error(path: &Path, op: &'static str, e: std::io::Error) -> CgroupError {
    CgroupError::io(op, path, e)
}

/// Loads the program for `rules` and attaches it to the cgroup at `dir`.
pub(crate) fn attach(dir: &Path, rules: &[Rule]) -> Result<(), CgroupError> {
    let insns = program(rules);
    let license = c"Apache";
    let mut log = vec![0u8; 64 * 1024];
    let mut name = [0u8; 16];
    name[..12].copy_from_slice(b"berth_device");
    let attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    // SAFETY: bpf(2) reads `attr` (valid for its size) and the instruction, license and
    // log buffers it points to, all of which outlive the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const ProgLoadAttr,
            std::mem::size_of::<ProgLoadAttr>(),
        )
    };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        let text = String::from_utf8_lossy(&log);
        let text = text.trim_end_matches('\0').trim();
        if !text.is_empty() {
            log::debug!("bpf verifier: {text}");
        }
        return Err(bpf_error(dir, "bpf load device filter for", e));
    }
    // SAFETY: bpf(BPF_PROG_LOAD) returned a new descriptor that nothing else owns.
    let prog = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let cgroup = std::fs::File::open(dir).map_err(|e| CgroupError::io("open", dir, e))?;
    let attr = ProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    // SAFETY: bpf(2) reads `attr`, valid for its size; both descriptors are open.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attr as *const ProgAttachAttr,
            std::mem::size_of::<ProgAttachAttr>(),
        )
    };
    if ret < 0 {
        return Err(bpf_error(
            dir,
            "bpf attach device filter to",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::devices::parse_access;

    #[test]
    fn deny_all_then_allow_null() {
        let rules = [
            Rule {
                allow: false,
                kind: 'a',
                major: None,
                minor: None,
                access: ACCESS_ALL,
            },
            Rule {
                allow: true,
                kind: 'c',
                major: Some(1),
                minor: Some(3),
                access: parse_access("rw").unwrap(),
            },
        ];
        let p = program(&rules);
        // prologue 6, block: type 1 + access 3 + major 1 + minor 1 + result 2, epilogue 2
        assert_eq!(p.len(), 6 + 8 + 2);
        // The type check jumps over the remaining 7 instructions of its block.
        assert_eq!(p[6], insn(BPF_JNE_K, R2, 0, 7, DEV_CHAR));
        assert_eq!(p[9], insn(BPF_JNE_X, R1, R3, 4, 0));
        assert_eq!(p[12], insn(BPF_ALU32_MOV_K, R0, 0, 0, 1));
        assert_eq!(p[14], insn(BPF_ALU32_MOV_K, R0, 0, 0, 0));
        assert_eq!(p[15], insn(BPF_EXIT, 0, 0, 0, 0));
    }
}
