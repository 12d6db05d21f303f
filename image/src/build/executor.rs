//! Runs the stages: ARG/ENV scoping, one cache lookup per step, layers for RUN/COPY/ADD,
//! config and history for the rest. A stage's rootfs is unpacked only when a step that
//! misses the cache needs it, so a fully cached rebuild touches no files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::cache::{self, Cache};
use super::context::{self, SourceTree};
use super::copy;
use super::error::{AtLine, BuildError, Result};
use super::expand;
use super::instructions::{self as ins_, DEFAULT_SHELL, PROXY_ARGS};
use super::parser::{self, Args, Instruction};
use super::progress::Progress;
use super::runstep;
use super::BuildOptions;
use crate::digest::Digest;
use crate::layer::{BuiltLayer, LayerBuilder};
use crate::oci::{Descriptor, ImageConfig, Platform, RunConfig};
use crate::store::Store;
use crate::unpack::{apply_layer, UnpackOptions};

pub struct Stage {
    pub from: Instruction,
    pub body: Vec<Instruction>,
    pub name: Option<String>,
    /// The FROM image, expanded with the global ARGs.
    pub base: String,
}

/// A stage's state while it is built, and its result afterwards.
pub struct State {
    pub layers: Vec<(Descriptor, Digest)>,
    pub config: ImageConfig,
    pub key: String,
    pub created: String,
    rootfs: Option<PathBuf>,
    applied: usize,
    args: Vec<(String, String)>,
    shell: Vec<String>,
    cmd_set: bool,
}

pub struct Builder<'a> {
    pub store: &'a Store,
    pub opts: &'a BuildOptions,
    pub file: String,
    pub esc: char,
    pub cache: Cache,
    pub progress: Progress,
    pub global_args: Vec<(String, String)>,
    pub build_args: BTreeMap<String, String>,
    pub used_args: BTreeSet<String>,
    pub stages: Vec<Stage>,
    pub results: Vec<Option<State>>,
    pub scratch: PathBuf,
    pub context: SourceTree,
    image_roots: BTreeMap<String, PathBuf>,
}

impl State {
    fn rc(&mut self) -> &mut RunConfig {
        self.config.config.get_or_insert_with(RunConfig::default)
    }
    fn env_get(&self, k: &str) -> Option<String> {
        let env = self.config.config.as_ref()?.env.as_ref()?;
        env.iter()
            .filter_map(|kv| kv.split_once('='))
            .find(|(ek, _)| *ek == k)
            .map(|(_, v)| v.to_string())
    }
    fn lookup(&self, k: &str) -> Option<String> {
        self.env_get(k).or_else(|| {
            self.args
                .iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        })
    }
    fn set_env(&mut self, k: &str, v: &str) {
        let env = self.rc().env.get_or_insert_with(Vec::new);
        let kv = format!("{k}={v}");
        match env
            .iter_mut()
            .find(|e| e.split_once('=').map(|p| p.0) == Some(k))
        {
            Some(e) => *e = kv,
            None => env.push(kv),
        }
    }
    fn workdir(&self) -> String {
        self.config
            .config
            .as_ref()
            .and_then(|c| c.working_dir.clone())
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into())
    }
}

pub fn predefined_args() -> Vec<(String, String)> {
    let p = Platform::host();
    let plat = format!("{}/{}", p.os, p.architecture);
    let mut v = Vec::new();
    for pre in ["TARGET", "BUILD"] {
        v.push((format!("{pre}PLATFORM"), plat.clone()));
        v.push((format!("{pre}OS"), p.os.clone()));
        v.push((format!("{pre}ARCH"), p.architecture.clone()));
        v.push((format!("{pre}VARIANT"), String::new()));
    }
    v
}

impl<'a> Builder<'a> {
    fn err(&self, line: usize, e: impl std::fmt::Display) -> BuildError {
        BuildError::at(&self.file, line, e)
    }

    fn global_lookup(&self, k: &str) -> Option<String> {
        self.global_args
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    }

    /// Expand `s` with the stage's variables.
    fn word(&self, st: &State, s: &str, line: usize) -> Result<String> {
        expand::word(s, self.esc, &|k| st.lookup(k)).line(&self.file, line)
    }
    fn words(&self, st: &State, s: &str, line: usize) -> Result<Vec<String>> {
        expand::words(s, self.esc, &|k| st.lookup(k)).line(&self.file, line)
    }

    /// The index of the stage `name` refers to (a name or a number), if it is one.
    pub fn stage_ref(&self, name: &str, before: usize) -> Option<usize> {
        let n = name.to_ascii_lowercase();
        if let Ok(i) = n.parse::<usize>() {
            return (i < before).then_some(i);
        }
        self.stages[..before]
            .iter()
            .position(|s| s.name.as_deref() == Some(n.as_str()))
    }

    /// Build stage `i` (its dependencies were built first by the caller).
    pub fn build_stage(&mut self, i: usize) -> Result<()> {
        let from = self.stages[i].from.clone();
        let base = self.stages[i].base.clone();
        let label = self.stages[i]
            .name
            .clone()
            .unwrap_or_else(|| format!("stage-{i}"));
        self.progress.step(&label, &from.original);
        if let Some(p) = from.flag("platform") {
            let p = expand::word(p, self.esc, &|k| self.global_lookup(k))
                .line(&self.file, from.line)?;
            let want = crate::oci::Platform::parse(&p).line(&self.file, from.line)?;
            if !want.matches(&Platform::host()) && !Platform::host().matches(&want) {
                return Err(self.err(
                    from.line,
                    format!("platform {p} is not this machine's; cross-builds are not supported"),
                ));
            }
        }
        let mut st = if base.eq_ignore_ascii_case("scratch") {
            let p = Platform::host();
            let mut config = ImageConfig {
                os: p.os,
                architecture: p.architecture,
                config: Some(RunConfig::default()),
                ..Default::default()
            };
            if let Some(c) = config.config.as_mut() {
                c.env = Some(vec![format!("PATH={}", crate::bundle::DEFAULT_PATH)]);
            }
            new_state(Vec::new(), config, cache::key("", "scratch"))
        } else if let Some(j) = self.stage_ref(&base, i) {
            let r = self.results[j]
                .as_ref()
                .ok_or_else(|| self.err(from.line, format!("stage {base:?} was not built")))?;
            new_state(r.layers.clone(), r.config.clone(), r.key.clone())
        } else {
            let img = self.store.image(&base).map_err(|e| {
                self.err(
                    from.line,
                    format!(
                        "base image {base:?}: {e} (only images in the local store can be used)"
                    ),
                )
            })?;
            let layers = img
                .manifest
                .layers
                .iter()
                .cloned()
                .zip(img.config.rootfs.diff_ids.iter().cloned())
                .collect();
            new_state(
                layers,
                img.config.clone(),
                cache::key("", &format!("image {}", img.manifest_digest)),
            )
        };
        st.created = st.config.created.clone().unwrap_or_default();
        self.progress.done(false);
        // ONBUILD triggers of the base run first, and are not inherited.
        let triggers: Vec<String> = st
            .config
            .config
            .as_mut()
            .and_then(|c| c.extra.remove("OnBuild"))
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let mut body: Vec<Instruction> = Vec::new();
        for t in &triggers {
            let mut ins = parser::parse_line(&self.file, from.line, t, self.esc)?;
            ins.original = format!("ONBUILD {t}");
            body.push(ins);
        }
        self.progress.add_total(triggers.len());
        body.extend(self.stages[i].body.clone());
        for ins in &body {
            self.progress.step(&label, &ins.original);
            self.step(&mut st, ins).map_err(|e| match e {
                BuildError::Line { .. } => e,
                other => self.err(ins.line, other),
            })?;
        }
        self.results[i] = Some(st);
        Ok(())
    }

    /// A step that only changes the config: cached for the timestamp (so an all-cached
    /// rebuild gives the same image).
    fn config_step(&mut self, st: &mut State, ins: &Instruction, desc: &str) {
        let key = cache::key(&st.key, desc);
        let created = match self.cache.get(self.store, &key) {
            Some(e) => {
                self.progress.cached();
                e.created
            }
            None => {
                let now = crate::util::rfc3339(crate::util::now_secs());
                self.cache.put(&key, None, &now);
                self.progress.done(true);
                now
            }
        };
        st.config.history.push(json!({
            "created": created,
            "created_by": ins.original,
            "comment": "berth-image build",
            "empty_layer": true,
        }));
        st.created = created;
        st.key = key;
    }

    fn step(&mut self, st: &mut State, ins: &Instruction) -> Result<()> {
        ins_::validate(ins).line(&self.file, ins.line)?;
        let line = ins.line;
        match ins.keyword.as_str() {
            "ARG" => {
                let words = self.words(st, &ins.text(), line)?;
                let mut desc = String::from("ARG");
                for w in words {
                    let (name, default) = match w.split_once('=') {
                        Some((n, d)) => (n.to_string(), Some(d.to_string())),
                        None => (w.clone(), None),
                    };
                    if name.is_empty() {
                        return Err(self.err(line, "ARG requires a name"));
                    }
                    let v = if let Some(v) = self.build_args.get(&name) {
                        self.used_args.insert(name.clone());
                        Some(v.clone())
                    } else {
                        default.or_else(|| self.global_lookup(&name))
                    };
                    let v = v.unwrap_or_default();
                    desc.push_str(&format!(" {name}={v}"));
                    st.args.push((name, v));
                }
                self.config_step(st, ins, &desc);
            }
            "ENV" | "LABEL" => {
                let text = ins.text();
                let words = self.words(st, &text, line)?;
                let pairs = ins_::pairs(&ins.keyword, &words, || {
                    let rest = text.trim_start();
                    let rest = rest[rest.find(char::is_whitespace).unwrap_or(rest.len())..].trim();
                    expand::word(rest, self.esc, &|k| st.lookup(k))
                })
                .line(&self.file, line)?;
                for (k, v) in &pairs {
                    if ins.keyword == "ENV" {
                        st.set_env(k, v);
                    } else {
                        st.rc()
                            .labels
                            .get_or_insert_with(BTreeMap::new)
                            .insert(k.clone(), v.clone());
                    }
                }
                self.config_step(st, ins, &format!("{} {pairs:?}", ins.keyword));
            }
            "MAINTAINER" => {
                st.config.author = Some(ins.text());
                self.config_step(st, ins, &ins.original);
            }
            "WORKDIR" => {
                let w = self.word(st, &ins.text(), line)?;
                let joined = if w.starts_with('/') {
                    w
                } else {
                    format!("{}/{w}", st.workdir())
                };
                let clean = format!("/{}", super::dockerignore::clean(&joined));
                st.rc().working_dir = Some(clean.clone());
                self.config_step(st, ins, &format!("WORKDIR {clean}"));
            }
            "USER" => {
                let u = self.word(st, &ins.text(), line)?;
                st.rc().user = Some(u.clone());
                self.config_step(st, ins, &format!("USER {u}"));
            }
            "EXPOSE" => {
                let ports =
                    ins_::ports(&self.words(st, &ins.text(), line)?).line(&self.file, line)?;
                let ep = st.rc().exposed_ports.get_or_insert_with(BTreeMap::new);
                for p in &ports {
                    ep.insert(p.clone(), json!({}));
                }
                self.config_step(st, ins, &format!("EXPOSE {ports:?}"));
            }
            "VOLUME" => {
                let vols = match &ins.args {
                    Args::Json(v) => v
                        .iter()
                        .map(|s| self.word(st, s, line))
                        .collect::<Result<Vec<_>>>()?,
                    Args::Shell(s) => self.words(st, s, line)?,
                };
                let vm = st.rc().volumes.get_or_insert_with(BTreeMap::new);
                for v in &vols {
                    if v.is_empty() {
                        return Err(self.err(line, "VOLUME specified can not be an empty string"));
                    }
                    vm.insert(v.clone(), json!({}));
                }
                self.config_step(st, ins, &format!("VOLUME {vols:?}"));
            }
            "STOPSIGNAL" => {
                let s = self.word(st, &ins.text(), line)?;
                ins_::check_signal(&s).line(&self.file, line)?;
                st.rc().stop_signal = Some(s.clone());
                self.config_step(st, ins, &format!("STOPSIGNAL {s}"));
            }
            "CMD" | "ENTRYPOINT" => {
                let cmd = ins_::command(&ins.args, &st.shell);
                let cmd = if matches!(&ins.args, Args::Shell(s) if s.trim().is_empty()) {
                    Vec::new()
                } else {
                    cmd
                };
                if ins.keyword == "CMD" {
                    st.rc().cmd = Some(cmd.clone());
                    st.cmd_set = true;
                } else {
                    st.rc().entrypoint = Some(cmd.clone());
                    // Docker: a new ENTRYPOINT drops a CMD inherited from the base image.
                    if !st.cmd_set {
                        st.rc().cmd = None;
                    }
                }
                self.config_step(st, ins, &format!("{} {cmd:?} {}", ins.keyword, st.cmd_set));
            }
            "SHELL" => {
                let Args::Json(v) = &ins.args else {
                    return Err(self.err(line, "SHELL requires JSON form"));
                };
                st.shell = v.clone();
                st.rc().extra.insert("Shell".into(), json!(v));
                self.config_step(st, ins, &format!("SHELL {v:?}"));
            }
            "HEALTHCHECK" => {
                let hc = ins_::healthcheck(ins, &st.shell).line(&self.file, line)?;
                st.rc().extra.insert("Healthcheck".into(), hc.clone());
                self.config_step(st, ins, &format!("HEALTHCHECK {hc}"));
            }
            "ONBUILD" => {
                let t = ins.text();
                parser::parse_line(&self.file, line, &t, self.esc)?;
                let rc = st.rc();
                let list = rc
                    .extra
                    .entry("OnBuild".to_string())
                    .or_insert_with(|| json!([]));
                if let Value::Array(a) = list {
                    a.push(json!(t));
                }
                self.config_step(st, ins, &format!("ONBUILD {t}"));
            }
            "RUN" => self.run(st, ins)?,
            "COPY" | "ADD" => self.copy(st, ins)?,
            "FROM" => return Err(self.err(line, "FROM inside a stage")),
            k => return Err(self.err(line, format!("unknown instruction {k:?}"))),
        }
        Ok(())
    }

    /// A step that makes a layer: from the cache, or by `make` on the unpacked rootfs.
    fn layer_step(
        &mut self,
        st: &mut State,
        ins: &Instruction,
        desc: &str,
        make: &mut dyn FnMut(&mut Self, &mut State, &Path) -> Result<BuiltLayer>,
    ) -> Result<()> {
        let key = cache::key(&st.key, desc);
        let (layer, created) = match self.cache.get(self.store, &key) {
            Some(cache::Entry {
                layer: Some((d, diff)),
                created,
            }) => {
                self.progress.cached();
                (
                    BuiltLayer {
                        descriptor: d,
                        diff_id: diff,
                    },
                    created,
                )
            }
            _ => {
                let rootfs = self.rootfs(st)?;
                let l = make(self, st, &rootfs)?;
                let now = crate::util::rfc3339(crate::util::now_secs());
                self.cache.put(&key, Some(&l), &now);
                // Keep the unpacked rootfs current.
                let f = self.store.open_blob(&l.descriptor.digest)?;
                apply_layer(
                    &rootfs,
                    f,
                    l.descriptor.digest.as_str(),
                    &UnpackOptions::default(),
                )?;
                st.applied += 1;
                self.progress.done_layer(l.descriptor.size);
                (l, now)
            }
        };
        st.layers.push((layer.descriptor, layer.diff_id));
        st.config.history.push(json!({
            "created": created,
            "created_by": ins.original,
            "comment": "berth-image build",
        }));
        st.created = created;
        st.key = key;
        Ok(())
    }

    /// The stage's rootfs with all its layers applied (unpacked on first use).
    fn rootfs(&mut self, st: &mut State) -> Result<PathBuf> {
        let dir = match &st.rootfs {
            Some(d) => d.clone(),
            None => {
                let d = self
                    .scratch
                    .join(format!("rootfs-{}", crate::util::random_hex(6)));
                std::fs::create_dir_all(&d)
                    .map_err(|e| BuildError::other(format!("{}: {e}", d.display())))?;
                st.rootfs = Some(d.clone());
                st.applied = 0;
                d
            }
        };
        let opts = UnpackOptions::default();
        while st.applied < st.layers.len() {
            let (d, _) = &st.layers[st.applied];
            let f = self.store.open_blob(&d.digest)?;
            apply_layer(&dir, f, d.digest.as_str(), &opts)?;
            st.applied += 1;
        }
        Ok(dir)
    }

    fn run(&mut self, st: &mut State, ins: &Instruction) -> Result<()> {
        let text = ins.text();
        let args = match &ins.args {
            Args::Json(v) if ins.heredocs.is_empty() => v.clone(),
            _ => {
                let script = ins_::run_script(&text, ins);
                ins_::command(&Args::Shell(script), &st.shell)
            }
        };
        // Build-time variables: declared ARGs the ENV does not override, and proxies.
        let mut env: Vec<String> = Vec::new();
        let mut seen = BTreeSet::new();
        for (k, v) in st.args.iter().rev() {
            if st.env_get(k).is_none() && seen.insert(k.clone()) {
                env.push(format!("{k}={v}"));
            }
        }
        env.sort();
        let desc = format!("RUN {args:?} {env:?}");
        for p in PROXY_ARGS {
            if let Some(v) = self.build_args.get(*p) {
                if !seen.contains(*p) {
                    env.push(format!("{p}={v}"));
                    self.used_args.insert(p.to_string());
                }
            }
        }
        let line = ins.line;
        self.layer_step(st, ins, &desc, &mut |b, st, rootfs| {
            let rt = b.opts.runtime.clone().ok_or_else(|| {
                b.err(line, "the berth runtime was not found (next to berth-image or on PATH; use --runtime)")
            })?;
            let spec = runstep::RunSpec {
                args: args.clone(),
                extra_env: env.clone(),
                config: &st.config,
                runtime: &rt,
            };
            runstep::run(b.store, rootfs, &b.scratch, &spec, b.opts.compression)
                .map_err(|e| b.err(line, e))
        })
    }

    fn copy(&mut self, st: &mut State, ins: &Instruction) -> Result<()> {
        let line = ins.line;
        let add = ins.keyword == "ADD";
        let mut words = match &ins.args {
            Args::Json(v) => v
                .iter()
                .map(|s| self.word(st, s, line))
                .collect::<Result<Vec<_>>>()?,
            Args::Shell(s) => self.words(st, s, line)?,
        };
        let dest_raw = words.pop().unwrap_or_default();
        let joined = if dest_raw.starts_with('/') {
            dest_raw.clone()
        } else {
            format!("{}/{dest_raw}", st.workdir())
        };
        let as_dir = dest_raw.ends_with('/') || dest_raw == "." || dest_raw.ends_with("/.");
        let dest = format!(
            "/{}{}",
            super::dockerignore::clean(&joined),
            if as_dir { "/" } else { "" }
        );
        let mut inline = Vec::new();
        let mut srcs = Vec::new();
        for w in words {
            if let Some(h) = w.strip_prefix("<<") {
                let h = h.trim_start_matches('-').trim_matches(['"', '\'']);
                let Some(doc) = ins.heredocs.iter().find(|d| d.name == h) else {
                    return Err(self.err(line, format!("heredoc <<{h} has no body")));
                };
                let body = if doc.expand {
                    self.word(st, &doc.body.replace('"', "\\\""), line)
                        .unwrap_or_else(|_| doc.body.clone())
                } else {
                    doc.body.clone()
                };
                inline.push((h.to_string(), body));
                continue;
            }
            if add && (w.contains("://") || w.starts_with("git@")) {
                return Err(self.err(
                    line,
                    format!(
                        "ADD {w}: remote sources are not supported (this build has no network)"
                    ),
                ));
            }
            srcs.push(w);
        }
        let chown = match ins.flag("chown") {
            Some(c) => Some(self.word(st, c, line)?),
            None => None,
        };
        let chmod = match ins.flag("chmod") {
            Some(m) => Some(u32::from_str_radix(m, 8).map_err(|_| {
                self.err(
                    line,
                    format!("invalid --chmod={m}: only octal modes are supported"),
                )
            })?),
            None => None,
        };
        // Where the sources come from, and what identifies their content for the cache.
        let from = ins
            .flag("from")
            .map(|f| self.word(st, f, line))
            .transpose()?;
        let ident = match &from {
            None => {
                let sources = srcs
                    .iter()
                    .map(|s| self.context.expand(s))
                    .collect::<std::result::Result<Vec<_>, String>>()
                    .map_err(|e| self.err(line, e))?
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>();
                format!("context {}", context::hash_sources(&self.context, &sources))
            }
            Some(f) => {
                let cur = self.stages.len();
                match self
                    .stage_ref(f, cur)
                    .filter(|j| self.results[*j].is_some())
                {
                    Some(j) => {
                        let key = self.results[j].as_ref().map(|r| r.key.clone());
                        format!("stage {}", key.unwrap_or_default())
                    }
                    None => {
                        let img = self.store.image(f).map_err(|e| {
                            self.err(
                                line,
                                format!("--from={f}: not an earlier stage nor a local image: {e}"),
                            )
                        })?;
                        format!("image {}", img.manifest_digest)
                    }
                }
            }
        };
        let desc = format!(
            "{} {srcs:?} {inline:?} {dest} chown={chown:?} chmod={chmod:?} {ident}",
            ins.keyword
        );
        self.layer_step(st, ins, &desc, &mut |b, _st, rootfs| {
            // --from: the source rootfs is unpacked only now, on a miss.
            let other = match &from {
                Some(f) => Some(SourceTree::rootfs(&b.source_root(f, line)?)),
                None => None,
            };
            let t = other.as_ref().unwrap_or(&b.context);
            let sources = srcs
                .iter()
                .map(|s| t.expand(s))
                .collect::<std::result::Result<Vec<_>, String>>()
                .map_err(|e| b.err(line, e))?
                .into_iter()
                .flatten()
                .collect();
            let owner = match &chown {
                Some(c) => {
                    let u = crate::bundle::user::resolve(rootfs, c).map_err(|e| b.err(line, e))?;
                    Some((u.uid, u.gid))
                }
                None => None,
            };
            let plan = copy::Plan {
                tree: t,
                sources,
                inline: inline.clone(),
                dest: dest.clone(),
                owner,
                chmod,
                extract: add,
            };
            let mut l = LayerBuilder::new(b.store, b.opts.compression)?;
            copy::write(&mut l, rootfs, &b.scratch, &plan).map_err(|e| b.err(line, e))?;
            Ok(l.finish(b.store)?)
        })
    }

    /// The rootfs of the stage or store image `f` names (for COPY --from).
    fn source_root(&mut self, f: &str, line: usize) -> Result<PathBuf> {
        let cur = self.stages.len();
        if let Some(j) = self
            .stage_ref(f, cur)
            .filter(|j| self.results[*j].is_some())
        {
            let mut st = self.results[j]
                .take()
                .ok_or_else(|| self.err(line, "stage missing"))?;
            let r = self.rootfs(&mut st);
            self.results[j] = Some(st);
            return r;
        }
        let img = self.store.image(f).map_err(|e| self.err(line, e))?;
        let k = img.manifest_digest.to_string();
        if let Some(p) = self.image_roots.get(&k) {
            return Ok(p.clone());
        }
        let d = self
            .scratch
            .join(format!("image-{}", img.manifest_digest.hex()));
        crate::bundle::unpack_rootfs(self.store, &img, &d)?;
        self.image_roots.insert(k, d.clone());
        Ok(d)
    }
}

fn new_state(layers: Vec<(Descriptor, Digest)>, config: ImageConfig, key: String) -> State {
    let shell = config
        .config
        .as_ref()
        .and_then(|c| c.extra.get("Shell"))
        .and_then(|v| serde_json::from_value::<Vec<String>>(v.clone()).ok())
        .unwrap_or_else(|| DEFAULT_SHELL.iter().map(|s| s.to_string()).collect());
    State {
        layers,
        config,
        key,
        created: String::new(),
        rootfs: None,
        applied: 0,
        args: Vec::new(),
        shell,
        cmd_set: false,
    }
}

impl<'a> Builder<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: &'a Store,
        opts: &'a BuildOptions,
        file: String,
        esc: char,
        progress: Progress,
        global_args: Vec<(String, String)>,
        build_args: BTreeMap<String, String>,
        stages: Vec<Stage>,
        scratch: PathBuf,
        context: SourceTree,
    ) -> Self {
        let n = stages.len();
        Builder {
            store,
            opts,
            file,
            esc,
            cache: Cache::open(store, !opts.no_cache),
            progress,
            global_args,
            build_args,
            used_args: BTreeSet::new(),
            stages,
            results: (0..n).map(|_| None).collect(),
            scratch,
            context,
            image_roots: BTreeMap::new(),
        }
    }
}
