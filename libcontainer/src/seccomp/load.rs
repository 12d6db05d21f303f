//! seccomp(2) itself: seccompiler only knows TSYNC and always sets no_new_privs, which a
//! runtime must not do on its own (the spec's `noNewPrivileges` decides).

use std::os::fd::{FromRawFd, OwnedFd};

use oci_spec::runtime::LinuxSeccompFilterFlag as Flag;

use super::{Program, SeccompError};

const FLAG_TSYNC: libc::c_ulong = 1;
const FLAG_LOG: libc::c_ulong = 2;
const FLAG_SPEC_ALLOW: libc::c_ulong = 4;
const FLAG_NEW_LISTENER: libc::c_ulong = 8;
const FLAG_TSYNC_ESRCH: libc::c_ulong = 16;

/// The spec's flags as seccomp(2) flags; the ones runc 1.1 rejects are rejected.
pub(super) fn flags(flags: &[Flag]) -> Result<libc::c_ulong, SeccompError> {
    flags.iter().try_fold(0, |acc, flag| {
        Ok(acc
            | match flag {
                Flag::SeccompFilterFlagTsync => FLAG_TSYNC,
                Flag::SeccompFilterFlagLog => FLAG_LOG,
                Flag::SeccompFilterFlagSpecAllow => FLAG_SPEC_ALLOW,
                other => return Err(SeccompError::UnsupportedFlag(other.to_string())),
            })
    })
}

pub(super) fn install(
    programs: &[Program],
    flags: libc::c_ulong,
) -> Result<Option<OwnedFd>, SeccompError> {
    let mut listener = None;
    for program in programs {
        let mut flags = flags;
        if program.listener {
            flags |= FLAG_NEW_LISTENER;
            // TSYNC reports a failing thread through the return value, which is the
            // listener's; TSYNC_ESRCH makes it an error code instead.
            if flags & FLAG_TSYNC != 0 {
                flags |= FLAG_TSYNC_ESRCH;
            }
        }
        let prog = libc::sock_fprog {
            len: program.insns.len() as libc::c_ushort,
            // seccompiler's sock_filter is #[repr(C)] with the kernel's layout.
            filter: program.insns.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: the kernel copies `prog` and the instructions it points to, both alive
        // for the call.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if ret < 0 {
            return Err(SeccompError::Load(nix::errno::Errno::last().into()));
        }
        if program.listener {
            // SAFETY: with NEW_LISTENER the return value is a new descriptor we own.
            listener = Some(unsafe { OwnedFd::from_raw_fd(ret as i32) });
        }
    }
    Ok(listener)
}
