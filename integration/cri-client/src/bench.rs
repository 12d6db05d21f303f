//! `berth-cri-client bench`: starts pods through the CRI for bench/cri.py, which measures
//! containerd's and the shims' cpu and memory between the steps. The caller paces it over
//! stdin/stdout so that its readings bracket exactly the start:
//!
//!   → `READY`               connected; waits for a line on stdin
//!   → `STARTED <seconds>`   every pod and container started (wall of the start alone);
//!                           waits for a line on stdin
//!   → `DONE`                every pod stopped and removed
//!
//! `--pods P --containers N --parallel K`: P pods of N containers each (`sleep`). With
//! one pod, its containers are created and started K at a time; with several, whole pods
//! (RunPodSandbox, then their containers in turn) K at a time. Errors go to stderr and
//! end the run with status 1 after the pods made so far are removed.

use std::collections::VecDeque;
use std::io::BufRead;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use tonic::transport::Channel;

use crate::{call, connect, host_network};

pub struct BenchArgs {
    socket: String,
    handler: String,
    image: String,
    log_dir: String,
    pods: usize,
    containers: usize,
    parallel: usize,
}

pub fn parse(mut it: impl Iterator<Item = String>) -> Result<BenchArgs> {
    let mut a = BenchArgs {
        socket: String::new(),
        handler: "berth".into(),
        image: "docker.io/library/busybox:it".into(),
        log_dir: "/tmp".into(),
        pods: 1,
        containers: 1,
        parallel: 1,
    };
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or_else(|| anyhow!("{k} needs a value"));
        let mut n = |what: &str| -> Result<usize> {
            let n: usize = v()?.parse().with_context(|| format!("{what} N"))?;
            if n == 0 {
                bail!("{what} must be at least 1");
            }
            Ok(n)
        };
        match k.as_str() {
            "--socket" => a.socket = v()?,
            "--handler" => a.handler = v()?,
            "--image" => a.image = v()?,
            "--log-dir" => a.log_dir = v()?,
            "--pods" => a.pods = n("--pods")?,
            "--containers" => a.containers = n("--containers")?,
            "--parallel" => a.parallel = n("--parallel")?,
            _ => bail!("unknown argument {k}"),
        }
    }
    if a.socket.is_empty() {
        bail!("--socket PATH is required");
    }
    Ok(a)
}

fn pod_config(a: &BenchArgs, i: usize) -> PodSandboxConfig {
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: format!("bench-{i}"),
            uid: format!("berth-bench-{}-{i}", std::process::id()),
            namespace: "default".into(),
            attempt: 0,
        }),
        log_directory: a.log_dir.clone(),
        linux: Some(LinuxPodSandboxConfig {
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(host_network()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn container_config(a: &BenchArgs, i: usize) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: format!("c{i}"),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: a.image.clone(),
            ..Default::default()
        }),
        command: vec!["/bin/sleep".into(), "1000000".into()],
        log_path: format!("c{i}.log"),
        linux: Some(LinuxContainerConfig {
            security_context: Some(LinuxContainerSecurityContext {
                namespace_options: Some(host_network()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn run_pod(
    rt: &mut RuntimeServiceClient<Channel>,
    a: &BenchArgs,
    i: usize,
) -> Result<(String, PodSandboxConfig)> {
    let config = pod_config(a, i);
    let pod = call(
        "RunPodSandbox",
        rt.run_pod_sandbox(RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: a.handler.clone(),
        }),
    )
    .await?
    .pod_sandbox_id;
    Ok((pod, config))
}

async fn start_container(
    rt: &mut RuntimeServiceClient<Channel>,
    a: &BenchArgs,
    pod: &str,
    pod_config: &PodSandboxConfig,
    i: usize,
) -> Result<()> {
    let id = call(
        "CreateContainer",
        rt.create_container(CreateContainerRequest {
            pod_sandbox_id: pod.to_string(),
            config: Some(container_config(a, i)),
            sandbox_config: Some(pod_config.clone()),
        }),
    )
    .await?
    .container_id;
    call(
        "StartContainer",
        rt.start_container(StartContainerRequest { container_id: id }),
    )
    .await
    .map(|_| ())
}

/// Runs `job` on the items of `queue`, `parallel` at a time, over clones of one channel.
async fn in_parallel<T, F, Fut>(
    rt: &RuntimeServiceClient<Channel>,
    parallel: usize,
    queue: VecDeque<T>,
    job: F,
) -> Result<()>
where
    T: Send + 'static,
    F: Fn(RuntimeServiceClient<Channel>, T) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send + 'static,
{
    let queue = Arc::new(Mutex::new(queue));
    let mut workers = Vec::new();
    for _ in 0..parallel {
        let (queue, job, rt) = (queue.clone(), job.clone(), rt.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let next = queue
                    .lock()
                    .map_err(|_| anyhow!("queue poisoned"))?
                    .pop_front();
                match next {
                    Some(item) => job(rt.clone(), item).await?,
                    None => return Ok::<(), anyhow::Error>(()),
                }
            }
        }));
    }
    let mut first_err = None;
    for w in workers {
        let r = w.await.map_err(|e| anyhow!("worker: {e}")).and_then(|r| r);
        if let (Err(e), None) = (r, &first_err) {
            first_err = Some(e);
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// Off the runtime's only thread, so that the connection keeps being served meanwhile.
async fn wait_for_line() -> Result<()> {
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map(|_| ())
    })
    .await
    .map_err(|e| anyhow!("stdin: {e}"))?
    .context("stdin")
}

pub async fn run(a: BenchArgs) -> Result<()> {
    let a = Arc::new(a);
    let rt = RuntimeServiceClient::new(connect(&a.socket).await?);
    println!("READY");
    wait_for_line().await?;

    let pods: Arc<Mutex<Vec<String>>> = Arc::default();
    let t0 = Instant::now();
    let started = if a.pods == 1 {
        let (pod, config) = run_pod(&mut rt.clone(), &a, 0).await?;
        pods.lock()
            .map_err(|_| anyhow!("poisoned"))?
            .push(pod.clone());
        let (a2, pod, config) = (a.clone(), Arc::new(pod), Arc::new(config));
        in_parallel(
            &rt,
            a.parallel,
            (0..a.containers).collect(),
            move |mut rt, i| {
                let (a, pod, config) = (a2.clone(), pod.clone(), config.clone());
                async move { start_container(&mut rt, &a, &pod, &config, i).await }
            },
        )
        .await
    } else {
        let (a2, pods2) = (a.clone(), pods.clone());
        in_parallel(&rt, a.parallel, (0..a.pods).collect(), move |mut rt, p| {
            let (a, pods) = (a2.clone(), pods2.clone());
            async move {
                let (pod, config) = run_pod(&mut rt, &a, p).await?;
                pods.lock()
                    .map_err(|_| anyhow!("poisoned"))?
                    .push(pod.clone());
                for i in 0..a.containers {
                    start_container(&mut rt, &a, &pod, &config, i).await?;
                }
                Ok(())
            }
        })
        .await
    };
    let wall = t0.elapsed().as_secs_f64();
    if started.is_ok() {
        println!("STARTED {wall:.6}");
        wait_for_line().await?;
    }

    let made: VecDeque<String> = pods
        .lock()
        .map_err(|_| anyhow!("poisoned"))?
        .drain(..)
        .collect();
    let removed = in_parallel(&rt, a.parallel, made, |mut rt, pod: String| async move {
        call(
            "StopPodSandbox",
            rt.stop_pod_sandbox(StopPodSandboxRequest {
                pod_sandbox_id: pod.clone(),
            }),
        )
        .await?;
        call(
            "RemovePodSandbox",
            rt.remove_pod_sandbox(RemovePodSandboxRequest {
                pod_sandbox_id: pod,
            }),
        )
        .await
        .map(|_| ())
    })
    .await;
    started?;
    removed?;
    println!("DONE");
    Ok(())
}
