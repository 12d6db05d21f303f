//! `spec` and `features`.

use berth_tests::*;

fn spec_in(rt: &Runtime, args: &[&str]) -> Vec<u8> {
    let dir = TempDir::new("spec");
    let mut cmd = rt.command(&[&["spec"], args].concat());
    cmd.current_dir(dir.path());
    rt.run_cmd(cmd).ok();
    std::fs::read(dir.path().join("config.json")).unwrap()
}

compare_test!(spec_default_identical, |rt| -> Vec<u8> {
    let out = spec_in(rt, &[]);
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["process"]["terminal"], true);
    out
});

compare_test!(spec_rootless_identical, |rt| -> Vec<u8> {
    let out = spec_in(rt, &["--rootless"]);
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert!(v["linux"]["uidMappings"].is_array());
    out
});

runtime_test!(spec_bundle_flag, |rt| {
    let dir = TempDir::new("specb");
    rt.run(&["spec", "--bundle", dir.path().to_str().unwrap()])
        .ok();
    let v: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
    // The template is runc 1.1.5's, version included (runc 1.3's says 1.2.1).
    assert_eq!(v["ociVersion"], "1.0.2-dev");
});

runtime_test!(spec_refuses_to_overwrite, |rt| {
    let dir = TempDir::new("specx");
    std::fs::write(dir.path().join("config.json"), "keep").unwrap();
    let out = rt
        .run(&["spec", "--bundle", dir.path().to_str().unwrap()])
        .fails();
    assert_eq!(
        normalize_stderr(&out.stderr, rt.name()),
        "File config.json exists. Remove it first"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("config.json")).unwrap(),
        "keep"
    );
});

runtime_test!(features_json, |rt| {
    let out = rt.run(&["features"]).ok();
    let v: Value = serde_json::from_str(&out.stdout).expect("features is JSON");
    assert_eq!(v["ociVersionMin"], "1.0.0");
    assert!(v["ociVersionMax"].as_str().unwrap().starts_with("1."));
    assert_eq!(
        v["hooks"],
        json!([
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ])
    );
    let mo: Vec<&str> = v["mountOptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    for o in [
        "bind",
        "rbind",
        "ro",
        "nosuid",
        "nodev",
        "noexec",
        "rshared",
        "rslave",
        "rprivate",
        "tmpcopyup",
    ] {
        assert!(mo.contains(&o), "mountOptions lacks {o}");
    }
    let ns: Vec<&str> = v["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    for n in ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"] {
        assert!(ns.contains(&n), "namespaces lacks {n}");
    }
    let caps = v["linux"]["capabilities"].as_array().unwrap();
    assert!(caps.contains(&json!("CAP_SYS_ADMIN")) && caps.len() >= 38);
});

// `--version` in runc's shape: "<rt> version X.Y.Z", "commit: …", "spec: X.Y.Z" (the
// lines tools and runc's own tests read); the versions themselves differ.
compare_test!(version_lines_in_runcs_shape, |rt| -> Vec<String> {
    let out = rt.run(&["--version"]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    let is_version = |v: &str| {
        let core = v.split('+').next().unwrap_or("");
        core.split('.').count() >= 3
            && core
                .split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    };
    vec![
        lines[0]
            .strip_prefix(&format!("{} version ", rt.name()))
            .is_some_and(is_version)
            .to_string(),
        lines[1].starts_with("commit: ").to_string(),
        lines[2]
            .strip_prefix("spec: ")
            .is_some_and(|v| is_version(v.trim_end_matches("-dev")))
            .to_string(),
    ]
});

// `-h`/`--help` in runc's (urfave/cli's) layout, which scripts and runc's own tests read:
// "NAME:", then "<rt> - …" for the runtime and "<rt> <command> - …" for each command.
compare_test!(help_in_runcs_layout, |rt| -> Vec<String> {
    let mut seen = Vec::new();
    for args in [
        vec!["-h"],
        vec!["--help"],
        vec!["list", "--help"],
        vec!["delete", "-h"],
        vec!["exec", "-h"],
        vec!["update", "--help"],
        vec!["checkpoint", "-h"],
        vec!["restore", "--help"],
    ] {
        let out = rt.run(&args).ok();
        let lines: Vec<&str> = out.stdout.lines().collect();
        let named = match args[0] {
            "-h" | "--help" => format!("   {} - Open Container Initiative runtime", rt.name()),
            cmd => format!("   {} {cmd} - ", rt.name()),
        };
        seen.push(format!(
            "{args:?}: {} {} usage={} options={}",
            lines[0],
            lines[1].starts_with(&named),
            lines.contains(&"USAGE:"),
            lines
                .iter()
                .any(|l| *l == "OPTIONS:" || *l == "GLOBAL OPTIONS:"),
        ));
    }
    seen
});

// Each command's own help names it with the text the top-level help lists for it (berth
// builds a command's arguments only when it runs, and a flattened argument group must not
// replace the command's description then).
runtime_test!(command_help_describes_the_command_as_listed, |rt| {
    let top = rt.run(&["--help"]).ok().stdout;
    let listed: Vec<(String, String)> = top
        .lines()
        .skip_while(|l| *l != "COMMANDS:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let (name, about) = l.trim().split_once(char::is_whitespace)?;
            Some((
                name.trim_end_matches(',').to_string(),
                about.trim().to_string(),
            ))
        })
        .filter(|(name, _)| name != "help")
        .collect();
    assert!(listed.len() > 15, "{top}");
    for (name, about) in listed {
        let help = rt.run(&[name.as_str(), "--help"]).ok().stdout;
        let second = help.lines().nth(1).unwrap_or_default().to_string();
        assert_eq!(
            second,
            format!("   {} {name} - {about}", rt.name()),
            "{help}"
        );
    }
});

// Without a command, runc prints its help on stdout and exits 0.
compare_test!(no_command_prints_help, |rt| -> (Option<i32>, Vec<String>) {
    let out = rt.run::<&str>(&[]);
    let head = out
        .stdout
        .lines()
        .take(2)
        .map(|l| l.replace(rt.name(), "RUNTIME"))
        .collect();
    (out.code, head)
});

// `--debug` lines carry runc's step names (runc's debug.bats looks for them), on stderr or
// in the `--log` file, in either format.
compare_test!(debug_lines_name_the_setup_steps, |rt| -> Vec<bool> {
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.write();
    let mut seen = Vec::new();
    for format in ["text", "json"] {
        let log = rt.work().join(format!("debug-{format}.log"));
        let id = rt.id("debug");
        let out = rt.run(&[
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            format,
            "--debug",
            "run",
            "--bundle",
            b.path().to_str().unwrap(),
            &id,
        ]);
        let _ = rt.run(&["delete", "--force", &id]);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let level = if format == "json" {
            "\"level\":\"debug\""
        } else {
            "level=debug"
        };
        seen.extend([
            out.success(),
            !out.stderr.contains("level=debug"),
            text.contains(level),
            text.contains("nsexec container setup"),
            text.contains("child process in init()"),
            text.contains("init: closing the pipe to signal completion"),
        ]);
    }
    // exec: its own step names.
    let mut b = Bundle::new();
    b.args(&["sleep", "30"]);
    let id = rt.start_detached(&b);
    let out = rt.run(&["--debug", "exec", &id, "true"]);
    let _ = rt.run(&["delete", "--force", &id]);
    seen.extend([
        out.success(),
        out.stderr.contains("nsexec container setup"),
        out.stderr.contains("child process in init()"),
        out.stderr.contains("setns_init: about to exec"),
    ]);
    seen
});

// Installed under runc's name (the drop-in way: a `runc` symlink), the runtime names itself
// runc in --version and help, as scripts that parse them expect.
compare_test!(named_as_started, |rt| -> Vec<String> {
    let link = rt.work().join("runc");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&rt.bin, &link).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(&link)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let version = run(&["--version"]);
    let help = run(&["delete", "--help"]);
    assert!(version.starts_with("runc version "), "{version}");
    vec![
        version.starts_with("runc version ").to_string(),
        help.lines()
            .nth(1)
            .unwrap_or("")
            .starts_with("   runc delete - ")
            .to_string(),
    ]
});

// An unknown command: urfave/cli's words and exit code 3.
compare_test!(unknown_command_has_no_help_topic, |rt| -> (
    Option<i32>,
    bool
) {
    let out = rt.run(&["foo", "-h"]);
    let seen = (out.code, out.stderr.contains("No help topic for 'foo'"));
    assert_eq!(seen, (Some(3), true), "{out:?}");
    seen
});
