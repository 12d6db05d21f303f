//! `berth-image build`: a Dockerfile builder of our own. `parser` reads the file,
//! `expand` does variable substitution, `instructions` checks arguments, `executor` runs
//! the stages (RUN through `runstep` in a berth container on an overlay of the stage's
//! rootfs; COPY/ADD through `copy` from the `context`), `cache` skips steps already done,
//! `progress` reports. See docs/build.md.

mod cache;
mod context;
mod copy;
mod dockerignore;
mod error;
mod executor;
mod expand;
mod glob;
mod instructions;
mod layerfs;
pub mod parser;
mod progress;
mod runstep;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use error::{BuildError, Result};

use crate::compress::Compression;
use crate::digest::Digest;
use crate::oci::{self, Descriptor, Manifest};
use crate::store::Store;
use executor::{Builder, Stage};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    /// OCI image layout as a tar.
    Oci,
    /// docker-archive (what `docker load` reads).
    Docker,
}

#[derive(Clone, Debug)]
pub struct Output {
    pub kind: OutputKind,
    pub dest: PathBuf,
}

impl Output {
    /// `type=oci|docker,dest=PATH`.
    pub fn parse(s: &str) -> Result<Output> {
        let mut kind = None;
        let mut dest = None;
        for kv in s.split(',') {
            match kv.split_once('=') {
                Some(("type", "oci")) => kind = Some(OutputKind::Oci),
                Some(("type", "docker")) => kind = Some(OutputKind::Docker),
                Some(("type", t)) => {
                    return Err(BuildError::other(format!(
                        "--output type={t}: want oci or docker"
                    )))
                }
                Some(("dest", d)) => dest = Some(PathBuf::from(d)),
                _ => {
                    return Err(BuildError::other(format!(
                        "--output {s:?}: want type=oci|docker,dest=PATH"
                    )))
                }
            }
        }
        match (kind, dest) {
            (Some(kind), Some(dest)) => Ok(Output { kind, dest }),
            _ => Err(BuildError::other(format!(
                "--output {s:?}: both type= and dest= are needed"
            ))),
        }
    }
}

#[derive(Clone, Debug)]
pub struct BuildOptions {
    pub context: PathBuf,
    /// `-f`; default `CONTEXT/Dockerfile`.
    pub dockerfile: Option<PathBuf>,
    pub tags: Vec<String>,
    /// `--build-arg KEY=VALUE` (or `KEY`: taken from our environment).
    pub build_args: Vec<String>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub outputs: Vec<Output>,
    /// The berth binary; only needed when a RUN step has to run.
    pub runtime: Option<PathBuf>,
    pub compression: Compression,
    pub quiet: bool,
}

#[derive(Clone, Debug)]
pub struct BuildResult {
    pub manifest_digest: Digest,
    pub config_digest: Digest,
    pub cache_hits: usize,
    pub cache_misses: usize,
}

/// Build the Dockerfile into the store; tag and export as asked.
pub fn build(store: &Store, opts: &BuildOptions) -> Result<BuildResult> {
    let df_path = opts
        .dockerfile
        .clone()
        .unwrap_or_else(|| opts.context.join("Dockerfile"));
    let file = df_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "Dockerfile".into());
    let text = std::fs::read_to_string(&df_path)
        .map_err(|e| BuildError::other(format!("{}: {e}", df_path.display())))?;
    let df = parser::parse(&file, &text)?;
    let esc = df.directives.escape;
    let context = context::SourceTree::context(&opts.context)
        .map_err(|e| BuildError::other(format!("build context {}: {e}", opts.context.display())))?;

    let mut build_args = BTreeMap::new();
    for a in &opts.build_args {
        match a.split_once('=') {
            Some((k, v)) => build_args.insert(k.to_string(), v.to_string()),
            None => match std::env::var(a) {
                Ok(v) => build_args.insert(a.clone(), v),
                Err(_) => None,
            },
        };
    }

    // Global ARGs (before the first FROM), then the stages.
    let mut global_args = executor::predefined_args();
    let mut used = std::collections::BTreeSet::new();
    let mut stages: Vec<Stage> = Vec::new();
    for ins in df.instructions {
        instructions::validate(&ins).map_err(|e| BuildError::at(&file, ins.line, e))?;
        if ins.keyword == "FROM" {
            let lookup = |k: &str| {
                global_args
                    .iter()
                    .rev()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
            };
            let words = expand::words(&ins.text(), esc, &lookup)
                .map_err(|e| BuildError::at(&file, ins.line, e))?;
            let (base, name) =
                instructions::parse_from(&words).map_err(|e| BuildError::at(&file, ins.line, e))?;
            if base.is_empty() {
                return Err(BuildError::at(
                    &file,
                    ins.line,
                    "FROM names an empty image (unset ARG?)",
                ));
            }
            if let Some(n) = &name {
                if stages.iter().any(|s| s.name.as_deref() == Some(n)) {
                    return Err(BuildError::at(
                        &file,
                        ins.line,
                        format!("duplicate stage name {n:?}"),
                    ));
                }
            }
            stages.push(Stage {
                from: ins,
                body: Vec::new(),
                name,
                base,
            });
        } else if let Some(s) = stages.last_mut() {
            s.body.push(ins);
        } else if ins.keyword == "ARG" {
            let words = expand::words(&ins.text(), esc, &|k| {
                global_args
                    .iter()
                    .rev()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
            })
            .map_err(|e| BuildError::at(&file, ins.line, e))?;
            for w in words {
                let (k, d) = match w.split_once('=') {
                    Some((k, d)) => (k.to_string(), Some(d.to_string())),
                    None => (w, None),
                };
                let v = match build_args.get(&k) {
                    Some(v) => {
                        used.insert(k.clone());
                        v.clone()
                    }
                    None => d.unwrap_or_default(),
                };
                global_args.push((k, v));
            }
        } else {
            return Err(BuildError::at(
                &file,
                ins.line,
                format!(
                    "{} before the first FROM (only ARG may come first)",
                    ins.keyword
                ),
            ));
        }
    }
    if stages.is_empty() {
        return Err(BuildError::other(format!("{file}: no FROM instruction")));
    }
    let target = match &opts.target {
        Some(t) => stages
            .iter()
            .position(|s| s.name.as_deref() == Some(t.to_ascii_lowercase().as_str()))
            .ok_or_else(|| BuildError::other(format!("target stage {t:?} could not be found")))?,
        None => stages.len() - 1,
    };
    let needed = needed_stages(&stages, target, esc, &global_args);
    let total: usize = needed.iter().map(|&i| stages[i].body.len() + 1).sum();

    let _w = store.writer_lock()?;
    let scratch = store.temp_dir("build")?;
    let progress = progress::Progress::new(total, opts.quiet);
    let mut b = Builder::new(
        store,
        opts,
        file,
        esc,
        progress,
        global_args,
        build_args.clone(),
        stages,
        scratch.path().to_path_buf(),
        context,
    );
    b.used_args.extend(used);
    for &i in &needed {
        b.build_stage(i)?;
    }
    let unused: Vec<&String> = build_args
        .keys()
        .filter(|k| !b.used_args.contains(*k) && !instructions::PROXY_ARGS.contains(&k.as_str()))
        .collect();
    if !unused.is_empty() {
        b.progress.note(&format!(
            "[Warning] One or more build-args {unused:?} were not consumed"
        ));
    }
    let st = b.results[target]
        .take()
        .ok_or_else(|| BuildError::other("target stage was not built"))?;
    b.progress.note(&format!(
        "{} new layers, {}",
        b.progress.layers,
        crate::util::human_bytes(b.progress.layer_bytes)
    ));
    let (hits, misses) = (b.progress.hits, b.progress.misses);
    drop(b);
    drop(scratch);

    // The image: config (created = the last step's time, so a cached rebuild is identical).
    let mut config = st.config;
    config.rootfs.kind = "layers".into();
    config.rootfs.diff_ids = st.layers.iter().map(|(_, d)| d.clone()).collect();
    config.created = Some(st.created.clone()).filter(|c| !c.is_empty());
    let cbytes = oci::to_vec(&config);
    let cdigest = store.put_bytes(&cbytes, None)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(oci::OCI_MANIFEST.into()),
        config: Descriptor::new(oci::OCI_CONFIG, cdigest.clone(), cbytes.len() as u64),
        layers: st.layers.iter().map(|(d, _)| d.clone()).collect(),
        annotations: Default::default(),
    };
    let mdigest = store.put_image(&manifest)?;
    for t in &opts.tags {
        store.tag(t, &mdigest)?;
    }
    let name = opts
        .tags
        .first()
        .cloned()
        .unwrap_or_else(|| mdigest.to_string());
    for o in &opts.outputs {
        match o.kind {
            OutputKind::Oci => {
                crate::layout::export(store, std::slice::from_ref(&name), &o.dest, true)?
            }
            OutputKind::Docker => {
                crate::archive::save(store, std::slice::from_ref(&name), &o.dest)?
            }
        }
    }
    Ok(BuildResult {
        manifest_digest: mdigest,
        config_digest: cdigest,
        cache_hits: hits,
        cache_misses: misses,
    })
}

/// The stages the target needs (FROM another stage, COPY --from), in order.
fn needed_stages(
    stages: &[Stage],
    target: usize,
    esc: char,
    args: &[(String, String)],
) -> Vec<usize> {
    let lookup = |k: &str| {
        args.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    let find = |name: &str, before: usize| -> Option<usize> {
        let n = name.to_ascii_lowercase();
        if let Ok(i) = n.parse::<usize>() {
            return (i < before).then_some(i);
        }
        stages[..before]
            .iter()
            .position(|s| s.name.as_deref() == Some(n.as_str()))
    };
    let mut need = vec![false; stages.len()];
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if need[i] {
            continue;
        }
        need[i] = true;
        if let Some(j) = find(&stages[i].base, i) {
            todo.push(j);
        }
        for ins in &stages[i].body {
            if let Some(f) = ins.flag("from").filter(|_| ins.keyword == "COPY") {
                let f = expand::word(f, esc, &lookup).unwrap_or_else(|_| f.to_string());
                if let Some(j) = find(&f, i) {
                    todo.push(j);
                }
            }
        }
    }
    (0..stages.len()).filter(|i| need[*i]).collect()
}
