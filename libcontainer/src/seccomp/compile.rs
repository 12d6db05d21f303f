//! `linux.seccomp` → classic BPF. seccompiler compiles each action's rules (one filter has
//! one match action); we splice those bodies into one program per ABI, most restrictive
//! action first, so the first group that matches decides — as one libseccomp filter would.
//!
//! Layout of the program for one ABI:
//! ```text
//!   ld arch; wrong arch → ALLOW (another ABI's filter decides) or the bad-arch action
//!   ld nr;   x32 bit split (x86_64 / x32); nr > largest in profile → ENOSYS (runc's stub)
//!   body of group 1 (mismatch jumps to the next body) … body of group n
//!   ret defaultAction
//! ```

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

    // The native program goes last: once it is in place it decides whether the seccomp(2)
    // calls installing the others would be allowed.
    let mut programs = Vec::new();
    for &abi in abis.iter().rev() {
        let mut insns = prologue(
            abi,
            &abis,
            stub.then(|| largest.get(&abi).copied()).flatten(),
        )?;
        let mut listener = false;
        for ((_, action), group) in groups.range((abi, Action::KillProcess)..=(abi, Action::Allow))
        {
            listener |= *action == Action::Notify;
            insns.extend(body(group, *action)?);
        }
        insns.extend(bpf::assemble(&[bpf::ret(default.ret())]).unwrap_or_default());
        if insns.len() > MAX_INSNS {
            return Err(SeccompError::TooLarge {
                abi: format!("{abi:?}"),
                len: insns.len(),
            });
        }
        programs.push(Program {
            insns,
            listener: listener && abi == Abi::X86_64,
        });
    }
    Ok(programs)
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

/// Architecture dispatch and the ENOSYS stub for `abi`.
fn prologue(
    abi: Abi,
    abis: &[Abi],
    largest: Option<u32>,
) -> Result<Vec<sock_filter>, SeccompError> {
    const OK: usize = 1;
    const BODY: usize = 2;
    const PASS: usize = 3;
    const NR_OK: usize = 4;
    let jump = |code, k, t: Option<usize>, f: Option<usize>| Insn::Jump { code, k, t, f };
    let mut p = vec![
        bpf::load(bpf::OFF_ARCH),
        jump(bpf::JMP_JEQ_K, abi.audit_arch(), Some(OK), None),
    ];
    if abi == Abi::X86_64 {
        // The native program judges the architectures nobody compiled for; i386 syscalls
        // are the x86 program's to judge.
        if abis.contains(&Abi::X86) {
            p.push(jump(bpf::JMP_JEQ_K, AUDIT_ARCH_I386, Some(PASS), None));
        }
        p.push(bpf::ret(BAD_ARCH));
    }
    p.extend([Insn::Label(PASS), bpf::ret(bpf::RET_ALLOW)]);
    p.extend([Insn::Label(OK), bpf::load(bpf::OFF_NR)]);
    match abi {
        // x32 syscalls arrive with the x86_64 arch and the x32 bit set.
        Abi::X86_64 => {
            let x32 = if abis.contains(&Abi::X32) {
                bpf::RET_ALLOW
            } else {
                BAD_ARCH
            };
            p.extend([
                jump(bpf::JMP_JSET_K, X32_SYSCALL_BIT, None, Some(NR_OK)),
                bpf::ret(x32),
            ]);
        }
        Abi::X32 => p.extend([
            jump(bpf::JMP_JSET_K, X32_SYSCALL_BIT, Some(NR_OK), None),
            bpf::ret(bpf::RET_ALLOW),
        ]),
        Abi::X86 => {}
    }
    p.push(Insn::Label(NR_OK));
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
