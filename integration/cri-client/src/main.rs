//! A small CRI client for integration/cri.sh (there is no crictl on Debian 12): drives
//! containerd's CRI plugin over the CRI gRPC API (runtime.v1) through one pod lifecycle
//! on a given runtime handler (RuntimeClass), printing `PASS <step>` / `FAIL <step>: <why>`
//! per step, `POD <id>` / `CTR <id>` as the ids become known, and `N passed, N failed`.
//!
//! Usage: berth-cri-client --socket PATH [--handler berth] [--image busybox:it]
//!        [--log-dir DIR] [--pause-image NAME] [--cgroup-parent SLICE] [--hold FILE]
//! `--memory BYTES`: the container's memory limit. `--cgroup-parent`: the pod's cgroup parent (a kubelet with the systemd driver gives a
//! slice such as `kubepods-besteffort-pod<uid>.slice`). `--hold FILE`: once the container
//! started, create FILE and wait (up to 120 s) until the caller removes it, so that it can
//! look at the running pod.
//! Never pulls: the images must already be in containerd's `k8s.io` namespace.
//! Exit status: 0 when every step passed, 1 otherwise, 2 on bad usage.
//!
//! `berth-cri-client bench ...`: pods started for bench/cri.py (see bench.rs).

mod bench;

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};
use tower::service_fn;

const CALL_TIMEOUT: Duration = Duration::from_secs(60);

struct Args {
    socket: String,
    handler: String,
    image: String,
    pause_image: Option<String>,
    log_dir: String,
    cgroup_parent: String,
    hold: Option<String>,
    memory: i64,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        socket: String::new(),
        handler: "berth".into(),
        image: "docker.io/library/busybox:it".into(),
        pause_image: None,
        log_dir: "/tmp".into(),
        cgroup_parent: String::new(),
        hold: None,
        memory: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or_else(|| anyhow!("{k} needs a value"));
        match k.as_str() {
            "--socket" => a.socket = v()?,
            "--handler" => a.handler = v()?,
            "--image" => a.image = v()?,
            "--pause-image" => a.pause_image = Some(v()?),
            "--log-dir" => a.log_dir = v()?,
            "--cgroup-parent" => a.cgroup_parent = v()?,
            "--hold" => a.hold = Some(v()?),
            "--memory" => a.memory = v()?.parse().context("--memory BYTES")?,
            _ => bail!("unknown argument {k}"),
        }
    }
    if a.socket.is_empty() {
        bail!("--socket PATH is required");
    }
    Ok(a)
}

struct Report {
    passed: u32,
    failed: u32,
}

impl Report {
    fn result<T>(&mut self, step: &str, r: Result<T>) -> Option<T> {
        match r {
            Ok(v) => {
                self.passed += 1;
                println!("PASS {step}");
                Some(v)
            }
            Err(e) => {
                self.failed += 1;
                println!("FAIL {step}: {}", format!("{e:#}").replace('\n', " "));
                None
            }
        }
    }
    fn not_run(&mut self, step: &str, why: &str) {
        self.failed += 1;
        println!("FAIL {step}: not run ({why})");
    }
}

/// One gRPC call with a deadline; the gRPC status (code + message) becomes the error.
async fn call<T>(
    what: &str,
    f: impl Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T> {
    match tokio::time::timeout(CALL_TIMEOUT, f).await {
        Err(_) => bail!("{what}: no answer in {} s", CALL_TIMEOUT.as_secs()),
        Ok(Err(s)) => bail!("{what}: gRPC {:?}: {}", s.code(), s.message()),
        Ok(Ok(r)) => Ok(r.into_inner()),
    }
}

async fn connect(socket: &str) -> Result<Channel> {
    let path = socket.to_string();
    let ep = Endpoint::try_from("http://[::]:50051")?;
    let ch = ep.connect_with_connector(service_fn(move |_: Uri| {
        let path = path.clone();
        async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
    }));
    tokio::time::timeout(Duration::from_secs(10), ch)
        .await
        .map_err(|_| anyhow!("connect {socket}: timed out"))?
        .with_context(|| format!("connect {socket}"))
}

fn host_network() -> NamespaceOption {
    NamespaceOption {
        network: NamespaceMode::Node as i32,
        // kubelet's default (no shareProcessNamespace): each container its own pid ns.
        pid: NamespaceMode::Container as i32,
        ipc: NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

fn pod_config(a: &Args) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: "hello-berth".into(),
            uid: format!("berth-it-{}", std::process::id()),
            namespace: "default".into(),
            attempt: 0,
        }),
        log_directory: a.log_dir.clone(),
        labels: HashMap::from([("app".into(), "berth-it".into())]),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: a.cgroup_parent.clone(),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(host_network()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn container_config(a: &Args) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: "c".into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: a.image.clone(),
            ..Default::default()
        }),
        command: vec!["sh".into(), "-c".into()],
        // SIGTERM ends it with status 0 (StopContainer's graceful path); it logs a line.
        args: vec![
            "trap 'exit 0' TERM; echo hello-from-berth-cri; while :; do sleep 0.1; done".into(),
        ],
        log_path: "c.log".into(),
        linux: Some(LinuxContainerConfig {
            resources: (a.memory > 0).then(|| LinuxContainerResources {
                memory_limit_in_bytes: a.memory,
                ..Default::default()
            }),
            security_context: Some(LinuxContainerSecurityContext {
                namespace_options: Some(host_network()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn run(a: Args) -> Result<Report> {
    let mut rep = Report {
        passed: 0,
        failed: 0,
    };
    let ch = connect(&a.socket).await?;
    let mut rt = RuntimeServiceClient::new(ch.clone());
    let mut img = ImageServiceClient::new(ch);

    // Version: the CRI server answers.
    let r = call(
        "Version",
        rt.version(VersionRequest {
            version: "v1".into(),
        }),
    )
    .await;
    let r = r.and_then(|v| {
        if v.runtime_name != "containerd" {
            bail!("runtime_name {:?}", v.runtime_name);
        }
        eprintln!(
            "cri: {} {} api {}",
            v.runtime_name, v.runtime_version, v.runtime_api_version
        );
        Ok(())
    });
    rep.result("Version (CRI over gRPC)", r);

    // The images are local (imported with ctr -n k8s.io): never pulled.
    let mut images = vec![a.image.clone()];
    images.extend(a.pause_image.clone());
    for name in images {
        let r = call(
            "ImageStatus",
            img.image_status(ImageStatusRequest {
                image: Some(ImageSpec {
                    image: name.clone(),
                    ..Default::default()
                }),
                verbose: false,
            }),
        )
        .await
        .and_then(|s| {
            s.image
                .map(|_| ())
                .ok_or_else(|| anyhow!("{name} is not in the k8s.io namespace"))
        });
        rep.result(&format!("ImageStatus {name} (local, no pull)"), r);
    }

    let pod_cfg = pod_config(&a);
    let step = format!(
        "RunPodSandbox (runtime handler {}, host network)",
        a.handler
    );
    let r = call(
        "RunPodSandbox",
        rt.run_pod_sandbox(RunPodSandboxRequest {
            config: Some(pod_cfg.clone()),
            runtime_handler: a.handler.clone(),
        }),
    )
    .await
    .map(|r| r.pod_sandbox_id);
    let Some(pod) = rep.result(&step, r) else {
        for s in [
            "PodSandboxStatus",
            "CreateContainer",
            "StartContainer",
            "ContainerStatus",
            "ExecSync",
            "StopContainer",
            "RemoveContainer",
            "StopPodSandbox",
            "RemovePodSandbox",
        ] {
            rep.not_run(s, "no pod");
        }
        return Ok(rep);
    };
    println!("POD {pod}");

    // PodSandboxStatus: ready, and containerd says which handler / runtime type serves it.
    let r = call(
        "PodSandboxStatus",
        rt.pod_sandbox_status(PodSandboxStatusRequest {
            pod_sandbox_id: pod.clone(),
            verbose: true,
        }),
    )
    .await
    .and_then(|s| {
        let st = s.status.ok_or_else(|| anyhow!("no status"))?;
        if st.state != PodSandboxState::SandboxReady as i32 {
            bail!("state {:?}, want SANDBOX_READY", st.state);
        }
        let info = s.info.get("info").cloned().unwrap_or_default();
        // containerd 1.6 names the handler in the info; 2.x only the runtime type.
        let mut wants = vec!["io.containerd.berth.v2".to_string()];
        if info.contains("\"runtimeHandler\"") {
            wants.push(format!("\"runtimeHandler\":\"{}\"", a.handler));
        }
        for want in wants {
            if !info.contains(&want) {
                bail!(
                    "verbose info lacks {want}: {}",
                    info.chars().take(400).collect::<String>()
                );
            }
        }
        Ok(())
    });
    rep.result(
        "PodSandboxStatus (SANDBOX_READY, runtimeType io.containerd.berth.v2)",
        r,
    );

    let r = call(
        "CreateContainer",
        rt.create_container(CreateContainerRequest {
            pod_sandbox_id: pod.clone(),
            config: Some(container_config(&a)),
            sandbox_config: Some(pod_cfg.clone()),
        }),
    )
    .await
    .map(|r| r.container_id);
    let ctr = rep.result("CreateContainer (busybox)", r);
    if let Some(c) = &ctr {
        println!("CTR {c}");
        let started = call(
            "StartContainer",
            rt.start_container(StartContainerRequest {
                container_id: c.clone(),
            }),
        )
        .await
        .map(|_| ());
        let started = rep.result("StartContainer", started).is_some();
        if let (true, Some(hold)) = (started, &a.hold) {
            let _ = std::fs::write(hold, c);
            for _ in 0..1200 {
                if !std::path::Path::new(hold).exists() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }

        // Running, and its first line reached the CRI log (stdio through the shim).
        let r = async {
            let mut last = String::new();
            for _ in 0..50 {
                let s = call(
                    "ContainerStatus",
                    rt.container_status(ContainerStatusRequest {
                        container_id: c.clone(),
                        verbose: false,
                    }),
                )
                .await?
                .status
                .ok_or_else(|| anyhow!("no status"))?;
                let log = std::fs::read_to_string(&s.log_path).unwrap_or_default();
                if s.state == ContainerState::ContainerRunning as i32
                    && log.contains("hello-from-berth-cri")
                {
                    return Ok(());
                }
                last = format!("state {}, log {:?}: {:?}", s.state, s.log_path, log);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            bail!("not running with its output logged: {last}")
        }
        .await;
        rep.result(
            "ContainerStatus (CONTAINER_RUNNING, output in the CRI log)",
            r,
        );

        let exec = |cmd: &str| ExecSyncRequest {
            container_id: c.clone(),
            cmd: vec!["sh".into(), "-c".into(), cmd.into()],
            timeout: 30,
        };
        let r = call(
            "ExecSync",
            rt.exec_sync(exec("echo exec-ok; cat /proc/1/cmdline | tr '\\0' ' '")),
        )
        .await
        .and_then(|r| {
            let out = String::from_utf8_lossy(&r.stdout);
            if r.exit_code != 0 || !out.starts_with("exec-ok\nsh -c trap") {
                bail!(
                    "exit {} stdout {:?} stderr {:?}",
                    r.exit_code,
                    out,
                    String::from_utf8_lossy(&r.stderr)
                );
            }
            Ok(())
        });
        rep.result("ExecSync (stdout, exit code 0)", r);
        let r = call("ExecSync", rt.exec_sync(exec("echo to-stderr >&2; exit 3")))
            .await
            .and_then(|r| {
                if r.exit_code != 3 || String::from_utf8_lossy(&r.stderr) != "to-stderr\n" {
                    bail!(
                        "exit {} stderr {:?}",
                        r.exit_code,
                        String::from_utf8_lossy(&r.stderr)
                    );
                }
                Ok(())
            });
        rep.result("ExecSync (stderr, exit code 3)", r);

        // StopContainer: SIGTERM (the trap exits 0) within the 10 s grace period.
        let r = async {
            call(
                "StopContainer",
                rt.stop_container(StopContainerRequest {
                    container_id: c.clone(),
                    timeout: 10,
                }),
            )
            .await?;
            let s = call(
                "ContainerStatus",
                rt.container_status(ContainerStatusRequest {
                    container_id: c.clone(),
                    verbose: false,
                }),
            )
            .await?
            .status
            .ok_or_else(|| anyhow!("no status"))?;
            if s.state != ContainerState::ContainerExited as i32 || (started && s.exit_code != 0) {
                bail!(
                    "after stop: state {} exit code {} reason {:?}",
                    s.state,
                    s.exit_code,
                    s.reason
                );
            }
            Ok(())
        }
        .await;
        rep.result(
            "StopContainer (CONTAINER_EXITED, exit code 0 from SIGTERM)",
            r,
        );

        let r = async {
            call(
                "RemoveContainer",
                rt.remove_container(RemoveContainerRequest {
                    container_id: c.clone(),
                }),
            )
            .await?;
            let l = call(
                "ListContainers",
                rt.list_containers(ListContainersRequest { filter: None }),
            )
            .await?;
            if l.containers.iter().any(|x| &x.id == c) {
                bail!("still listed after RemoveContainer");
            }
            Ok(())
        }
        .await;
        rep.result("RemoveContainer", r);
    } else {
        for s in [
            "StartContainer",
            "ContainerStatus",
            "ExecSync",
            "StopContainer",
            "RemoveContainer",
        ] {
            rep.not_run(s, "no container");
        }
    }

    let r = async {
        call(
            "StopPodSandbox",
            rt.stop_pod_sandbox(StopPodSandboxRequest {
                pod_sandbox_id: pod.clone(),
            }),
        )
        .await?;
        let s = call(
            "PodSandboxStatus",
            rt.pod_sandbox_status(PodSandboxStatusRequest {
                pod_sandbox_id: pod.clone(),
                verbose: false,
            }),
        )
        .await?
        .status
        .ok_or_else(|| anyhow!("no status"))?;
        if s.state != PodSandboxState::SandboxNotready as i32 {
            bail!("after stop: state {}", s.state);
        }
        Ok(())
    }
    .await;
    rep.result("StopPodSandbox (SANDBOX_NOTREADY)", r);

    let r = async {
        call(
            "RemovePodSandbox",
            rt.remove_pod_sandbox(RemovePodSandboxRequest {
                pod_sandbox_id: pod.clone(),
            }),
        )
        .await?;
        let l = call(
            "ListPodSandbox",
            rt.list_pod_sandbox(ListPodSandboxRequest { filter: None }),
        )
        .await?;
        if l.items.iter().any(|x| x.id == pod) {
            bail!("still listed after RemovePodSandbox");
        }
        Ok(())
    }
    .await;
    rep.result("RemovePodSandbox", r);
    Ok(rep)
}

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth-cri-client: tokio: {e}");
            std::process::exit(1);
        }
    }
}

fn bench_main() -> ! {
    let args = match bench::parse(std::env::args().skip(2)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("berth-cri-client bench: {e:#}");
            std::process::exit(2);
        }
    };
    if let Err(e) = runtime().block_on(bench::run(args)) {
        eprintln!("berth-cri-client bench: {e:#}");
        std::process::exit(1);
    }
    std::process::exit(0);
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("bench") {
        bench_main();
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("berth-cri-client: {e:#}");
            std::process::exit(2);
        }
    };
    let rep = match runtime().block_on(run(args)) {
        Ok(r) => r,
        Err(e) => {
            println!("FAIL CRI connection: {e:#}");
            Report {
                passed: 0,
                failed: 1,
            }
        }
    };
    println!("{} passed, {} failed", rep.passed, rep.failed);
    std::process::exit(if rep.failed == 0 { 0 } else { 1 });
}
