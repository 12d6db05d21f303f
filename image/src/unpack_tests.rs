//! The whiteout suite and the escape refusals for `unpack::apply_layer`.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::testutil::tempdir;
use crate::unpack::{apply_layer, UnpackOptions};

enum E<'a> {
    Dir(&'a str, u32),
    File(&'a str, &'a str),
    Link(&'a str, &'a str),
    Hard(&'a str, &'a str),
    Owned(&'a str, u64, u64),
    Fifo(&'a str),
    Char(&'a str, u32, u32),
    Xattr(&'a str, &'a str, &'a str),
}

fn layer(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(0);
        match e {
            E::Dir(p, m) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*m);
                b.append_data(&mut h, p, std::io::empty()).unwrap();
            }
            E::File(p, c) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o640);
                h.set_size(c.len() as u64);
                raw_names(&mut h, p, "");
                b.append(&h, c.as_bytes()).unwrap();
            }
            E::Owned(p, u, g) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o4755);
                h.set_uid(*u);
                h.set_gid(*g);
                b.append_data(&mut h, p, std::io::empty()).unwrap();
            }
            E::Link(p, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                b.append_link(&mut h, p, t).unwrap();
            }
            E::Hard(p, t) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                raw_names(&mut h, p, t);
                b.append(&h, std::io::empty()).unwrap();
            }
            E::Fifo(p) => {
                h.set_entry_type(tar::EntryType::Fifo);
                h.set_mode(0o600);
                b.append_data(&mut h, p, std::io::empty()).unwrap();
            }
            E::Char(p, ma, mi) => {
                h.set_entry_type(tar::EntryType::Char);
                h.set_mode(0o666);
                h.set_device_major(*ma).unwrap();
                h.set_device_minor(*mi).unwrap();
                b.append_data(&mut h, p, std::io::empty()).unwrap();
            }
            E::Xattr(p, k, v) => {
                let key = format!("SCHILY.xattr.{k}");
                b.append_pax_extensions([(key.as_str(), v.as_bytes())])
                    .unwrap();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                b.append_data(&mut h, p, std::io::empty()).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// Set name and link name bytes directly (the `tar` builder refuses `..`, which the
/// tests need to send), and fix the checksum.
fn raw_names(h: &mut tar::Header, name: &str, link: &str) {
    let g = h.as_gnu_mut().unwrap();
    g.name = [0; 100];
    g.name[..name.len()].copy_from_slice(name.as_bytes());
    g.linkname = [0; 100];
    g.linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_cksum();
}

fn apply(root: &Path, entries: &[E]) -> crate::Result<()> {
    apply_layer(
        root,
        &layer(entries)[..],
        "test",
        &UnpackOptions {
            preserve_owner: true,
        },
    )
}

fn base(root: &Path) {
    apply(
        root,
        &[
            E::Dir("etc/", 0o755),
            E::File("etc/a", "a"),
            E::File("etc/b", "b"),
            E::Dir("etc/sub/", 0o700),
            E::File("etc/sub/deep", "d"),
            E::Dir("var/", 0o755),
            E::File("var/keep", "k"),
        ],
    )
    .unwrap();
}

#[test]
fn file_whiteout() {
    let t = tempdir("wh-file");
    base(t.path());
    apply(t.path(), &[E::File("etc/.wh.a", "")]).unwrap();
    assert!(!t.path().join("etc/a").exists());
    assert!(t.path().join("etc/b").exists());
    assert!(!t.path().join("etc/.wh.a").exists());
}

#[test]
fn dir_whiteout() {
    let t = tempdir("wh-dir");
    base(t.path());
    apply(t.path(), &[E::File("etc/.wh.sub", "")]).unwrap();
    assert!(!t.path().join("etc/sub").exists());
    assert!(t.path().join("etc/a").exists());
}

#[test]
fn opaque_dir_before_and_after_new_content() {
    for marker_first in [true, false] {
        let t = tempdir("wh-opq");
        base(t.path());
        let mut es = vec![
            E::Dir("etc/", 0o755),
            E::File("etc/new", "n"),
            E::Dir("etc/sub/", 0o755),
            E::File("etc/sub/x", "x"),
        ];
        if marker_first {
            es.insert(1, E::File("etc/.wh..wh..opq", ""));
        } else {
            es.push(E::File("etc/.wh..wh..opq", ""));
        }
        apply(t.path(), &es).unwrap();
        let names: Vec<String> = {
            let mut v: Vec<String> = fs::read_dir(t.path().join("etc"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names, ["new", "sub"], "marker_first={marker_first}");
        assert!(!t.path().join("etc/sub/deep").exists());
        assert!(t.path().join("etc/sub/x").exists());
        assert!(t.path().join("var/keep").exists());
    }
}

#[test]
fn recreated_after_delete() {
    let t = tempdir("wh-recreate");
    base(t.path());
    apply(
        t.path(),
        &[E::File("etc/.wh.sub", ""), E::File("etc/.wh.a", "")],
    )
    .unwrap();
    apply(
        t.path(),
        &[E::File("etc/a", "again"), E::Dir("etc/sub/", 0o755)],
    )
    .unwrap();
    assert_eq!(fs::read_to_string(t.path().join("etc/a")).unwrap(), "again");
    assert!(t.path().join("etc/sub").is_dir());
    assert!(!t.path().join("etc/sub/deep").exists());
}

#[test]
fn file_replaces_dir_and_dir_replaces_file() {
    let t = tempdir("replace");
    base(t.path());
    apply(
        t.path(),
        &[E::File("etc/sub", "now a file"), E::Dir("etc/a/", 0o755)],
    )
    .unwrap();
    assert!(t.path().join("etc/sub").is_file());
    assert!(t.path().join("etc/a").is_dir());
}

#[test]
fn metadata_links_devices_xattrs() {
    let t = tempdir("meta");
    let r = t.path();
    apply(
        r,
        &[
            E::Dir("bin/", 0o755),
            E::File("bin/tool", "x"),
            E::Hard("bin/tool2", "bin/tool"),
            E::Link("bin/sh", "busybox"),
            E::Owned("bin/suid", 1000, 2000),
            E::Fifo("fifo"),
            E::Char("null", 1, 3),
            E::Xattr("xa", "user.berth", "yes"),
        ],
    )
    .unwrap();
    let m = fs::metadata(r.join("bin/tool")).unwrap();
    assert_eq!(m.permissions().mode() & 0o7777, 0o640);
    assert_eq!(m.mtime(), 1_000_000);
    assert_eq!(m.ino(), fs::metadata(r.join("bin/tool2")).unwrap().ino());
    assert_eq!(
        fs::read_link(r.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    let s = fs::metadata(r.join("bin/suid")).unwrap();
    if nix::unistd::geteuid().is_root() {
        assert_eq!((s.uid(), s.gid()), (1000, 2000));
        assert_eq!(
            s.permissions().mode() & 0o7777,
            0o4755,
            "setuid survives chown"
        );
        let n = fs::metadata(r.join("null")).unwrap();
        assert_eq!(n.rdev(), nix::sys::stat::makedev(1, 3));
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::metadata(r.join("fifo")).unwrap().file_type().is_fifo());
    // tmpfs may not support user xattrs; check only where it does.
    if let Ok(Some(v)) = xattr::get(r.join("xa"), "user.berth") {
        assert_eq!(v, b"yes");
    }
}

#[test]
fn escapes_refused_or_confined() {
    let outer = tempdir("escape");
    let root = outer.path().join("rootfs");
    fs::create_dir_all(&root).unwrap();
    // `..` in a name: refused.
    let e = apply(&root, &[E::File("../evil", "x")]).unwrap_err();
    assert!(e.to_string().contains(".."), "{e}");
    assert!(!outer.path().join("evil").exists());
    // Absolute symlink to the host root, then a write through it: lands inside.
    apply(
        &root,
        &[
            E::Link("host", "/"),
            E::Link("up", "../../../.."),
            E::Dir("d/", 0o755),
        ],
    )
    .unwrap();
    let host_target = outer.path().join("pwned");
    let through = format!("host{}", host_target.display());
    apply(&root, &[E::File(&through, "x"), E::File("up/pwned2", "y")]).unwrap();
    assert!(!host_target.exists());
    assert!(root.join(host_target.strip_prefix("/").unwrap()).exists());
    assert!(!outer.path().join("pwned2").exists());
    assert!(root.join("pwned2").exists());
    // Hard link to a path outside: refused.
    assert!(apply(&root, &[E::Hard("h", "../../etc/passwd")]).is_err());
    // A hard link through an escaping symlink stays inside (and /etc/passwd is not linked).
    let r = apply(&root, &[E::Hard("h2", "host/etc/shadow-nonexistent")]);
    assert!(r.is_err());
}

#[test]
fn truncated_layer_is_an_error() {
    let t = tempdir("trunc");
    let mut bytes = layer(&[E::File("big", &"x".repeat(5000))]);
    bytes.truncate(2048);
    let e = apply_layer(
        t.path(),
        &bytes[..],
        "sha256:trunc",
        &UnpackOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("sha256:trunc"), "{e}");
}
