//! Hooks: each path must be absolute and name an executable file where the hook runs
//! (on the host, or in the rootfs for startContainer).

use std::os::unix::fs::PermissionsExt;

use oci_spec::runtime::Hook;

use super::rootpath::{is_executable, stat_in};
use super::{Bundle, Report};

pub(super) fn check(b: &Bundle, r: &mut Report) {
    let Some(hooks) = b.spec.hooks() else { return };
    let kinds: [(&str, &Option<Vec<Hook>>); 6] = [
        ("prestart", hooks.prestart()),
        ("createRuntime", hooks.create_runtime()),
        ("createContainer", hooks.create_container()),
        ("startContainer", hooks.start_container()),
        ("poststart", hooks.poststart()),
        ("poststop", hooks.poststop()),
    ];
    for (kind, list) in kinds {
        for (i, hook) in list.iter().flatten().enumerate() {
            let field = format!("hooks.{kind}[{i}].path");
            let path = hook.path();
            if !path.is_absolute() {
                r.error(
                    field,
                    format!("{} is not an absolute path", path.display()),
                    "an absolute path to an executable",
                );
                continue;
            }
            let problem = if kind == "startContainer" {
                // Runs in the container, after pivot_root.
                match b.rootfs.map(|root| stat_in(root, path)) {
                    Some(Ok(st)) if is_executable(&st) => None,
                    Some(Ok(_)) => Some("is not an executable file in the rootfs".to_string()),
                    Some(Err(e)) => Some(format!(
                        "in the rootfs: {}",
                        crate::errno::SysError::from(e)
                    )),
                    None => None,
                }
            } else {
                match std::fs::metadata(path) {
                    Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => runnable(path),
                    Ok(_) => Some("is not an executable file".to_string()),
                    Err(e) => Some(crate::errno::SysError::from(e).to_string()),
                }
            };
            let Some(problem) = problem else { continue };
            let problem = format!("{}: {problem}", path.display());
            let hint = if kind == "startContainer" {
                "an executable inside the rootfs (startContainer runs in the container)"
            } else {
                "an executable file on the host (chmod +x, or fix the path)"
            };
            // A failing poststop hook is only logged.
            if kind == "poststop" {
                r.warn(field, problem, hint);
            } else {
                r.error(field, problem, hint);
            }
        }
    }
}

/// Whether execve can run the file: an ELF binary or a `#!` script, unless binfmt_misc
/// has handlers that might take it.
fn runnable(path: &std::path::Path) -> Option<String> {
    use std::io::Read;
    let mut head = [0u8; 4];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(4);
    if head[..n].starts_with(b"\x7fELF") || head[..n].starts_with(b"#!") || binfmt_misc() {
        return None;
    }
    Some("is neither an ELF binary nor a #! script (execve: exec format error)".into())
}

/// binfmt_misc handlers registered (entries besides `register` and `status`).
fn binfmt_misc() -> bool {
    std::fs::read_dir("/proc/sys/fs/binfmt_misc")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| !matches!(e.file_name().to_str(), Some("register" | "status")))
}
