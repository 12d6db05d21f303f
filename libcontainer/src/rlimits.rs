//! `process.rlimits`: one table from OCI names to resources, applied with setrlimit.

use nix::sys::resource::{setrlimit, Resource};
use oci_spec::runtime::{PosixRlimit, PosixRlimitType as T};

use crate::error::{Error, Result};

const TABLE: &[(T, Resource)] = &[
    (T::RlimitAs, Resource::RLIMIT_AS),
    (T::RlimitCore, Resource::RLIMIT_CORE),
    (T::RlimitCpu, Resource::RLIMIT_CPU),
    (T::RlimitData, Resource::RLIMIT_DATA),
    (T::RlimitFsize, Resource::RLIMIT_FSIZE),
    (T::RlimitLocks, Resource::RLIMIT_LOCKS),
    (T::RlimitMemlock, Resource::RLIMIT_MEMLOCK),
    (T::RlimitMsgqueue, Resource::RLIMIT_MSGQUEUE),
    (T::RlimitNice, Resource::RLIMIT_NICE),
    (T::RlimitNofile, Resource::RLIMIT_NOFILE),
    (T::RlimitNproc, Resource::RLIMIT_NPROC),
    (T::RlimitRss, Resource::RLIMIT_RSS),
    (T::RlimitRtprio, Resource::RLIMIT_RTPRIO),
    (T::RlimitRttime, Resource::RLIMIT_RTTIME),
    (T::RlimitSigpending, Resource::RLIMIT_SIGPENDING),
    (T::RlimitStack, Resource::RLIMIT_STACK),
];

pub(crate) fn apply(limits: &[PosixRlimit]) -> Result<()> {
    for limit in limits {
        let Some((_, resource)) = TABLE.iter().find(|(t, _)| *t == limit.typ()) else {
            return Err(Error::Config(format!(
                "unsupported rlimit {:?}",
                limit.typ()
            )));
        };
        setrlimit(*resource, limit.soft(), limit.hard())
            .map_err(|e| Error::sys(format!("error setting rlimit type {:?}", limit.typ()), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_oci_rlimit_has_a_resource() {
        assert_eq!(super::TABLE.len(), 16);
    }
}
