//! Concurrent commands on one container id: the state dir's `mkdir` reserves the id and
//! a lock serialises the commands that change a container.

use std::process::Stdio;

use berth_tests::*;

/// A runtime command started without waiting. Its stderr goes to a file: a pipe would be
/// held open by the container init it creates.
struct Running {
    child: std::process::Child,
    stderr: std::path::PathBuf,
}

impl Running {
    fn finish(mut self) -> (bool, String) {
        let ok = self.child.wait().unwrap().success();
        let err = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let _ = std::fs::remove_file(&self.stderr);
        (ok, err)
    }
}

fn spawn(rt: &Runtime, args: &[&str]) -> Running {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let stderr = rt.work().join(format!("concurrent-err-{n}"));
    let mut cmd = rt.command(args);
    cmd.stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap());
    Running {
        child: cmd.spawn().unwrap(),
        stderr,
    }
}

berth_only_test!(
    concurrent_create_same_id_one_wins,
    "runc 1.1.5 loses this race: a losing create's cleanup removes the winner's state dir",
    |rt| {
        for round in 0..5 {
            let mut b = Bundle::new();
            b.args(&["sleep", "1000"]);
            b.write();
            let bundle = b.path().to_str().unwrap().to_string();
            let id = rt.id(&format!("race{round}"));
            let children: Vec<_> = (0..3)
                .map(|_| spawn(rt, &["create", "--bundle", &bundle, &id]))
                .collect();
            let outcomes: Vec<_> = children.into_iter().map(Running::finish).collect();
            let winners = outcomes.iter().filter(|(ok, _)| *ok).count();
            assert_eq!(
                winners, 1,
                "exactly one create of {id} must win: {outcomes:?}"
            );
            for (_, err) in outcomes.iter().filter(|(ok, _)| !*ok) {
                assert!(err.contains("already exists"), "{err}");
            }
            assert_eq!(rt.status(&id), "created");
            rt.delete_force(&id).ok();
            assert!(rt.root_entries().is_empty(), "{:?}", rt.root_entries());
        }
    }
);

runtime_test!(delete_racing_kill_leaves_nothing, |rt| {
    for round in 0..5 {
        let mut b = Bundle::new();
        b.args(&["sleep", "1000"]);
        let id = rt.id(&format!("dk{round}"));
        rt.create(&id, &b).ok();
        rt.start(&id).ok();
        let kill = spawn(rt, &["kill", &id, "KILL"]);
        let delete = spawn(rt, &["delete", "--force", &id]);
        let _ = kill.finish();
        let (deleted, err) = delete.finish();
        assert!(deleted, "{err}");
        assert!(rt.root_entries().is_empty(), "{:?}", rt.root_entries());
    }
});

berth_only_test!(
    list_while_containers_come_and_go,
    "runc 1.1.5's list fails with `stat <root>/<id>: no such file or directory` when a container goes away mid-listing",
    |rt| {
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.write();
    let bundle = b.path().to_str().unwrap().to_string();
    let churn: Vec<_> = (0..6)
        .map(|i| {
            let id = rt.id(&format!("churn{i}"));
            spawn(rt, &["run", "--bundle", &bundle, &id])
        })
        .collect();
    for _ in 0..20 {
        let out = rt.list(&["--format", "json"]).ok();
        let parsed: Value = serde_json::from_str(out.stdout.trim()).expect("list output is JSON");
        assert!(parsed.is_null() || parsed.is_array(), "{parsed}");
    }
    for c in churn {
        let (ok, err) = c.finish();
        assert!(ok, "{err}");
    }
    assert!(rt.root_entries().is_empty(), "{:?}", rt.root_entries());
    }
);
