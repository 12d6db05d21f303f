//! The client's transport: a ureq agent with rustls on the ring provider (no aws-lc, no
//! OpenSSL), the system's trust roots (`/etc/ssl/certs`, or `SSL_CERT_FILE`/`SSL_CERT_DIR`,
//! read by rustls-native-certs) plus any private CA given with `--ca-cert`. Built once, on
//! the first request, and shared by every request of one client.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::error::{Error, Result};

/// What a client needs to open connections: one ureq agent (its connection pool, the
/// TLS roots, the proxy from the environment), built on the first request.
#[derive(Debug, Default, Clone)]
pub struct Transport {
    ca_cert: Option<PathBuf>,
    /// The agent, and whether it has any trusted root (https needs one).
    agent: OnceCell<(ureq::Agent, bool)>,
}

impl Transport {
    pub fn new(ca_cert: Option<PathBuf>) -> Transport {
        Transport {
            ca_cert,
            agent: OnceCell::new(),
        }
    }

    /// The agent for a request (`https`: one that can verify a server).
    pub fn agent(&self, https: bool) -> Result<ureq::Agent> {
        let (agent, has_roots) = match self.agent.get() {
            Some(a) => a,
            None => {
                let built = build(self.ca_cert.as_deref())?;
                self.agent.get_or_init(|| built)
            }
        };
        if https && !has_roots {
            return Err(Error::Invalid {
                what: "TLS".into(),
                reason: "no trusted certificates: none in /etc/ssl/certs (install ca-certificates) and no --ca-cert".into(),
            });
        }
        Ok(agent.clone())
    }
}

fn build(ca_cert: Option<&Path>) -> Result<(ureq::Agent, bool)> {
    let roots = roots(ca_cert)?;
    let certs: Vec<ureq::tls::Certificate<'static>> = roots
        .iter()
        .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .build();
    let config = ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(format!("berth-image/{}", env!("CARGO_PKG_VERSION")))
        .proxy(ureq::Proxy::try_from_env())
        .timeout_recv_body(Some(Duration::from_secs(120)))
        .build();
    Ok((config.into(), !roots.is_empty()))
}

/// The system's roots (unreadable ones skipped: a private CA may be all there is) and
/// the private CA's certificates.
fn roots(ca_cert: Option<&Path>) -> Result<Vec<CertificateDer<'static>>> {
    let mut roots = rustls_native_certs::load_native_certs().certs;
    if let Some(path) = ca_cert {
        let bad = |reason: String| Error::Invalid {
            what: format!("--ca-cert {}", path.display()),
            reason,
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(e.to_string()))?
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| bad(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad("no PEM certificate in the file".into()));
        }
        roots.extend(certs);
    }
    Ok(roots)
}

/// One line for an I/O error, with a hint when it is a TLS failure.
pub fn describe(e: &std::io::Error) -> String {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(t) => describe_tls(t),
        None => e.to_string(),
    }
}

/// One line for a TLS failure, with a hint for the two users meet.
pub fn describe_tls(t: &rustls::Error) -> String {
    match t {
        rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer | rustls::CertificateError::BadSignature,
        ) => format!("TLS: {t} (pass --ca-cert FILE for a private CA)"),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            format!("TLS: {t} (a plain-HTTP registry? pass --insecure)")
        }
        _ => format!("TLS: {t}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_ca_file() {
        let dir = std::env::temp_dir().join(format!("berth-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("ca.pem");
        std::fs::write(&f, "not a certificate\n").unwrap();
        let e = Transport::new(Some(f)).agent(true).unwrap_err().to_string();
        assert!(e.contains("no PEM certificate"), "{e}");
        let e = Transport::new(Some(dir.join("missing.pem")))
            .agent(true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.pem"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
