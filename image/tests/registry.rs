//! Pull and push against a local docker-registry (plain HTTP), with and without htpasswd
//! auth, monolithic and chunked uploads, cross-repo mount; and Bearer token auth against
//! a small in-process token + registry server.

mod common;

use common::*;

#[test]
fn push_pull_round_trip() {
    require!("docker-registry");
    let reg = Registry::start(false);
    let a = Tmp::new("reg-a");
    busybox(a.path(), "bb:1", "gzip");
    busybox(a.path(), "bbz:1", "zstd");
    let r1 = format!("{}/lib/bb:v1", reg.addr);
    let r2 = format!("{}/lib/bbz:v1", reg.addr);
    ok(a.path(), &["push", "--insecure", "bb:1", &r1]);
    ok(
        a.path(),
        &["push", "--insecure", "--chunk-size", "65536", "bbz:1", &r2],
    );
    ok(
        a.path(),
        &[
            "push",
            "--insecure",
            "--mount-from",
            "lib/bb",
            "bb:1",
            &format!("{}/other/bb:v1", reg.addr),
        ],
    );
    let b = Tmp::new("reg-b");
    for r in [&r1, &r2] {
        ok(b.path(), &["pull", "--insecure", r]);
    }
    let want = ok(a.path(), &["inspect", "bb:1"]);
    let got = ok(b.path(), &["inspect", &r1]);
    let id = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap()["Digest"].clone();
    assert_eq!(id(&want), id(&got));
    // Errors: unknown repository, https without --insecure, no registry in the name.
    let e = fails(
        b.path(),
        &["pull", "--insecure", &format!("{}/lib/nope:v1", reg.addr)],
    );
    assert!(e.contains("MANIFEST_UNKNOWN") || e.contains("404"), "{e}");
    assert!(fails(b.path(), &["pull", &r1]).contains("--insecure"));
    assert!(fails(b.path(), &["pull", "--insecure", "bb:1"]).contains("registry"));
}

#[test]
fn htpasswd_basic_auth() {
    require!("docker-registry");
    let reg = Registry::start(true);
    let a = Tmp::new("reg-auth");
    busybox(a.path(), "bb:1", "gzip");
    let r = format!("{}/lib/bb:v1", reg.addr);
    let e = fails(a.path(), &["push", "--insecure", "bb:1", &r]);
    assert!(e.contains("--creds"), "{e}");
    let e = fails(
        a.path(),
        &["push", "--insecure", "--creds", "berth:wrong", "bb:1", &r],
    );
    assert!(e.contains("401") || e.contains("UNAUTHORIZED"), "{e}");
    ok(
        a.path(),
        &["push", "--insecure", "--creds", "berth:s3cret", "bb:1", &r],
    );
    let b = Tmp::new("reg-auth-b");
    ok(
        b.path(),
        &["pull", "--insecure", "--creds", "berth:s3cret", &r],
    );
}

/// A fake registry: /token hands out a token to berth:s3cret, /v2/... wants it.
#[test]
fn bearer_token_auth() {
    use std::io::{BufRead, BufReader, Write};
    let a = Tmp::new("token");
    busybox(a.path(), "bb:1", "gzip");
    let insp: serde_json::Value =
        serde_json::from_str(&ok(a.path(), &["inspect", "bb:1"])).unwrap();
    let mdigest = insp["Digest"].as_str().unwrap().to_string();
    let manifest = std::fs::read(a.path().join("blobs/sha256").join(&mdigest[7..])).unwrap();
    let blobs = a.path().join("blobs/sha256");
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let realm = format!("http://{addr}/token");
    let server = std::thread::spawn(move || {
        for s in l.incoming().take(40) {
            let mut s = s.unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut auth = String::new();
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                // Header names are case-insensitive (HTTP/2-style clients send them lower-case).
                if let Some((k, v)) = h.split_once(':') {
                    if k.eq_ignore_ascii_case("authorization") {
                        auth = v.trim().to_string();
                    }
                }
            }
            if path == "/quit" {
                break;
            }
            let (status, ctype, body): (&str, &str, Vec<u8>) = if path.starts_with("/token") {
                assert!(
                    path.contains("scope=repository%3Alib%2Fbb%3Apull"),
                    "{path}"
                );
                assert!(path.contains("service=fake"), "{path}");
                if auth == "Basic YmVydGg6czNjcmV0" {
                    ("200 OK", "application/json", br#"{"token":"T0K"}"#.to_vec())
                } else {
                    ("401 Unauthorized", "application/json", b"{}".to_vec())
                }
            } else if auth != "Bearer T0K" {
                let h = format!(
                    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"{realm}\",service=\"fake\",scope=\"repository:lib/bb:pull\"\r\nContent-Length: 0\r\n\r\n"
                );
                s.write_all(h.as_bytes()).unwrap();
                continue;
            } else if path.contains("/manifests/") {
                (
                    "200 OK",
                    "application/vnd.oci.image.manifest.v1+json",
                    manifest.clone(),
                )
            } else if let Some(d) = path.split("/blobs/sha256:").nth(1) {
                (
                    "200 OK",
                    "application/octet-stream",
                    std::fs::read(blobs.join(d)).unwrap(),
                )
            } else {
                ("404 Not Found", "text/plain", vec![])
            };
            let h = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            s.write_all(h.as_bytes()).unwrap();
            s.write_all(&body).unwrap();
        }
    });
    let b = Tmp::new("token-b");
    let o = bi(
        b.path(),
        &[
            "pull",
            "--insecure",
            "--creds",
            "berth:s3cret",
            &format!("{addr}/lib/bb:v1"),
        ],
    );
    let mut q = std::net::TcpStream::connect(&addr).unwrap();
    q.write_all(b"GET /quit HTTP/1.1\r\n\r\n").unwrap();
    server.join().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains(&mdigest), "{out}");
}

/// Progress on stderr, not a terminal here: a plain line per blob and a summary with the
/// bytes and the rate; `--quiet` silences it and stdout stays the one result line.
#[test]
fn progress_lines_when_stderr_is_not_a_terminal() {
    require!("docker-registry");
    let reg = Registry::start(false);
    let a = Tmp::new("reg-progress-a");
    busybox(a.path(), "bb:1", "gzip");
    let r = format!("{}/lib/progress:v1", reg.addr);
    let out = bi(a.path(), &["push", "--insecure", "bb:1", &r]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    // One layer and the config, then the summary.
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].starts_with("pushed ") && lines[0].ends_with("(1/2)"),
        "{err}"
    );
    assert!(lines[1].ends_with("(2/2)"), "{err}");
    assert!(
        lines[2].starts_with(&format!("pushed {r}: 2 blobs, ")) && lines[2].ends_with("/s)"),
        "{err}"
    );
    // Pushed again: nothing moves, and the lines say so.
    let again = bi(a.path(), &["push", "--insecure", "bb:1", &r]);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains(", already there (1/2)"), "{err}");
    assert!(err.contains(": 2 blobs, 0 B in "), "{err}");

    let b = Tmp::new("reg-progress-b");
    let out = bi(b.path(), &["pull", "--insecure", &r]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.lines().filter(|l| l.starts_with("pulled ")).count(),
        3,
        "{err}"
    );
    assert!(err.contains(&format!("pulled {r}: 2 blobs, ")), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);

    let c = Tmp::new("reg-progress-c");
    let out = bi(c.path(), &["pull", "-q", "--insecure", &r]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
