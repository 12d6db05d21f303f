//! https registries: a private docker-registry on 127.0.0.1 serving a certificate signed
//! by a CA made here (rcgen); pull and push with `--ca-cert`, and clear one-line errors for
//! an untrusted certificate, a wrong CA, a name mismatch and https to a plain-HTTP server.

mod common;

use common::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// A CA certificate (PEM) and the issuer to sign with.
fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

/// A server certificate for 127.0.0.1 signed by `ca`: (cert PEM, key PEM).
fn server_cert(ca: &CertifiedIssuer<'static, KeyPair>) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    p.distinguished_name
        .push(DnType::CommonName, "berth test registry");
    let cert = p.signed_by(&key, &**ca).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn one_line(e: &str) -> &str {
    let e = e.trim_end();
    eprintln!("expected error: {e}");
    assert!(!e.contains('\n'), "not one line: {e}");
    e
}

#[test]
fn https_push_pull_with_private_ca() {
    require!("docker-registry");
    let good = ca("berth test CA");
    let (cert, key) = server_cert(&good);
    let reg = Registry::start_with(false, Some((&cert, &key)));
    let a = Tmp::new("tls-a");
    let ca_file = a.path().join("ca.pem");
    std::fs::write(&ca_file, good.pem()).unwrap();
    let ca_arg = ca_file.to_str().unwrap();
    busybox(a.path(), "bb:1", "gzip");
    let r = format!("{}/lib/bb:v1", reg.addr);

    // Untrusted: no --ca-cert, then a CA that did not sign the server's certificate.
    let e = fails(a.path(), &["push", "bb:1", &r]);
    assert!(
        one_line(&e).contains("UnknownIssuer") && e.contains("--ca-cert"),
        "{e}"
    );
    let wrong = ca("some other CA");
    let wrong_file = a.path().join("wrong.pem");
    std::fs::write(&wrong_file, wrong.pem()).unwrap();
    let e = fails(
        a.path(),
        &[
            "push",
            "--ca-cert",
            wrong_file.to_str().unwrap(),
            "bb:1",
            &r,
        ],
    );
    assert!(one_line(&e).contains("UnknownIssuer"), "{e}");
    // The certificate names 127.0.0.1, not localhost.
    let port = reg.addr.rsplit(':').next().unwrap();
    let e = fails(
        a.path(),
        &[
            "pull",
            "--ca-cert",
            ca_arg,
            &format!("localhost:{port}/lib/bb:v1"),
        ],
    );
    assert!(
        one_line(&e).contains("not valid for name") && !e.contains("--ca-cert"),
        "{e}"
    );
    // Plain HTTP against an https registry.
    let e = fails(a.path(), &["pull", "--insecure", &r]);
    assert!(one_line(&e).contains("HTTPS server"), "{e}");

    // Trusted: monolithic and chunked push, pull into a second store.
    ok(a.path(), &["push", "--ca-cert", ca_arg, "bb:1", &r]);
    busybox(a.path(), "bbz:1", "zstd");
    let rz = format!("{}/lib/bbz:v1", reg.addr);
    ok(
        a.path(),
        &[
            "push",
            "--ca-cert",
            ca_arg,
            "--chunk-size",
            "65536",
            "bbz:1",
            &rz,
        ],
    );
    let b = Tmp::new("tls-b");
    for x in [&r, &rz] {
        ok(b.path(), &["pull", "--ca-cert", ca_arg, x]);
    }
    let id = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap()["Digest"].clone();
    assert_eq!(
        id(&ok(a.path(), &["inspect", "bb:1"])),
        id(&ok(b.path(), &["inspect", &r]))
    );
    // The system roots come from SSL_CERT_FILE when it is set (rustls-native-certs).
    let c = Tmp::new("tls-c");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_berth-image"))
        .arg("--root")
        .arg(c.path())
        .args(["pull", &r])
        .env("SSL_CERT_FILE", &ca_file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn https_to_plain_http_registry_says_insecure() {
    require!("docker-registry");
    let reg = Registry::start(false);
    let a = Tmp::new("tls-plain");
    let e = fails(a.path(), &["pull", &format!("{}/lib/bb:v1", reg.addr)]);
    assert!(one_line(&e).contains("--insecure"), "{e}");
}

/// A CONNECT proxy on 127.0.0.1 that records the targets it was asked for and tunnels
/// the bytes both ways; stops when `targets` is dropped by the test (after the last use).
struct Proxy {
    addr: String,
    targets: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Proxy {
    fn start() -> Proxy {
        use std::io::{BufRead, BufReader, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let targets = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = targets.clone();
        std::thread::spawn(move || {
            for client in l.incoming() {
                let Ok(mut client) = client else { return };
                let mut r = BufReader::new(client.try_clone().unwrap());
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    continue;
                }
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                }
                let mut parts = line.split_whitespace();
                let (Some("CONNECT"), Some(target)) = (parts.next(), parts.next()) else {
                    let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
                    continue;
                };
                seen.lock().unwrap().push(target.to_string());
                let Ok(upstream) = std::net::TcpStream::connect(target) else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
                    continue;
                };
                client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .unwrap();
                let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                let (mut c1, mut u1) = (client, upstream);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c2, &mut u2);
                    let _ = u2.shutdown(std::net::Shutdown::Write);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut u1, &mut c1);
                    let _ = c1.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Proxy { addr, targets }
    }
}

// Pushes and pulls honour HTTPS_PROXY (through a CONNECT tunnel to the https registry)
// and NO_PROXY (straight to it); what the proxy was asked for proves which way each went.
#[test]
fn https_through_a_proxy_and_no_proxy() {
    require!("docker-registry");
    let good = ca("berth proxy test CA");
    let (cert, key) = server_cert(&good);
    let reg = Registry::start_with(false, Some((&cert, &key)));
    let proxy = Proxy::start();
    let a = Tmp::new("proxy-a");
    let ca_file = a.path().join("ca.pem");
    std::fs::write(&ca_file, good.pem()).unwrap();
    busybox(a.path(), "bb:1", "gzip");
    let r = format!("{}/lib/bb:v1", reg.addr);
    let run = |root: &std::path::Path, args: &[&str], no_proxy: Option<&str>| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_berth-image"));
        c.arg("--root").arg(root).args(args);
        c.env("HTTPS_PROXY", format!("http://{}", proxy.addr));
        for v in [
            "ALL_PROXY",
            "HTTP_PROXY",
            "all_proxy",
            "http_proxy",
            "https_proxy",
            "no_proxy",
        ] {
            c.env_remove(v);
        }
        match no_proxy {
            Some(n) => c.env("NO_PROXY", n),
            None => c.env_remove("NO_PROXY"),
        };
        let o = c.output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let ca_arg = ca_file.to_str().unwrap();
    run(a.path(), &["push", "--ca-cert", ca_arg, "bb:1", &r], None);
    let via_proxy = proxy.targets.lock().unwrap().len();
    assert!(via_proxy >= 1, "the push did not go through the proxy");
    assert!(
        proxy.targets.lock().unwrap().iter().all(|t| *t == reg.addr),
        "{:?}",
        proxy.targets.lock().unwrap()
    );
    let b = Tmp::new("proxy-b");
    run(
        b.path(),
        &["pull", "--ca-cert", ca_arg, &r],
        Some("127.0.0.1"),
    );
    assert_eq!(
        proxy.targets.lock().unwrap().len(),
        via_proxy,
        "NO_PROXY=127.0.0.1 still went through the proxy"
    );
    let c = Tmp::new("proxy-c");
    run(c.path(), &["pull", "--ca-cert", ca_arg, &r], None);
    assert!(
        proxy.targets.lock().unwrap().len() > via_proxy,
        "the pull did not use the proxy"
    );
}
