//! The registry v2 API: manifests (with platform choice in lists), blobs (verified into
//! the store), uploads (monolithic or chunked, cross-repo mount), with auth retried once
//! per request on 401.

use super::auth::{self, parse_challenge};
use super::http::{self, Body, Response, Url};
use super::progress::{Counting, Transfer};
use super::tls::Transport;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::layout::pick_platform;
use crate::oci::{self, Descriptor, Index, Platform};
use crate::reference::Reference;
use crate::store::Store;
use std::sync::Arc;

const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
const MAX_MANIFEST: u64 = 4 << 20;

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Plain HTTP instead of https.
    pub insecure: bool,
    /// A PEM file of extra trusted CA certificates for https (added to the system roots).
    pub ca_cert: Option<std::path::PathBuf>,
    pub creds: Option<(String, String)>,
    pub platform: Option<Platform>,
    /// Upload blobs in chunks of this many bytes (0: one PUT).
    pub chunk_size: u64,
    /// Repository on the same registry to try a cross-repo mount from.
    pub mount_from: Option<String>,
    /// Show progress on stderr (registry/progress.rs).
    pub progress: bool,
}

#[derive(Clone)]
struct Client<'a> {
    host: String,
    repo: String,
    opts: &'a Options,
    auth: Option<String>,
    scope: String,
    transport: Transport,
    transfer: Arc<Transfer>,
}

impl<'a> Client<'a> {
    fn new(r: &Reference, opts: &'a Options, push: bool) -> Result<Self> {
        let host = r.registry.clone().ok_or_else(|| {
            Error::BadReference(
                r.to_string(),
                "no registry host (e.g. 127.0.0.1:5000/name:tag)".into(),
            )
        })?;
        if opts.insecure && opts.ca_cert.is_some() {
            return Err(Error::Usage(
                "--ca-cert is for https registries; --insecure means plain HTTP".into(),
            ));
        }
        let mut scope = format!(
            "repository:{}:{}",
            r.repository,
            if push { "pull,push" } else { "pull" }
        );
        if let (true, Some(from)) = (push, &opts.mount_from) {
            scope.push_str(&format!(" repository:{from}:pull"));
        }
        Ok(Client {
            host,
            repo: r.repository.clone(),
            opts,
            auth: None,
            scope,
            transport: Transport::new(opts.ca_cert.clone()),
            transfer: Arc::new(Transfer::new("pull", "", 0, 0, false)),
        })
    }

    fn url(&self, path: &str) -> Result<Url> {
        let scheme = if self.opts.insecure { "http" } else { "https" };
        Url::parse(&format!("{scheme}://{}{path}", self.host))
    }

    /// Send, answering one auth challenge; follow up to 5 redirects for GET/HEAD.
    fn send(
        &mut self,
        method: &str,
        url: Url,
        headers: &[(String, String)],
        body: &Body,
    ) -> Result<Response> {
        let mut url = url;
        for _ in 0..6 {
            let mut h = headers.to_vec();
            if let Some(a) = &self.auth {
                h.push(("Authorization".into(), a.clone()));
            }
            let resp = http::request(
                method,
                &url,
                &h,
                body,
                &self.transport,
                Some(&self.transfer),
            )?;
            if resp.status == 401 && self.auth.is_none() {
                let ch = resp
                    .header("WWW-Authenticate")
                    .and_then(parse_challenge)
                    .ok_or_else(|| Error::Registry {
                        url: url.to_string_lossy(),
                        reason: "401 without a usable WWW-Authenticate challenge".into(),
                    })?;
                self.auth = Some(auth::answer(
                    &ch,
                    self.opts.creds.as_ref(),
                    &self.scope,
                    &self.transport,
                )?);
                continue;
            }
            if matches!(resp.status, 301 | 302 | 303 | 307 | 308)
                && (method == "GET" || method == "HEAD")
            {
                let loc = resp.header("Location").unwrap_or("").to_string();
                url = url.join(&loc)?;
                continue;
            }
            return Ok(resp);
        }
        Err(Error::Registry {
            url: url.to_string_lossy(),
            reason: "too many redirects or auth retries".into(),
        })
    }

    fn fail(resp: Response, what: &str) -> Error {
        let url = resp.url.to_string_lossy();
        let text = resp.error_text();
        Error::Registry {
            url,
            reason: format!("{what}: {text}"),
        }
    }

    fn get_manifest(&mut self, reference: &str) -> Result<(Vec<u8>, Digest, String)> {
        let url = self.url(&format!("/v2/{}/manifests/{reference}", self.repo))?;
        let resp = self.send(
            "GET",
            url,
            &[("Accept".into(), MANIFEST_ACCEPT.into())],
            &Body::Empty,
        )?;
        if resp.status != 200 {
            return Err(Self::fail(resp, &format!("manifest {reference}")));
        }
        let ct = resp.header("Content-Type").unwrap_or("").to_string();
        let bytes = resp.bytes(MAX_MANIFEST)?;
        let d = Digest::of(&bytes);
        if let Ok(want) = Digest::parse(reference) {
            if want != d {
                return Err(Error::DigestMismatch {
                    expected: want.to_string(),
                    actual: d.to_string(),
                });
            }
        }
        let mt = oci::sniff_media_type(&bytes).unwrap_or(ct);
        Ok((bytes, d, mt))
    }

    fn fetch_blob(&mut self, store: &Store, desc: &Descriptor) -> Result<()> {
        if store.has(&desc.digest) {
            return Ok(());
        }
        let url = self.url(&format!("/v2/{}/blobs/{}", self.repo, desc.digest))?;
        let resp = self.send("GET", url, &[], &Body::Empty)?;
        if resp.status != 200 {
            return Err(Self::fail(resp, &format!("blob {}", desc.digest)));
        }
        let mut body = Counting {
            inner: resp.body,
            transfer: &self.transfer,
        };
        store.put_reader(&mut body, Some(&desc.digest), Some(desc.size))?;
        self.transfer.blob_done(&desc.digest, desc.size, None);
        Ok(())
    }

    fn blob_exists(&mut self, d: &Digest) -> Result<bool> {
        let url = self.url(&format!("/v2/{}/blobs/{d}", self.repo))?;
        Ok(self.send("HEAD", url, &[], &Body::Empty)?.status == 200)
    }

    /// Uploads the stored blob `d` of `size` bytes unless the registry has it already.
    fn upload_blob(&mut self, store: &Store, d: &Digest, size: u64) -> Result<()> {
        if self.blob_exists(d)? {
            self.transfer.blob_done(d, size, Some("already there"));
            return Ok(());
        }
        let mut start = format!("/v2/{}/blobs/uploads/", self.repo);
        if let Some(from) = &self.opts.mount_from {
            start.push_str(&format!("?mount={d}&from={from}"));
        }
        let url = self.url(&start)?;
        let resp = self.send("POST", url.clone(), &[], &Body::Empty)?;
        if resp.status == 201 {
            self.transfer.blob_done(d, size, Some("mounted"));
            return Ok(());
        }
        if resp.status != 202 {
            return Err(Self::fail(resp, &format!("starting upload of {d}")));
        }
        let mut loc = url.join(resp.header("Location").unwrap_or(""))?;
        let path = store.blob_path(d);
        let octet = vec![(
            "Content-Type".to_string(),
            "application/octet-stream".to_string(),
        )];
        let chunk = self.opts.chunk_size;
        let final_body = if chunk > 0 && size > chunk {
            let mut off = 0;
            while off < size {
                let len = chunk.min(size - off);
                let mut h = octet.clone();
                h.push(("Content-Range".into(), format!("{off}-{}", off + len - 1)));
                let body = Body::File {
                    path: path.clone(),
                    offset: off,
                    len,
                };
                let resp = self.send("PATCH", loc.clone(), &h, &body)?;
                if resp.status != 202 {
                    return Err(Self::fail(resp, &format!("uploading {d} at {off}")));
                }
                loc = loc.join(resp.header("Location").unwrap_or(&loc.path.clone()))?;
                off += len;
            }
            Body::Empty
        } else {
            Body::File {
                path,
                offset: 0,
                len: size,
            }
        };
        let sep = if loc.path.contains('?') { '&' } else { '?' };
        loc.path = format!("{}{sep}digest={d}", loc.path);
        let resp = self.send("PUT", loc, &octet, &final_body)?;
        if resp.status != 201 {
            return Err(Self::fail(resp, &format!("finishing upload of {d}")));
        }
        self.transfer.blob_done(d, size, None);
        Ok(())
    }
}

/// Blobs downloaded at once by a pull (each over its own kept-alive connection).
const PARALLEL_DOWNLOADS: usize = 3;

/// Fetches `blobs` with up to [`PARALLEL_DOWNLOADS`] workers, each with a copy of the
/// client (its token and the agent's connection pool); the first error wins.
fn fetch_parallel(c: &Client, store: &Store, blobs: &[&Descriptor]) -> Result<()> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..PARALLEL_DOWNLOADS.min(blobs.len()))
            .map(|_| {
                let mut c = c.clone();
                let next = &next;
                s.spawn(move || -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(d) = blobs.get(i) else {
                            return Ok(());
                        };
                        c.fetch_blob(store, d)?;
                    }
                })
            })
            .collect();
        let mut first = Ok(());
        for w in workers {
            let r = w
                .join()
                .unwrap_or_else(|_| Err(Error::Usage("a layer download thread panicked".into())));
            if first.is_ok() {
                first = r;
            }
        }
        first
    })
}

/// Pull `reference` (which must name its registry) into the store and name it.
pub fn pull(store: &Store, reference: &str, opts: &Options) -> Result<(String, Digest)> {
    let r = Reference::parse(reference)?;
    let mut c = Client::new(&r, opts, false)?;
    let _w = store.writer_lock()?;
    let want = r
        .digest
        .as_ref()
        .map(|d| d.to_string())
        .unwrap_or_else(|| r.tag_or_latest().to_string());
    let (mut bytes, mut digest, mut mt) = c.get_manifest(&want)?;
    if oci::is_index(&mt) {
        let idx: Index = oci::parse(&format!("index {digest}"), &bytes)?;
        let platform = opts.platform.clone().unwrap_or_else(Platform::host);
        let pick = pick_platform(&idx, &platform).ok_or_else(|| Error::Registry {
            url: reference.into(),
            reason: format!("no manifest for {}/{}", platform.os, platform.architecture),
        })?;
        let d = pick.digest.to_string();
        (bytes, digest, mt) = c.get_manifest(&d)?;
    }
    if !oci::is_manifest(&mt) {
        return Err(Error::Registry {
            url: reference.into(),
            reason: format!("unsupported manifest type {mt:?}"),
        });
    }
    let m: oci::Manifest = oci::parse(&format!("manifest {digest}"), &bytes)?;
    let blobs: Vec<&Descriptor> = std::iter::once(&m.config)
        .chain(&m.layers)
        .filter(|d| !store.has(&d.digest))
        .collect();
    let bytes_to_fetch = blobs.iter().map(|d| d.size).sum();
    c.transfer = Arc::new(Transfer::new(
        "pull",
        reference,
        blobs.len(),
        bytes_to_fetch,
        opts.progress,
    ));
    fetch_parallel(&c, store, &blobs)?;
    c.transfer.finish();
    store.put_bytes(&bytes, Some(&digest))?;
    store.image_by_digest(&digest)?;
    let name = store.tag(
        &Reference {
            digest: None,
            ..r.clone()
        }
        .to_string(),
        &digest,
    )?;
    Ok((name, digest))
}

/// Push the stored image `image` to `reference` (registry/repo:tag).
pub fn push(store: &Store, image: &str, reference: &str, opts: &Options) -> Result<Digest> {
    let r = Reference::parse(reference)?;
    let img = store.image(image)?;
    let mut c = Client::new(&r, opts, true)?;
    let mut blobs = Vec::new();
    for d in img
        .manifest
        .layers
        .iter()
        .map(|l| &l.digest)
        .chain(std::iter::once(&img.config_digest))
    {
        blobs.push((d, store.blob_size(d)?));
    }
    c.transfer = Arc::new(Transfer::new(
        "push",
        reference,
        blobs.len(),
        blobs.iter().map(|(_, size)| size).sum(),
        opts.progress,
    ));
    for (d, size) in blobs {
        c.upload_blob(store, d, size)?;
    }
    c.transfer.finish();
    let bytes = store.read_blob(&img.manifest_digest)?;
    let url = c.url(&format!(
        "/v2/{}/manifests/{}",
        r.repository,
        r.tag_or_latest()
    ))?;
    let ct = vec![(
        "Content-Type".to_string(),
        img.manifest.media_type().to_string(),
    )];
    let resp = c.send("PUT", url, &ct, &Body::Bytes(bytes))?;
    if resp.status != 201 {
        return Err(Client::fail(resp, "putting manifest"));
    }
    Ok(img.manifest_digest)
}
