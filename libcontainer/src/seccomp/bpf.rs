//! A tiny classic-BPF assembler with labels, for the parts of the filter seccompiler does
//! not write (architecture dispatch, the ENOSYS stub), and the rewriting of seccompiler's
//! output into sections of one program.

use seccompiler::sock_filter;

pub(crate) const LD_W_ABS: u16 = 0x20;
pub(crate) const JMP_JA: u16 = 0x05;
pub(crate) const JMP_JEQ_K: u16 = 0x15;
pub(crate) const JMP_JGT_K: u16 = 0x25;
pub(crate) const JMP_JGE_K: u16 = 0x35;
pub(crate) const JMP_JSET_K: u16 = 0x45;
pub(crate) const RET_K: u16 = 0x06;

pub(crate) const OFF_NR: u32 = 0;
pub(crate) const OFF_ARCH: u32 = 4;

pub(crate) const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub(crate) const RET_KILL_THREAD: u32 = 0;
pub(crate) const RET_TRAP: u32 = 0x0003_0000;
pub(crate) const RET_ERRNO: u32 = 0x0005_0000;
pub(crate) const RET_USER_NOTIF: u32 = 0x7fc0_0000;
pub(crate) const RET_TRACE: u32 = 0x7ff0_0000;
pub(crate) const RET_LOG: u32 = 0x7ffc_0000;
pub(crate) const RET_ALLOW: u32 = 0x7fff_0000;
pub(crate) const RET_DATA: u32 = 0xffff;

/// One instruction whose jump targets may still be labels.
#[derive(Clone, Debug)]
pub(crate) enum Insn {
    Raw(sock_filter),
    /// Conditional jump: `code` against `k`, to label `t` if true, else `f` (`None` = next).
    Jump {
        code: u16,
        k: u32,
        t: Option<usize>,
        f: Option<usize>,
    },
    Label(usize),
}

pub(crate) fn stmt(code: u16, k: u32) -> Insn {
    Insn::Raw(sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    })
}

pub(crate) fn load(offset: u32) -> Insn {
    stmt(LD_W_ABS, offset)
}

pub(crate) fn ret(k: u32) -> Insn {
    stmt(RET_K, k)
}

/// Resolves labels. Every jump here must be short (≤ 255 instructions), which holds for
/// the small dispatch code it is used for; `None` if one is not.
pub(crate) fn assemble(insns: &[Insn]) -> Option<Vec<sock_filter>> {
    let mut at = std::collections::HashMap::new();
    let mut pc = 0usize;
    for i in insns {
        match i {
            Insn::Label(l) => {
                at.insert(*l, pc);
            }
            _ => pc += 1,
        }
    }
    let mut out = Vec::with_capacity(pc);
    for i in insns {
        match i {
            Insn::Label(_) => {}
            Insn::Raw(f) => out.push(f.clone()),
            Insn::Jump { code, k, t, f } => {
                let here = out.len();
                let off = |label: &Option<usize>| -> Option<u8> {
                    match label {
                        None => Some(0),
                        Some(l) => u8::try_from(at.get(l)?.checked_sub(here + 1)?).ok(),
                    }
                };
                out.push(sock_filter {
                    code: *code,
                    jt: off(t)?,
                    jf: off(f)?,
                    k: *k,
                });
            }
        }
    }
    Some(out)
}
