//! The registry client's HTTP requests, over ureq (synchronous, rustls; one agent per
//! client, so connections are kept alive and reused; `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`
//! and `NO_PROXY` honoured). `https://` uses the roots of `tls.rs`; `http://` is plain
//! (`--insecure`). Redirects and error statuses are left to the caller.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;

use super::progress::{Counting, Transfer};
use super::tls::{self, Transport};
use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// `https://`
    pub tls: bool,
    /// `host:port` (the port filled in from the scheme when absent)
    pub host: String,
    pub path: String,
}

impl Url {
    pub fn parse(s: &str) -> Result<Url> {
        let (tls, rest) = if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else {
            return Err(Error::Registry {
                url: s.into(),
                reason: "not an http:// or https:// URL".into(),
            });
        };
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let has_port = host
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty());
        let host = if has_port {
            host.to_string()
        } else {
            format!("{host}:{}", if tls { 443 } else { 80 })
        };
        Ok(Url {
            tls,
            host,
            path: path.to_string(),
        })
    }

    /// Resolve a `Location` header against this URL.
    pub fn join(&self, loc: &str) -> Result<Url> {
        if loc.starts_with("http://") || loc.starts_with("https://") {
            Url::parse(loc)
        } else {
            Ok(Url {
                tls: self.tls,
                host: self.host.clone(),
                path: loc.to_string(),
            })
        }
    }

    pub fn to_string_lossy(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{}", self.host, self.path)
    }
}

pub enum Body {
    Empty,
    Bytes(Vec<u8>),
    /// `len` bytes of a file from `offset`: re-openable, so a request can be retried.
    File {
        path: PathBuf,
        offset: u64,
        len: u64,
    },
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Box<dyn Read + Send>,
    pub url: Url,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn bytes(mut self, limit: u64) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        let url = self.url.to_string_lossy();
        (&mut self.body)
            .take(limit)
            .read_to_end(&mut v)
            .map_err(|e| Error::Registry {
                url,
                reason: format!("reading body: {e}"),
            })?;
        Ok(v)
    }
    /// A registry error body (`{"errors":[{"code","message"}]}`) as one line.
    pub fn error_text(self) -> String {
        let status = self.status;
        let b = self.bytes(64 * 1024).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap_or_default();
        let msgs: Vec<String> = v["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        format!(
                            "{} {}",
                            e["code"].as_str().unwrap_or(""),
                            e["message"].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        // Not the registry's JSON: the first line of a short text body, if any.
        let text = String::from_utf8_lossy(&b);
        let line = text.lines().next().unwrap_or("").trim();
        if msgs.is_empty() && !line.is_empty() && line.len() <= 200 && !line.starts_with('{') {
            format!("HTTP {status}: {line}")
        } else if msgs.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {}", msgs.join("; "))
        }
    }
}

/// A connection: plain TCP, or TLS over TCP.
/// One request through the transport's agent (kept-alive connections, proxies from the
/// environment). Statuses are returned, not turned into errors; redirects are left to
/// the caller (the registry client follows them itself, dropping authorization).
pub fn request(
    method: &str,
    url: &Url,
    headers: &[(String, String)],
    body: &Body,
    transport: &Transport,
    progress: Option<&Transfer>,
) -> Result<Response> {
    let target = url.to_string_lossy();
    let fail = |reason: String| Error::Registry {
        url: target.clone(),
        reason,
    };
    let agent = transport.agent(url.tls)?;
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(target.as_str());
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let len = match body {
        Body::Empty => 0,
        Body::Bytes(b) => b.len() as u64,
        Body::File { len, .. } => *len,
    };
    if method != "GET" && method != "HEAD" {
        req = req.header("Content-Length", len.to_string());
    }
    let sent = match body {
        Body::Empty => req.body(()).map(|r| agent.run(r)),
        Body::Bytes(b) => req.body(b.as_slice()).map(|r| agent.run(r)),
        Body::File { path, offset, len } => {
            let mut f = File::open(path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
            f.seek(SeekFrom::Start(*offset))
                .map_err(|e| fail(format!("{}: {e}", path.display())))?;
            let f = f.take(*len);
            match progress {
                Some(transfer) => {
                    let mut counted = Counting { inner: f, transfer };
                    req.body(ureq::SendBody::from_reader(&mut counted))
                        .map(|r| agent.run(r))
                }
                None => req
                    .body(ureq::SendBody::from_owned_reader(f))
                    .map(|r| agent.run(r)),
            }
        }
    };
    let resp = sent
        .map_err(|e| fail(e.to_string()))?
        .map_err(|e| fail(describe(e)))?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body: Box<dyn Read + Send> = if method == "HEAD" {
        Box::new(io::empty())
    } else {
        Box::new(resp.into_body().into_reader())
    };
    Ok(Response {
        status,
        headers,
        body,
        url: url.clone(),
    })
}

/// One line for a failed request, with a hint for the TLS failures users meet.
fn describe(e: ureq::Error) -> String {
    match e {
        ureq::Error::Io(e) => tls::describe(&e),
        ureq::Error::Rustls(t) => tls::describe_tls(&t),
        e => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://127.0.0.1:5000/v2/").unwrap();
        assert_eq!(u.host, "127.0.0.1:5000");
        assert_eq!(
            u.join("/v2/x/blobs/uploads/abc?_state=1").unwrap().path,
            "/v2/x/blobs/uploads/abc?_state=1"
        );
        assert_eq!(Url::parse("http://h/x").unwrap().host, "h:80");
        let u = Url::parse("https://h/v2/").unwrap();
        assert!(u.tls);
        assert_eq!(u.host, "h:443");
        assert_eq!(u.to_string_lossy(), "https://h:443/v2/");
        assert!(u.join("/x").unwrap().tls);
        assert!(!u.join("http://other:5000/y").unwrap().tls);
        assert_eq!(
            Url::parse("https://[::1]:5000/").unwrap().host,
            "[::1]:5000"
        );
        assert_eq!(Url::parse("https://[::1]/").unwrap().host, "[::1]:443");
        assert!(Url::parse("ftp://h/").is_err());
    }
}
