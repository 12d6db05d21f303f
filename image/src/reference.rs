//! Image references: `[registry[:port]/]repository[:tag][@sha256:...]`.

use std::fmt;

use crate::digest::Digest;
use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`, when the first path component looks like one.
    pub registry: Option<String>,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    pub fn parse(s: &str) -> Result<Reference> {
        let bad = |why: &str| Error::BadReference(s.to_string(), why.to_string());
        if s.is_empty() {
            return Err(bad("empty"));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(Digest::parse(d)?)),
            None => (s, None),
        };
        let (registry, path) = match rest.split_once('/') {
            Some((first, p))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (Some(first.to_string()), p)
            }
            _ => (None, rest),
        };
        let (repository, tag) = match path.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, Some(t.to_string())),
            _ => (path, None),
        };
        if repository.is_empty()
            || repository.split('/').any(|c| {
                c.is_empty()
                    || !c.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                    })
            })
        {
            return Err(bad("repository must be lowercase [a-z0-9._-] components"));
        }
        if let Some(t) = &tag {
            if t.is_empty()
                || t.len() > 128
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            {
                return Err(bad("tag must be [A-Za-z0-9._-]{1,128}"));
            }
        }
        Ok(Reference {
            registry,
            repository: repository.to_string(),
            tag,
            digest,
        })
    }

    /// The tag, `latest` when none was given.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// The name under which the store indexes this image: `[registry/]repo:tag`.
    pub fn store_name(&self) -> String {
        match &self.registry {
            Some(r) => format!("{r}/{}:{}", self.repository, self.tag_or_latest()),
            None => format!("{}:{}", self.repository, self.tag_or_latest()),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(r) = &self.registry {
            write!(f, "{r}/")?;
        }
        f.write_str(&self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.store_name(), "busybox:latest");
        let r = Reference::parse("127.0.0.1:5000/lib/bb:v1").unwrap();
        assert_eq!(r.registry.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(r.repository, "lib/bb");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        let r = Reference::parse("localhost/x").unwrap();
        assert_eq!(r.registry.as_deref(), Some("localhost"));
        assert!(Reference::parse("Busybox").is_err());
        assert!(Reference::parse("bb:").is_err());
        assert!(Reference::parse("bb@sha256:00").is_err());
    }
}
