//! seccomp filters from `linux.seccomp`: translation to BPF (`compile`, with seccompiler for
//! the per-syscall rules and our own name→number tables), loading with seccomp(2) (`load`,
//! for the flags seccompiler lacks and without its forced no_new_privs), and handing a
//! user-notification listener to the `listenerPath` agent (`notify`).

mod bpf;
mod compile;
mod load;
pub(crate) mod notify;
mod table;

#[cfg(test)]
mod tests;

use std::os::fd::OwnedFd;

use oci_spec::runtime::LinuxSeccomp;

pub(crate) use compile::Program;

/// Errors of the seccomp module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeccompError {
    #[error("seccomp: {0}")]
    Invalid(String),
    #[error("seccomp: the filter for {abi} has {len} instructions, more than the kernel's 4096")]
    TooLarge { abi: String, len: usize },
    #[error("seccomp: flag {0} is not supported")]
    UnsupportedFlag(String),
    #[error("seccomp: this host architecture has no syscall table")]
    UnsupportedHost,
    #[error("error loading seccomp filter into kernel: {0}")]
    Load(crate::errno::SysError),
    #[error("seccomp notify: {context}: {source}")]
    Notify {
        context: String,
        source: crate::errno::SysError,
    },
}

/// Whether filters on this host cover `arch` (for `berth check`).
pub(crate) fn arch_supported(arch: &oci_spec::runtime::Arch) -> bool {
    compile::abi_of(arch).is_some()
}

/// Whether any ABI this host filters has a syscall called `name`; the filter skips
/// names none has.
pub(crate) fn syscall_known(name: &str) -> bool {
    [table::Abi::X86_64, table::Abi::X86, table::Abi::X32]
        .iter()
        .any(|abi| abi.number(name).is_some())
}

/// A compiled filter, ready to install.
#[derive(Debug)]
pub(crate) struct Filter {
    programs: Vec<Program>,
    flags: libc::c_ulong,
}

impl Filter {
    /// Compiles `spec`; errors are the ones the container should fail with at create.
    pub(crate) fn compile(spec: &LinuxSeccomp) -> Result<Filter, SeccompError> {
        if !cfg!(target_arch = "x86_64") {
            return Err(SeccompError::UnsupportedHost);
        }
        let flags = load::flags(spec.flags().as_deref().unwrap_or_default())?;
        let programs = compile::compile(spec)?;
        if programs.iter().any(|p| p.listener) && spec.listener_path().is_none() {
            return Err(SeccompError::Invalid(
                "SCMP_ACT_NOTIFY requires a listenerPath".into(),
            ));
        }
        Ok(Filter { programs, flags })
    }

    /// Installs the filter in the calling thread; returns the notification listener if
    /// the profile uses SCMP_ACT_NOTIFY. Needs no_new_privs or CAP_SYS_ADMIN.
    pub(crate) fn install(&self) -> Result<Option<OwnedFd>, SeccompError> {
        load::install(&self.programs, self.flags)
    }

    #[cfg(test)]
    pub(crate) fn programs(&self) -> &[Program] {
        &self.programs
    }
}
