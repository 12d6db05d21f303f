//! `linux.seccomp` → one classic BPF program, as libseccomp makes one. Per ABI a section:
//! the syscalls an action takes unconditionally as sorted number ranges (our own compact
//! matcher), the ones with argument conditions compiled by seccompiler (one filter has one
//! match action; its bodies are spliced in), most restrictive action first, so the first
//! group that matches decides.
//!
//! ```text
//!   ld arch; x86_64 → native section; i386 → x86 section (if listed); else bad-arch action
//!   native: ld nr; x32 bit → x32 section (if listed) or bad arch; ENOSYS stub (runc's:
//!           nr > largest in profile); group 1 … group n; ret defaultAction
//!   x32, x86: the same without the dispatch
//! ```
//!
//! One program rather than one per ABI (measured in bench/seccomp: every program the kernel
//! runs per call costs more than the instructions in it), and the compact matcher keeps the
//! three sections of Docker's profile under the kernel's 4096 instructions.

use std::collections::{BTreeMap, BTreeSet};

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction as SpecAction, LinuxSeccompArg, LinuxSeccompOperator,
};
use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

use super::bpf::{self, Insn};
use super::table::{Abi, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};
use super::SeccompError;

/// The kernel's limit on one filter (BPF_MAXINSNS).
const MAX_INSNS: usize = 4096;
/// Markers seccompiler writes for "matched" / "not matched", rewritten afterwards.
const MARK_MATCH: u32 = bpf::RET_TRACE | 0xbe01;
const MARK_MISMATCH: u32 = bpf::RET_TRACE | 0xbe02;
/// libseccomp's default bad-architecture action, which runc keeps.
const BAD_ARCH: u32 = bpf::RET_KILL_THREAD;

/// A resolved action; the order of the variants is the kernel's precedence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Action {
    KillProcess,
    KillThread,
    Trap,
    Errno(u32),
    Notify,
    Trace(u32),
    Log,
    Allow,
}

impl Action {
    fn from_spec(action: SpecAction, errno: Option<u32>) -> Action {
        let errno = errno.unwrap_or(libc::EPERM as u32);
        match action {
            SpecAction::ScmpActKill | SpecAction::ScmpActKillThread => Action::KillThread,
            SpecAction::ScmpActKillProcess => Action::KillProcess,
            SpecAction::ScmpActTrap => Action::Trap,
            SpecAction::ScmpActErrno => Action::Errno(errno),
            SpecAction::ScmpActNotify => Action::Notify,
            // runc passes errnoRet (default EPERM) as the tracer's data.
            SpecAction::ScmpActTrace => Action::Trace(errno),
            SpecAction::ScmpActLog => Action::Log,
            SpecAction::ScmpActAllow => Action::Allow,
        }
    }

    /// The filter's return value.
    fn ret(self) -> u32 {
        match self {
            Action::KillProcess => bpf::RET_KILL_PROCESS,
            Action::KillThread => bpf::RET_KILL_THREAD,
            Action::Trap => bpf::RET_TRAP,
            Action::Errno(e) => bpf::RET_ERRNO | (e & bpf::RET_DATA),
            Action::Notify => bpf::RET_USER_NOTIF,
            Action::Trace(d) => bpf::RET_TRACE | (d & bpf::RET_DATA),
            Action::Log => bpf::RET_LOG,
            Action::Allow => bpf::RET_ALLOW,
        }
    }

    /// runc adds no ENOSYS stub when unknown syscalls are let through anyway.
    fn permissive(self) -> bool {
        matches!(self, Action::Allow | Action::Log | Action::Trace(_))
    }
}

/// One BPF program to install with seccomp(2).
#[derive(Debug)]
pub(crate) struct Program {
    pub insns: Vec<sock_filter>,
    /// Installed with SECCOMP_FILTER_FLAG_NEW_LISTENER (it has NOTIFY rules).
    pub listener: bool,
}

/// Rules of one action for one ABI: syscall number → `None` (unconditional) or the rules,
/// any of which matches.
type Group = BTreeMap<u32, Option<Vec<SeccompRule>>>;

/// Compiles `seccomp`; the programs are to be installed in order (the native one last).
pub(crate) fn compile(seccomp: &LinuxSeccomp) -> Result<Vec<Program>, SeccompError> {
    let default = Action::from_spec(seccomp.default_action(), seccomp.default_errno_ret());
    if default == Action::Notify {
        return Err(SeccompError::Invalid(
            "SCMP_ACT_NOTIFY cannot be used as default action".into(),
        ));
    }
    let abis = abis(seccomp.architectures().as_deref().unwrap_or_default());

    let mut groups: BTreeMap<(Abi, Action), Group> = BTreeMap::new();
    let mut largest: BTreeMap<Abi, u32> = BTreeMap::new();
    for entry in seccomp.syscalls().as_deref().unwrap_or_default() {
        let action = Action::from_spec(entry.action(), entry.errno_ret());
        let rules = rules(entry.args().as_deref().unwrap_or_default())?;
        for name in entry.names() {
            if action == Action::Notify && name == "write" {
                return Err(SeccompError::Invalid(
                    "SCMP_ACT_NOTIFY cannot be used for the write syscall".into(),
                ));
            }
            for &abi in &abis {
                // Names this ABI does not have are skipped, as runc does.
                let Some(nr) = abi.number(name) else { continue };
                let top = largest.entry(abi).or_insert(nr);
                *top = (*top).max(nr);
                let slot = groups
                    .entry((abi, action))
                    .or_default()
                    .entry(nr)
                    .or_insert_with(|| Some(Vec::new()));
                match (slot.as_mut(), rules.is_empty()) {
                    (_, true) => *slot = None,
                    (Some(existing), false) => existing.extend(rules.iter().cloned()),
                    (None, false) => {}
                }
            }
        }
    }
    let stub = !default.permissive() && seccomp.default_errno_ret() != Some(libc::ENOSYS as u32);

    let mut sections = Vec::new();
    let mut listener = false;
    for &abi in &abis {
        let mut insns = section_prologue(abi, stub.then(|| largest.get(&abi).copied()).flatten())?;
        for ((_, action), group) in groups.range((abi, Action::KillProcess)..=(abi, Action::Allow))
        {
            listener |= *action == Action::Notify;
            insns.extend(group_code(group, *action)?);
        }
        insns.extend(bpf::assemble(&[bpf::ret(default.ret())]).unwrap_or_default());
        sections.push((abi, insns));
    }
    let insns = link(sections);
    if insns.len() > MAX_INSNS {
        return Err(SeccompError::TooLarge {
            abi: format!("{abis:?}"),
            len: insns.len(),
        });
    }
    Ok(vec![Program { insns, listener }])
}

/// `ja` from `from` to `to` (absolute indices; forward only).
fn ja(from: usize, to: usize) -> sock_filter {
    sock_filter {
        code: bpf::JMP_JA,
        jt: 0,
        jf: 0,
        k: (to - from - 1) as u32,
    }
}

/// Index of the x32 dispatch slot in the native section (see [`section_prologue`]).
const X32_SLOT: usize = 2;

/// Joins the sections behind the architecture dispatch into one program.
fn link(sections: Vec<(Abi, Vec<sock_filter>)>) -> Vec<sock_filter> {
    let has = |abi| sections.iter().any(|(a, _)| *a == abi);
    let jeq = |k| sock_filter {
        code: bpf::JMP_JEQ_K,
        jt: 0,
        jf: 1,
        k,
    };
    let ret = |k| sock_filter {
        code: bpf::RET_K,
        jt: 0,
        jf: 0,
        k,
    };
    let ld = |k| sock_filter {
        code: bpf::LD_W_ABS,
        jt: 0,
        jf: 0,
        k,
    };
    // ld arch; jeq x86_64; ja native; [jeq i386; ja x86;] ret bad-arch
    let header_len = if has(Abi::X86) { 6 } else { 4 };
    let mut start = BTreeMap::new();
    let mut at = header_len;
    for (abi, insns) in &sections {
        start.insert(*abi, at);
        at += insns.len();
    }
    let mut out = vec![ld(bpf::OFF_ARCH), jeq(AUDIT_ARCH_X86_64)];
    out.push(ja(out.len(), start[&Abi::X86_64]));
    if let Some(&x86) = start.get(&Abi::X86) {
        out.push(jeq(AUDIT_ARCH_I386));
        out.push(ja(out.len(), x86));
    }
    out.push(ret(BAD_ARCH));
    for (abi, mut insns) in sections {
        if abi == Abi::X86_64 {
            if let Some(&x32) = start.get(&Abi::X32) {
                insns[X32_SLOT] = ja(out.len() + X32_SLOT, x32);
            }
        }
        out.extend(insns);
    }
    out
}

/// The start of one ABI's section: the syscall number, the x32 split (native section:
/// the slot at [`X32_SLOT`] is the bad-arch action, or a jump to the x32 section once
/// linked) and the ENOSYS stub.
fn section_prologue(abi: Abi, largest: Option<u32>) -> Result<Vec<sock_filter>, SeccompError> {
    const BODY: usize = 1;
    let jump = |code, k, t: Option<usize>, f: Option<usize>| Insn::Jump { code, k, t, f };
    let mut p = vec![bpf::load(bpf::OFF_NR)];
    if abi == Abi::X86_64 {
        // x32 syscalls arrive with the x86_64 arch and the x32 bit set.
        p.extend([
            Insn::Raw(sock_filter {
                code: bpf::JMP_JSET_K,
                jt: 0,
                jf: 1,
                k: X32_SYSCALL_BIT,
            }),
            bpf::ret(BAD_ARCH),
        ]);
    }
    if let Some(largest) = largest {
        p.extend([
            jump(bpf::JMP_JGT_K, largest, None, Some(BODY)),
            bpf::ret(bpf::RET_ERRNO | libc::ENOSYS as u32),
        ]);
    }
    p.push(Insn::Label(BODY));
    bpf::assemble(&p)
        .ok_or_else(|| SeccompError::Invalid("internal: prologue jump too long".into()))
}

/// One action's rules: the conditional ones through seccompiler, then the unconditional
/// ones as number ranges; a syscall that matches neither goes on to the next group.
fn group_code(group: &Group, action: Action) -> Result<Vec<sock_filter>, SeccompError> {
    let conditional: Group = group
        .iter()
        .filter(|(_, rules)| rules.is_some())
        .map(|(nr, rules)| (*nr, rules.clone()))
        .collect();
    let plain: Vec<u32> = group
        .iter()
        .filter(|(_, rules)| rules.is_none())
        .map(|(nr, _)| *nr)
        .collect();
    let mut out = Vec::new();
    if !conditional.is_empty() {
        out.extend(body(&conditional, action)?);
    }
    out.extend(ranges(&plain, action));
    Ok(out)
}

/// Matches the sorted syscall numbers `nrs` as ranges, highest first: per range
/// `jge lo` (below: next range), `jgt hi` (above: not here), `ret action`, `ja end`.
/// Only the number is read, so the kernel can cache the verdict.
fn ranges(nrs: &[u32], action: Action) -> Vec<sock_filter> {
    let mut spans: Vec<(u32, u32)> = Vec::new();
    for &nr in nrs {
        match spans.last_mut() {
            Some((_, hi)) if *hi + 1 == nr => *hi = nr,
            _ => spans.push((nr, nr)),
        }
    }
    if spans.is_empty() {
        return Vec::new();
    }
    let len = 1 + 4 * spans.len();
    let mut out = vec![sock_filter {
        code: bpf::LD_W_ABS,
        jt: 0,
        jf: 0,
        k: bpf::OFF_NR,
    }];
    for &(lo, hi) in spans.iter().rev() {
        let here = out.len();
        out.extend([
            sock_filter {
                code: bpf::JMP_JGE_K,
                jt: 0,
                jf: 3,
                k: lo,
            },
            sock_filter {
                code: bpf::JMP_JGT_K,
                jt: 1,
                jf: 0,
                k: hi,
            },
            sock_filter {
                code: bpf::RET_K,
                jt: 0,
                jf: 0,
                k: action.ret(),
            },
            ja(here + 3, len),
        ]);
    }
    out
}

/// The ABIs to compile for: the native one always (libseccomp adds it), plus the listed
/// ones this host can run; architectures of other machines never reach this kernel.
fn abis(archs: &[Arch]) -> Vec<Abi> {
    let mut set = BTreeSet::from([Abi::X86_64]);
    set.extend(archs.iter().filter_map(abi_of));
    set.into_iter().collect()
}

/// The ABI an architecture of the spec is filtered as on this host; the others are
/// skipped (their syscalls meet the bad-architecture action).
pub(super) fn abi_of(arch: &Arch) -> Option<Abi> {
    match arch {
        Arch::ScmpArchX86_64 => Some(Abi::X86_64),
        Arch::ScmpArchX86 => Some(Abi::X86),
        Arch::ScmpArchX32 => Some(Abi::X32),
        _ => None,
    }
}

/// seccompiler's program for one group, without its arch check, with "not matched"
/// turned into a jump to the end (the next group) and "matched" into `action`.
fn body(group: &Group, action: Action) -> Result<Vec<sock_filter>, SeccompError> {
    let rules: BTreeMap<i64, Vec<SeccompRule>> = group
        .iter()
        .map(|(nr, rules)| (i64::from(*nr), rules.clone().unwrap_or_default()))
        .collect();
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Trace(MARK_MISMATCH & bpf::RET_DATA),
        SeccompAction::Trace(MARK_MATCH & bpf::RET_DATA),
        TargetArch::x86_64,
    )
    .map_err(|e| SeccompError::Invalid(format!("compile: {e}")))?;
    let program: BpfProgram = filter
        .try_into()
        .map_err(|e| SeccompError::Invalid(format!("compile: {e}")))?;
    // seccompiler starts with: ld arch; jeq ARCH,1,0; ret KILL_PROCESS.
    if program.len() < 3 || program[1].k != AUDIT_ARCH_X86_64 {
        return Err(SeccompError::Invalid(
            "internal: unexpected seccompiler program shape".into(),
        ));
    }
    let mut out: Vec<sock_filter> = program[3..].to_vec();
    let len = out.len();
    for (i, insn) in out.iter_mut().enumerate() {
        if insn.code != bpf::RET_K {
            continue;
        }
        if insn.k == MARK_MISMATCH {
            // ja to the first instruction after this body.
            *insn = sock_filter {
                code: bpf::JMP_JA,
                jt: 0,
                jf: 0,
                k: (len - 1 - i) as u32,
            };
        } else if insn.k == MARK_MATCH {
            insn.k = action.ret();
        }
    }
    Ok(out)
}

/// The rules of one syscall entry: all conditions in one rule, unless an argument index
/// repeats — then, as runc does, each condition is a rule of its own (any may match).
fn rules(args: &[LinuxSeccompArg]) -> Result<Vec<SeccompRule>, SeccompError> {
    let conditions = args.iter().map(condition).collect::<Result<Vec<_>, _>>()?;
    if conditions.is_empty() {
        return Ok(Vec::new());
    }
    let mut seen = BTreeSet::new();
    let repeats = args.iter().any(|a| !seen.insert(a.index()));
    let rule = |c: Vec<SeccompCondition>| {
        SeccompRule::new(c).map_err(|e| SeccompError::Invalid(format!("rule: {e}")))
    };
    if repeats {
        conditions.into_iter().map(|c| rule(vec![c])).collect()
    } else {
        Ok(vec![rule(conditions)?])
    }
}

fn condition(arg: &LinuxSeccompArg) -> Result<SeccompCondition, SeccompError> {
    let index = u8::try_from(arg.index())
        .ok()
        .filter(|i| *i < 6)
        .ok_or_else(|| {
            SeccompError::Invalid(format!("argument index {} out of range", arg.index()))
        })?;
    let (op, value) = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => (SeccompCmpOp::Ne, arg.value()),
        LinuxSeccompOperator::ScmpCmpLt => (SeccompCmpOp::Lt, arg.value()),
        LinuxSeccompOperator::ScmpCmpLe => (SeccompCmpOp::Le, arg.value()),
        LinuxSeccompOperator::ScmpCmpEq => (SeccompCmpOp::Eq, arg.value()),
        LinuxSeccompOperator::ScmpCmpGe => (SeccompCmpOp::Ge, arg.value()),
        LinuxSeccompOperator::ScmpCmpGt => (SeccompCmpOp::Gt, arg.value()),
        // libseccomp: `value` is the mask, `valueTwo` the expected result.
        LinuxSeccompOperator::ScmpCmpMaskedEq => (
            SeccompCmpOp::MaskedEq(arg.value()),
            arg.value_two().unwrap_or(0),
        ),
    };
    SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value)
        .map_err(|e| SeccompError::Invalid(format!("condition on argument {index}: {e}")))
}
