//! TLS for https registries: rustls with the ring provider (no aws-lc, no OpenSSL), the
//! system's trust roots (`/etc/ssl/certs`, or `SSL_CERT_FILE`/`SSL_CERT_DIR`, read by
//! rustls-native-certs) plus any private CA given with `--ca-cert`. Built once, on the
//! first https request, and shared by every connection of one client.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

use crate::error::{Error, Result};

/// What a client needs to open connections: the TLS settings, built lazily.
#[derive(Debug, Default)]
pub struct Transport {
    ca_cert: Option<PathBuf>,
    config: OnceCell<Arc<ClientConfig>>,
}

impl Transport {
    pub fn new(ca_cert: Option<PathBuf>) -> Transport {
        Transport {
            ca_cert,
            config: OnceCell::new(),
        }
    }

    /// The client config (system roots + the private CA), built on first use.
    pub fn config(&self) -> Result<Arc<ClientConfig>> {
        if let Some(c) = self.config.get() {
            return Ok(c.clone());
        }
        let c = Arc::new(build(self.ca_cert.as_deref())?);
        Ok(self.config.get_or_init(|| c).clone())
    }
}

fn build(ca_cert: Option<&Path>) -> Result<ClientConfig> {
    let mut roots = RootCertStore::empty();
    // Unreadable system certificates are skipped: a private CA may be all there is.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
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
        for c in certs {
            roots.add(c).map_err(|e| bad(e.to_string()))?;
        }
    }
    if roots.is_empty() {
        return Err(Error::Invalid {
            what: "TLS".into(),
            reason: "no trusted certificates: none in /etc/ssl/certs (install ca-certificates) and no --ca-cert".into(),
        });
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Invalid {
            what: "TLS".into(),
            reason: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(cfg)
}

/// The name to check the certificate against: `host:port` without the port, `[v6]`
/// without brackets.
pub fn server_name(host: &str) -> Result<ServerName<'static>> {
    let name = match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(name.to_string()).map_err(|e| Error::Invalid {
        what: format!("TLS server name {name:?}"),
        reason: e.to_string(),
    })
}

/// One line for an I/O error, with a hint when it is a TLS failure.
pub fn describe(e: &std::io::Error) -> String {
    let Some(t) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return e.to_string();
    };
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
    fn server_names() {
        assert_eq!(
            server_name("127.0.0.1:5000").unwrap(),
            ServerName::try_from("127.0.0.1").unwrap()
        );
        assert_eq!(
            server_name("[::1]:443").unwrap(),
            ServerName::try_from("::1").unwrap()
        );
        assert_eq!(
            server_name("registry.example:443").unwrap(),
            ServerName::try_from("registry.example").unwrap()
        );
    }

    #[test]
    fn bad_ca_file() {
        let dir = std::env::temp_dir().join(format!("berth-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("ca.pem");
        std::fs::write(&f, "not a certificate\n").unwrap();
        let e = Transport::new(Some(f)).config().unwrap_err().to_string();
        assert!(e.contains("no PEM certificate"), "{e}");
        let e = Transport::new(Some(dir.join("missing.pem")))
            .config()
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.pem"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
