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
