//! Container networks through `berth-image run` (issue 11). Root only. Traffic goes only
//! to loopback and to namespaces and containers made here: every test has its own store,
//! a bridge `bt<pid><letter>`, a subnet 10.<200+pid%50>.<n>.0/24 unused on this host,
//! and a guard that removes containers, networks, rules, veths and namespaces on drop
//! (also when the test fails).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{bi, fails, free_port, ok, Tmp};

/// berth when built next to berth-image, else runc.
fn runtime() -> Option<String> {
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_berth-image"));
    let berth = exe.parent().unwrap().join("berth");
    if berth.is_file() {
        return Some(berth.display().to_string());
    }
    common::have("runc").then(|| "runc".to_string())
}

fn common_tag() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{}", N.fetch_add(1, Ordering::SeqCst))
}

fn base() -> u32 {
    200 + std::process::id() % 50
}

/// One test's world: a store with busybox, one network, cleaned up on drop.
struct Net {
    root: Tmp,
    rt: String,
    name: String,
    bridge: String,
    subnet_prefix: String,
    extra_links: Vec<String>,
    netns: Vec<String>,
    children: Vec<Child>,
}

impl Net {
    /// None (test skipped) when not root or a tool is missing.
    fn new(letter: char, third: u32) -> Option<Net> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return None;
        }
        for t in ["nft", "ip"] {
            if !common::have(t) {
                eprintln!("skipped: {t} not installed (make packages-test)");
                return None;
            }
        }
        let Some(rt) = runtime() else {
            eprintln!("skipped: no berth or runc to run containers with");
            return None;
        };
        let root = Tmp::new("net");
        common::busybox(root.path(), "bb", "none");
        let bridge = format!("bt{}{letter}", std::process::id());
        let subnet_prefix = format!("10.{}.{third}", base());
        let n = Net {
            root,
            rt,
            name: format!("n{letter}"),
            bridge,
            subnet_prefix,
            extra_links: vec![],
            netns: vec![],
            children: vec![],
        };
        ok(
            n.root.path(),
            &[
                "network",
                "create",
                "--subnet",
                &format!("{}.0/24", n.subnet_prefix),
                "--bridge",
                &n.bridge,
                &n.name,
            ],
        );
        Some(n)
    }

    fn bi(&self, args: &[&str]) -> std::process::Output {
        bi(self.root.path(), args)
    }
    fn ok(&self, args: &[&str]) -> String {
        ok(self.root.path(), args)
    }

    /// `run --runtime RT ARGS...`, its output through files: a detached container keeps
    /// our stdout open, so a pipe would never reach EOF.
    fn run(&self, args: &[&str]) -> std::process::Output {
        self.run_env(args, &[])
    }
    fn run_env(&self, args: &[&str], env: &[(&str, String)]) -> std::process::Output {
        let tag = common_tag();
        let (o, e) = (
            self.root.path().join(format!("out-{tag}")),
            self.root.path().join(format!("err-{tag}")),
        );
        let status = Command::new(env!("CARGO_BIN_EXE_berth-image"))
            .arg("--root")
            .arg(self.root.path())
            .args(["run", "--runtime", &self.rt])
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&o).unwrap())
            .stderr(std::fs::File::create(&e).unwrap())
            .status()
            .unwrap();
        std::process::Output {
            status,
            stdout: std::fs::read(&o).unwrap_or_default(),
            stderr: std::fs::read(&e).unwrap_or_default(),
        }
    }
    fn run_ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "run {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// A detached busybox httpd serving `body` at /index.html on port 80.
    fn httpd(&self, name: &str, body: &str, extra: &[&str]) -> String {
        let script = format!("echo {body} > /tmp/index.html; exec httpd -f -p 80 -h /tmp");
        let mut a = vec!["-d", "--name", name, "--network", &self.name];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["bb", "sh", "-c", &script]);
        self.run_ok(&a).trim().to_string()
    }

    fn inspect(&self) -> serde_json::Value {
        let out = self.ok(&["network", "inspect", &self.name]);
        serde_json::from_str::<serde_json::Value>(&out).unwrap()[0].clone()
    }

    fn ip_of(&self, container: &str) -> String {
        let c: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.container_json(container)).unwrap())
                .unwrap();
        c["network"]["ip"].as_str().unwrap().to_string()
    }

    fn container_json(&self, name: &str) -> std::path::PathBuf {
        self.find_json(name)
            .unwrap_or_else(|| panic!("no container {name}"))
    }

    fn find_json(&self, name: &str) -> Option<std::path::PathBuf> {
        for e in std::fs::read_dir(self.root.path().join("containers")).ok()? {
            let p = e.ok()?.path().join("container.json");
            if let Ok(b) = std::fs::read(&p) {
                let v: serde_json::Value = serde_json::from_slice(&b).ok()?;
                if v["name"] == name {
                    return Some(p);
                }
            }
        }
        None
    }

    fn id_of(&self, name: &str) -> String {
        let c: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.container_json(name)).unwrap()).unwrap();
        c["id"].as_str().unwrap().to_string()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Ok(rd) = std::fs::read_dir(self.root.path().join("containers")) {
            let ids: Vec<String> = rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            for id in ids {
                let _ = Command::new(&self.rt)
                    .arg("--root")
                    .arg(self.root.path().join("runtime"))
                    .args(["delete", "--force", &id])
                    .output();
                let _ = self.bi(&["rm", "-f", "--runtime", &self.rt, &id]);
            }
        }
        let _ = self.bi(&["network", "prune"]);
        let _ = self.bi(&["network", "rm", &self.name]);
        let mut links = self.extra_links.clone();
        links.push(self.bridge.clone());
        for l in links {
            let _ = Command::new("ip").args(["link", "del", &l]).output();
        }
        for ns in &self.netns {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

fn links() -> String {
    String::from_utf8_lossy(
        &Command::new("ip")
            .args(["-o", "link"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned()
}

fn nft_tables() -> String {
    String::from_utf8_lossy(
        &Command::new("nft")
            .args(["list", "tables"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned()
}

/// GET http://127.0.0.1:port/index.html, retrying until the server answers.
fn get_local(port: u16) -> String {
    let t = Instant::now();
    loop {
        let r = (|| -> std::io::Result<String> {
            let mut s = TcpStream::connect(("127.0.0.1", port))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            s.write_all(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n")?;
            let mut b = String::new();
            s.read_to_string(&mut b)?;
            Ok(b)
        })();
        match r {
            Ok(b) if b.contains("200") => return b,
            _ if t.elapsed() > Duration::from_secs(10) => panic!("127.0.0.1:{port}: {r:?}"),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

#[test]
fn two_containers_ping_and_fetch_by_name() {
    let Some(n) = Net::new('a', 1) else { return };
    n.httpd("web", "hello-from-web", &[]);
    let out = n.run_ok(&[
        "--rm",
        "--name",
        "client",
        "--network",
        &n.name,
        "bb",
        "sh",
        "-c",
        "cat /etc/hosts; ip -4 route; ping -c1 -W3 web && \
         for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://web/index.html && exit 0; sleep 0.3; done; exit 1",
    ]);
    let web_ip = n.ip_of("web");
    assert!(out.contains(&format!("{web_ip}\t")), "{out}");
    assert!(
        out.contains(&format!("default via {}.1 dev eth0", n.subnet_prefix)),
        "{out}"
    );
    assert!(out.contains("1 packets received"), "{out}");
    assert!(out.contains("hello-from-web"), "{out}");
    // web's hosts file no longer names the removed client.
    let hosts = std::fs::read_to_string(
        n.container_json("web")
            .parent()
            .unwrap()
            .join("bundle/hosts"),
    )
    .unwrap();
    assert!(
        hosts.contains("web") && !hosts.contains("client"),
        "{hosts}"
    );
    // Leases: only web's remains.
    let leases = n.inspect()["leases"].as_object().unwrap().clone();
    assert_eq!(leases.len(), 1, "{leases:?}");
    assert!(leases.contains_key(&web_ip));
}

#[test]
fn published_port_answers_on_loopback_and_rm_removes_rules_and_veths() {
    let Some(n) = Net::new('b', 2) else { return };
    let (p1, p2) = (free_port(), free_port());
    n.httpd(
        "pub",
        "published",
        &[
            "-p",
            &format!("{p1}:80"),
            "-p",
            &format!("127.0.0.1:{p2}:80/tcp"),
        ],
    );
    let id = n.id_of("pub");
    assert!(get_local(p1).contains("published"));
    assert!(get_local(p2).contains("published"));
    let veth = format!("vb{}", &id[..11]);
    assert!(links().contains(&veth));
    let table = format!("_c_{}", &id[..12]);
    assert!(nft_tables().contains(&table));
    assert!(n.root.path().join("netns").join(&id).exists());

    n.ok(&["rm", "-f", "--runtime", &n.rt, "pub"]);
    assert!(!links().contains(&veth), "{}", links());
    assert!(!nft_tables().contains(&table), "{}", nft_tables());
    assert!(!n.root.path().join("netns").join(&id).exists());
    assert!(TcpStream::connect(("127.0.0.1", p1)).is_err());
    assert!(n.inspect()["leases"].as_object().unwrap().is_empty());

    // The network goes with its bridge and masquerade table.
    n.ok(&["network", "rm", &n.name]);
    assert!(!links().contains(&format!("{}:", n.bridge)));
    assert!(!n.ok(&["network", "ls"]).contains(&n.name));
}

#[test]
fn none_mode_has_only_lo_and_host_mode_sees_the_host() {
    let Some(n) = Net::new('c', 3) else { return };
    let out = n.run_ok(&["--rm", "--network", "none", "bb", "ip", "-o", "link"]);
    let names: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split(':').nth(1).map(str::trim))
        .collect();
    assert_eq!(names, ["lo"], "{out}");
    assert!(out.contains("UP"), "lo is up: {out}");
    let out = n.run_ok(&["--rm", "--network", "host", "bb", "ip", "-o", "link"]);
    assert!(out.contains(&n.bridge), "{out}");
    assert!(!n.root.path().join("netns").read_dir().unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .len()
        == 64));
}

#[test]
fn container_mode_shares_the_network_namespace() {
    let Some(n) = Net::new('d', 4) else { return };
    n.httpd("svc", "shared-ns", &[]);
    let out = n.run_ok(&[
        "--rm",
        "--network",
        "container:svc",
        "bb",
        "sh",
        "-c",
        "ip -o -4 addr; for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1/index.html && exit 0; sleep 0.3; done; exit 1",
    ]);
    assert!(out.contains(&n.ip_of("svc")), "{out}");
    assert!(out.contains("shared-ns"), "{out}");
}

#[test]
fn egress_is_masqueraded_to_an_outside_namespace() {
    let Some(mut n) = Net::new('e', 5) else {
        return;
    };
    // "Outside": a namespace of our own behind a veth on the host, with its own subnet
    // and no route back to the container subnet.
    let pid = std::process::id();
    let ns = format!("bto{pid}");
    let (host_if, out_if) = (format!("bto{pid}h"), format!("bto{pid}o"));
    n.netns.push(ns.clone());
    n.extra_links.push(host_if.clone());
    let outside = format!("10.{}.99", base());
    let ip = |args: &[&str]| common::sh(Command::new("ip").args(args));
    ip(&["netns", "add", &ns]);
    ip(&[
        "link", "add", &host_if, "type", "veth", "peer", "name", &out_if,
    ]);
    ip(&["link", "set", &out_if, "netns", &ns]);
    ip(&["addr", "add", &format!("{outside}.1/24"), "dev", &host_if]);
    ip(&["link", "set", &host_if, "up"]);
    ip(&[
        "-n",
        &ns,
        "addr",
        "add",
        &format!("{outside}.2/24"),
        "dev",
        &out_if,
    ]);
    ip(&["-n", &ns, "link", "set", &out_if, "up"]);
    ip(&["-n", &ns, "link", "set", "lo", "up"]);
    // A CGI that answers with the peer address it sees.
    let www = n.root.path().join("www");
    std::fs::create_dir_all(www.join("cgi-bin")).unwrap();
    let cgi = www.join("cgi-bin/peer");
    std::fs::write(
        &cgi,
        "#!/bin/sh\necho Content-Type: text/plain\necho\necho \"peer=$REMOTE_ADDR\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cgi, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bb = if common::have("busybox") {
        "busybox"
    } else {
        return;
    };
    let child = Command::new("ip")
        .args(["netns", "exec", &ns, bb, "httpd", "-f", "-p", "8080", "-h"])
        .arg(&www)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    n.children.push(child);
    let url = format!("http://{outside}.2:8080/cgi-bin/peer");
    let script = format!(
        "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- {url} && exit 0; sleep 0.3; done; exit 1"
    );
    let out = n.run_ok(&["--rm", "--network", &n.name, "bb", "sh", "-c", &script]);
    // The server saw the host's address on its link, not the container's.
    assert!(
        out.contains(&format!("{outside}.1]")) || out.contains(&format!("peer={outside}.1\n")),
        "{out}"
    );
    assert!(!out.contains(&n.subnet_prefix), "{out}");
}

#[test]
fn ipam_survives_a_crash_and_never_reuses_a_live_address() {
    let Some(n) = Net::new('f', 6) else { return };
    n.run_ok(&[
        "-d",
        "--name",
        "a",
        "--network",
        &n.name,
        "bb",
        "sleep",
        "60",
    ]);
    let a = n.ip_of("a");

    // A `run` killed (SIGKILL) while its container runs: its lease stays.
    let mut crashed = Command::new(env!("CARGO_BIN_EXE_berth-image"))
        .arg("--root")
        .arg(n.root.path())
        .args([
            "run",
            "--runtime",
            &n.rt,
            "--name",
            "k",
            "--network",
            &n.name,
        ])
        .args(["bb", "sleep", "60"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while n.find_json("k").is_none() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "k never got an address"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    crashed.kill().unwrap();
    crashed.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));

    // A container whose record vanished (crash between steps): lease, veth, netns left.
    n.run_ok(&[
        "-d",
        "--name",
        "gone",
        "--network",
        &n.name,
        "bb",
        "sleep",
        "60",
    ]);
    let gone_id = n.id_of("gone");
    let gone_ip = n.ip_of("gone");
    let _ = Command::new(&n.rt)
        .arg("--root")
        .arg(n.root.path().join("runtime"))
        .args(["delete", "--force", &gone_id])
        .output();
    std::fs::remove_dir_all(n.root.path().join("containers").join(&gone_id)).unwrap();

    // Concurrent runs: all different, none of the live (or not yet pruned) addresses.
    std::thread::scope(|sc| {
        let hs: Vec<_> = (0..4)
            .map(|i| {
                let n = &n;
                sc.spawn(move || {
                    let name = format!("p{i}");
                    n.run(&[
                        "-d",
                        "--name",
                        &name,
                        "--network",
                        &n.name,
                        "bb",
                        "sleep",
                        "60",
                    ])
                })
            })
            .collect();
        for h in hs {
            let o = h.join().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
    });
    let mut ips: Vec<String> = (0..4).map(|i| n.ip_of(&format!("p{i}"))).collect();
    ips.extend([a.clone(), n.ip_of("k"), gone_ip.clone()]);
    let mut uniq = ips.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(
        uniq.len(),
        ips.len(),
        "an address was handed out twice: {ips:?}"
    );

    // prune frees only the vanished container's lease and its leftovers.
    let out = n.ok(&["network", "prune"]);
    assert!(out.contains(&gone_ip), "{out}");
    let leases = n.inspect()["leases"].as_object().unwrap().clone();
    assert!(!leases.contains_key(&gone_ip));
    assert!(leases.contains_key(&a) && leases.contains_key(&n.ip_of("k")));
    assert_eq!(leases.len(), 6);
    assert!(!links().contains(&format!("vb{}", &gone_id[..11])));
    assert!(!n.root.path().join("netns").join(&gone_id).exists());
    // And a still works: a new container reaches it.
    let out = n.run_ok(&[
        "--rm",
        "--network",
        &n.name,
        "bb",
        "ping",
        "-c1",
        "-W3",
        "a",
    ]);
    assert!(out.contains("1 packets received"), "{out}");
}

#[test]
fn default_bridge_network_comes_and_goes_with_its_containers() {
    let Some(n) = Net::new('g', 7) else { return };
    let bridge = format!("bt{}h", std::process::id());
    let env = [
        ("BERTH_BRIDGE", bridge.clone()),
        ("BERTH_BRIDGE_SUBNET", format!("10.{}.8.0/24", base())),
    ];
    let run = |args: &[&str]| n.run_env(args, &env);
    let o = run(&["--rm", "bb", "ip", "-4", "-o", "addr", "show", "eth0"]);
    let _ = Command::new("ip").args(["link", "del", &bridge]).output();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(&format!("10.{}.8.2/24", base())), "{out}");
    assert!(!links().contains(&format!("{bridge}:")), "{}", links());
}

/// Bridges are host-wide, stores are not: two stores whose default network uses the same
/// bridge, running and removing containers at once, must never delete it under each other.
#[test]
fn stores_sharing_a_default_bridge_do_not_race() {
    let Some(a) = Net::new('s', 10) else { return };
    let Some(b) = Net::new('t', 11) else { return };
    let bridge = format!("bt{}u", std::process::id());
    let env = [
        ("BERTH_BRIDGE", bridge.clone()),
        ("BERTH_BRIDGE_SUBNET", format!("10.{}.12.0/24", base())),
    ];
    let failures: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = [&a, &b]
            .into_iter()
            .map(|n| {
                s.spawn(|| {
                    (0..10)
                        .map(|_| n.run_env(&["--rm", "bb", "echo", "hi"], &env))
                        .filter(|o| String::from_utf8_lossy(&o.stdout).trim() != "hi")
                        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let left = links().contains(&format!("{bridge}:"));
    let _ = Command::new("ip").args(["link", "del", &bridge]).output();
    assert!(failures.is_empty(), "{failures:?}");
    assert!(!left, "bridge {bridge} left behind");
}

#[test]
fn bad_input_is_one_line_errors() {
    let Some(n) = Net::new('i', 9) else { return };
    for (args, want) in [
        (vec!["-p", "80", "bb", "true"], "invalid port mapping"),
        (vec!["-p", "1:2/sctp", "bb", "true"], "tcp or udp"),
        (
            vec!["--network", "nope", "bb", "true"],
            "network \"nope\" not found",
        ),
        (
            vec!["--network", "none", "-p", "1:2", "bb", "true"],
            "need a bridge",
        ),
        (vec!["--network", "container:zz", "bb", "true"], "not found"),
    ] {
        let mut a = vec!["run", "--runtime", &n.rt];
        a.extend(args);
        let e = fails(n.root.path(), &a);
        assert!(
            e.contains(want) && e.trim().lines().count() == 1,
            "{a:?}: {e}"
        );
    }
    let sub = format!("{}.0/24", n.subnet_prefix);
    for (args, want) in [
        (
            vec!["network", "create", "--subnet", &sub, "other"],
            "overlaps",
        ),
        (
            vec!["network", "create", "--subnet", "10.1.0.0/33", "x"],
            "invalid subnet",
        ),
        (
            vec!["network", "create", "--subnet", "10.1.0.0/24", &n.name],
            "already exists",
        ),
        (vec!["network", "rm", "nope"], "not found"),
    ] {
        let e = fails(n.root.path(), &args);
        assert!(
            e.contains(want) && e.trim().lines().count() == 1,
            "{args:?}: {e}"
        );
    }
    // No leftovers from the failed runs.
    assert!(n.inspect()["leases"].as_object().unwrap().is_empty());
    n.run_ok(&[
        "-d",
        "--name",
        "x",
        "--network",
        &n.name,
        "bb",
        "sleep",
        "30",
    ]);
    let e = fails(n.root.path(), &["network", "rm", &n.name]);
    assert!(e.contains("containers attached: x"), "{e}");
}
