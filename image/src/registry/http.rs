//! A small blocking HTTP/1.1 client over `std::net`, enough for the registry v2 API: one
//! connection per request (`Connection: close`), Content-Length and chunked bodies,
//! redirects left to the caller. `https://` wraps the socket in a rustls stream (see
//! `tls.rs`); `http://` is plain (`--insecure`). No async runtime.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

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
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

fn connect(url: &Url, transport: &Transport) -> Result<Conn> {
    let err = |e: io::Error| Error::Registry {
        url: url.to_string_lossy(),
        reason: e.to_string(),
    };
    let s = TcpStream::connect(&url.host).map_err(err)?;
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(err)?;
    if !url.tls {
        return Ok(Conn::Plain(s));
    }
    let name = tls::server_name(&url.host)?;
    let c =
        rustls::ClientConnection::new(transport.config()?, name).map_err(|e| Error::Registry {
            url: url.to_string_lossy(),
            reason: format!("TLS: {e}"),
        })?;
    Ok(Conn::Tls(Box::new(rustls::StreamOwned::new(c, s))))
}

pub fn request(
    method: &str,
    url: &Url,
    headers: &[(String, String)],
    body: &Body,
    transport: &Transport,
) -> Result<Response> {
    let err = |e: io::Error| Error::Registry {
        url: url.to_string_lossy(),
        reason: tls::describe(&e),
    };
    let mut s = connect(url, transport)?;
    let len = match body {
        Body::Empty => 0,
        Body::Bytes(b) => b.len() as u64,
        Body::File { len, .. } => *len,
    };
    let mut head = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: berth-image/{}\r\nConnection: close\r\n",
        url.path,
        url.host,
        env!("CARGO_PKG_VERSION")
    );
    if method != "GET" && method != "HEAD" {
        head.push_str(&format!("Content-Length: {len}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut w = io::BufWriter::new(&mut s);
    w.write_all(head.as_bytes()).map_err(err)?;
    match body {
        Body::Empty => {}
        Body::Bytes(b) => w.write_all(b).map_err(err)?,
        Body::File { path, offset, len } => {
            let mut f = File::open(path).map_err(err)?;
            f.seek(SeekFrom::Start(*offset)).map_err(err)?;
            let n = io::copy(&mut f.take(*len), &mut w).map_err(err)?;
            if n != *len {
                return Err(err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shorter than expected",
                )));
            }
        }
    }
    w.flush().map_err(err)?;
    drop(w);
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).map_err(err)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| {
            err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad status line {line:?}"),
            ))
        })?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).map_err(err)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let body: Box<dyn Read + Send> = if method == "HEAD" || status == 204 || status == 304 {
        Box::new(io::empty())
    } else if get("Transfer-Encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        Box::new(Chunked {
            r,
            left: 0,
            done: false,
        })
    } else if let Some(n) = get("Content-Length").and_then(|n| n.parse::<u64>().ok()) {
        Box::new(r.take(n))
    } else {
        Box::new(r)
    };
    Ok(Response {
        status,
        headers,
        body,
        url: url.clone(),
    })
}

/// `Transfer-Encoding: chunked`.
struct Chunked<R> {
    r: R,
    left: u64,
    done: bool,
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        if self.left == 0 {
            let mut line = String::new();
            self.r.read_line(&mut line)?;
            if line.trim().is_empty() {
                line.clear();
                self.r.read_line(&mut line)?;
            }
            let size = line.trim().split(';').next().unwrap_or("");
            self.left = u64::from_str_radix(size, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if self.left == 0 {
                self.done = true;
                return Ok(0);
            }
        }
        let n = buf.len().min(self.left as usize);
        let got = self.r.read(&mut buf[..n])?;
        if got == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "chunked body cut short",
            ));
        }
        self.left -= got as u64;
        if self.left == 0 {
            let mut crlf = String::new();
            self.r.read_line(&mut crlf)?;
        }
        Ok(got)
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

    #[test]
    fn chunked() {
        let data = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        let mut c = Chunked {
            r: &data[..],
            left: 0,
            done: false,
        };
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello world");
    }
}
