//! Registry auth: `WWW-Authenticate` challenges, Basic credentials, and Bearer tokens
//! fetched from the challenge's realm with its service and scope.

use super::http::{self, Body, Url};
use super::tls::Transport;
use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parse `Bearer realm="...",service="...",scope="..."` or `Basic realm="..."`.
pub fn parse_challenge(h: &str) -> Option<Challenge> {
    let (scheme, rest) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = std::collections::HashMap::new();
    let mut s = rest;
    while !s.is_empty() {
        let Some((k, v)) = s.split_once('=') else {
            break;
        };
        let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let v = v.trim_start();
        let (val, next) = if let Some(q) = v.strip_prefix('"') {
            match q.find('"') {
                Some(i) => (&q[..i], &q[i + 1..]),
                None => (q, ""),
            }
        } else {
            match v.find(',') {
                Some(i) => (&v[..i], &v[i..]),
                None => (v, ""),
            }
        };
        params.insert(k, val.to_string());
        s = next.trim_start_matches(',').trim_start();
    }
    Some(Challenge::Bearer {
        realm: params.remove("realm")?,
        service: params.remove("service"),
        scope: params.remove("scope"),
    })
}

pub fn basic_header(user: &str, pass: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{pass}").as_bytes()))
}

fn base64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Answer a challenge: the `Authorization` header value to retry with.
pub fn answer(
    ch: &Challenge,
    creds: Option<&(String, String)>,
    scope: &str,
    transport: &Transport,
) -> Result<String> {
    match ch {
        Challenge::Basic => {
            let (u, p) = creds.ok_or_else(|| Error::Registry {
                url: String::new(),
                reason: "registry wants basic auth: pass --creds USER:PASS".into(),
            })?;
            Ok(basic_header(u, p))
        }
        Challenge::Bearer {
            realm,
            service,
            scope: ch_scope,
        } => {
            let mut q = Vec::new();
            if let Some(s) = service {
                q.push(format!("service={}", urlencode(s)));
            }
            q.push(format!(
                "scope={}",
                urlencode(ch_scope.as_deref().unwrap_or(scope))
            ));
            let sep = if realm.contains('?') { '&' } else { '?' };
            let url = Url::parse(&format!("{realm}{sep}{}", q.join("&")))?;
            let mut headers = Vec::new();
            if let Some((u, p)) = creds {
                headers.push(("Authorization".to_string(), basic_header(u, p)));
            }
            let resp = http::request("GET", &url, &headers, &Body::Empty, transport, None)?;
            if resp.status != 200 {
                return Err(Error::Registry {
                    url: realm.clone(),
                    reason: format!("token request: {}", resp.error_text()),
                });
            }
            let b = resp.bytes(1 << 20)?;
            let v: serde_json::Value =
                serde_json::from_slice(&b).map_err(|e| Error::json(realm.clone(), e))?;
            let tok = v["token"]
                .as_str()
                .or(v["access_token"].as_str())
                .ok_or_else(|| Error::Registry {
                    url: realm.clone(),
                    reason: "token response has no token".into(),
                })?;
            Ok(format!("Bearer {tok}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="http://a/token",service="reg",scope="repository:x:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "http://a/token".into(),
                service: Some("reg".into()),
                scope: Some("repository:x:pull".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="berth""#),
            Some(Challenge::Basic)
        );
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"ab"), "YWI=");
    }
}
