//! Docker's ENTRYPOINT/CMD rules. The process is ENTRYPOINT + CMD, where:
//! - a command given at run time replaces the image's CMD;
//! - `--entrypoint X` replaces ENTRYPOINT and drops the image's CMD (a run-time command
//!   still applies); `--entrypoint ""` clears it;
//! - nothing left to run is an error.
//!
//! Shell-form instructions were already stored as `["/bin/sh","-c","..."]` by the build,
//! so no shell is added here. (Very old Docker put `/bin/sh -c` in front of an exec-form
//! CMD when there was no ENTRYPOINT; current Docker does not, and neither do we.)

use crate::error::{Error, Result};

/// `entrypoint_override`: None = keep the image's; Some(vec![]) = `--entrypoint ""`;
/// Some(v) = `--entrypoint v`.
pub fn merge(
    image_entrypoint: Option<&[String]>,
    image_cmd: Option<&[String]>,
    entrypoint_override: Option<&[String]>,
    run_cmd: &[String],
) -> Result<Vec<String>> {
    let entrypoint: Vec<String> = match entrypoint_override {
        Some(e) => e.to_vec(),
        None => image_entrypoint.map(<[String]>::to_vec).unwrap_or_default(),
    };
    let cmd: Vec<String> = if !run_cmd.is_empty() {
        run_cmd.to_vec()
    } else if entrypoint_override.is_some() {
        Vec::new()
    } else {
        image_cmd.map(<[String]>::to_vec).unwrap_or_default()
    };
    let mut args = entrypoint;
    args.extend(cmd);
    if args.is_empty() || args[0].is_empty() {
        return Err(Error::Usage(
            "no command specified: the image has no ENTRYPOINT or CMD and none was given".into(),
        ));
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::merge;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn docker_rules() {
        let ep = v(&["/bin/chamber", "exec", "production", "--"]);
        let cmd = v(&["/bin/service", "-d"]);
        // ENTRYPOINT + CMD
        assert_eq!(
            merge(Some(&ep), Some(&cmd), None, &[]).unwrap(),
            v(&[
                "/bin/chamber",
                "exec",
                "production",
                "--",
                "/bin/service",
                "-d"
            ])
        );
        // no ENTRYPOINT: CMD alone, no shell added
        assert_eq!(merge(None, Some(&cmd), None, &[]).unwrap(), cmd);
        // run-time command replaces CMD, keeps ENTRYPOINT
        assert_eq!(
            merge(Some(&ep), Some(&cmd), None, &v(&["x"])).unwrap(),
            v(&["/bin/chamber", "exec", "production", "--", "x"])
        );
        // --entrypoint replaces ENTRYPOINT and drops the image's CMD
        assert_eq!(
            merge(Some(&ep), Some(&cmd), Some(&v(&["/bin/logwrap"])), &[]).unwrap(),
            v(&["/bin/logwrap"])
        );
        assert_eq!(
            merge(
                Some(&ep),
                Some(&cmd),
                Some(&v(&["/bin/logwrap"])),
                &v(&["/bin/service", "-e"])
            )
            .unwrap(),
            v(&["/bin/logwrap", "/bin/service", "-e"])
        );
        // --entrypoint "" with no command: error; with a command: the command
        assert!(merge(Some(&ep), Some(&cmd), Some(&[]), &[]).is_err());
        assert_eq!(
            merge(Some(&ep), Some(&cmd), Some(&[]), &v(&["ls"])).unwrap(),
            v(&["ls"])
        );
        // shell form arrives as sh -c
        let sh = v(&["/bin/sh", "-c", "echo $HOME"]);
        assert_eq!(merge(None, Some(&sh), None, &[]).unwrap(), sh);
        // nothing at all
        assert!(merge(None, None, None, &[]).is_err());
    }
}
