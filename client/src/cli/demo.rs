//! `rollcall`'s commands for the README's main job: a whole province on this machine: their arguments and their wiring, next to each other.
//! Each command builds its request, calls the node (or the laptop's own node) through the
//! backend and prints the answer; the logic lives in the library (`rollcall_client`).

#![allow(clippy::wildcard_imports)]

use crate::*;

#[derive(Subcommand)]
pub(crate) enum DemoCommand {
    /// 本机演示：一个省的真实节点层级与数据，Ctrl-C 停止 / a whole province of real nodes on this machine; Ctrl-C stops it.
    #[command(
        after_help = "示例 / Example:\n  rollcall demo                      # 2 所高校、8 个党支部、320 名党员\n  rollcall demo --size toy --exit-when-ready"
    )]
    Demo {
        /// 演示目录（将被清空）/ the demo's directory (emptied first).
        #[arg(long, default_value = "target/demo")]
        dir: PathBuf,
        /// 规模：toy | demo | province / size.
        #[arg(long, default_value = "demo")]
        size: String,
        /// 随机种子 / seed.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// 年度 / the campaign year.
        #[arg(long, default_value_t = 2026)]
        year: i32,
        /// 准备好后即停止（测试用）/ stop once ready (for tests).
        #[arg(long)]
        exit_when_ready: bool,
    },
}

/// Runs one of these commands.
pub(crate) async fn run(command: DemoCommand, lang: Lang) -> ExitCode {
    match command {
        DemoCommand::Demo { dir, size, seed, year, exit_when_ready } => {
            demo(lang, &dir, &size, seed, year, exit_when_ready).await
        }
    }
}

/// Runs the demo province until Ctrl-C (or until ready, with `exit_when_ready`).
async fn demo(lang: Lang, dir: &std::path::Path, size: &str, seed: u64, year: i32, exit_when_ready: bool) -> ExitCode {
    use rollcall_client::demo;
    let Some(scale) = rollcall_client::generate::Scale::preset(size, seed) else {
        return fail(&format!("--size {size:?}: toy | demo | province"), 2);
    };
    let marker = dir.join(".rollcall-demo");
    if dir.exists() && !marker.exists() && std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return fail(
            &format!(
                "{} {}",
                dir.display(),
                lang.pick("不是演示目录，不会清空它", "is not a demo directory; it will not be emptied")
            ),
            2,
        );
    }
    let _ = std::fs::remove_dir_all(dir);
    if let Err(error) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&marker, "rollcall demo\n")) {
        return fail(&error, 1);
    }
    let started = std::time::Instant::now();
    let say = |text: &str| eprintln!("demo: {text}");
    say(&format!("{} {}", lang.pick("启动节点，规模", "starting nodes, size"), size));
    let cluster = match demo::start_hierarchy(dir, &scale, &|line| eprintln!("  {line}")) {
        Ok(cluster) => cluster,
        Err(error) => return fail(&error, 1),
    };
    say(lang.pick(
        "加载数据（经各节点 API，逐级办理处置程序）",
        "loading data through each node's API, dispositions step by step at their levels",
    ));
    let events = match demo::load(&cluster, &scale, year, &|line| eprintln!("  {line}")).await {
        Ok(events) => events,
        Err(error) => return fail(&error, 1),
    };
    say(lang.pick("党支部书记笔记本离线记录后同步", "a branch secretary's laptop records offline, then syncs"));
    let laptop = match demo::laptop(dir, &cluster) {
        Ok(laptop) => laptop,
        Err(error) => return fail(&error, 1),
    };
    if let Err(error) = demo::wait_converged(&cluster).await {
        return fail(&error, 1);
    }
    let province = cluster.nodes[0].dir.display().to_string();
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("rollcall"));
    let shown = std::process::Command::new(&exe)
        .args(["--lang", if lang == Lang::Zh { "zh" } else { "en" }, "table", "2", "--node-dir", &province])
        .output();
    if let Ok(output) = shown {
        print!("{}", String::from_utf8_lossy(&output.stdout));
    }
    for command in [&["deadlines"][..], &["report", "list"][..]] {
        let shown = std::process::Command::new(&exe)
            .args(["--lang", if lang == Lang::Zh { "zh" } else { "en" }])
            .args(command)
            .args(["--node-dir", &province])
            .output();
        if let Ok(output) = shown {
            print!("{}", String::from_utf8_lossy(&output.stdout));
        }
    }
    println!();
    println!(
        "{} {} {} {events} {}，{:.1} s",
        lang.pick("就绪：", "ready:"),
        cluster.nodes.len(),
        lang.pick("个节点，", "nodes,"),
        lang.pick("个事件", "events"),
        started.elapsed().as_secs_f64()
    );
    for node in &cluster.nodes {
        let name = rollcall_client::generate::unit_name(&node.unit).short_name;
        println!(
            "  {} {} {}  {}  {}",
            left(node.level.name_zh(), 6),
            left(&name, 30),
            left(node.unit.as_str(), 16),
            node.address,
            node.dir.display()
        );
    }
    println!("  {:<10} {:<22} {}", lang.pick("笔记本", "laptop"), "", laptop.display());
    if let Some(url) = &cluster.nodes[0].dashboard {
        let operator =
            rollcall_server::config::read_key(&cluster.nodes[0].dir.join(rollcall_server::config::OPERATOR_KEY_FILE));
        let node_key = std::fs::read_to_string(cluster.nodes[0].dir.join("replica.pub"))
            .ok()
            .and_then(|t| ReplicaId::from_hex(t.trim()).ok());
        if let (Ok(operator), Some(node_key)) = (operator, node_key) {
            let token = rollcall_server::dashboard::token(
                &operator,
                node_key,
                rollcall_server::writer::now_ms() + 12 * 3_600_000,
            );
            println!(
                "{} {url}#token={token}",
                lang.pick("看板（凭证 12 小时有效）：", "dashboard (credential valid 12 hours):")
            );
            println!("{} {url}metrics", lang.pick("Prometheus 指标：", "Prometheus metrics:"));
        }
    }
    println!("{}", lang.pick("试试 / try:", "try:"));
    println!("  {} rollup --node-dir {province}", exe.display());
    println!("  {} table 1 --node-dir {province} --out 表1.xlsx", exe.display());
    println!("  {} member list --dir {} --lost", exe.display(), laptop.display());
    println!("  {} report list --node-dir {province}", exe.display());
    println!("  {} findings --node-dir {province}", exe.display());
    if let Some(case_id) = demo_case(&exe, &province) {
        let root = std::fs::read_to_string(cluster.nodes[0].dir.join("replica.pub")).unwrap_or_default();
        println!("  {} case dossier --node-dir {province} --case {case_id} --out 案卷.zip", exe.display());
        println!("  {} verify dossier 案卷.zip --root {} --summary", exe.display(), root.trim());
    }
    // Stop on a blocking thread: this runtime must keep running so that our own idle
    // connections answer the nodes' graceful shutdown.
    let stop = |cluster: rollcall_client::demo::Cluster| {
        tokio::task::spawn_blocking(move || cluster.stop(std::time::Duration::from_secs(30)))
    };
    if exit_when_ready {
        let clean = stop(cluster).await.unwrap_or(0);
        say(&format!("{} {clean}", lang.pick("已停止，正常退出的节点", "stopped; nodes that exited cleanly:")));
        return ExitCode::SUCCESS;
    }
    say(lang.pick("节点保持运行；按 Ctrl-C 停止", "the nodes keep running; press Ctrl-C to stop"));
    let _ = tokio::signal::ctrl_c().await;
    let total = cluster.nodes.len();
    let clean = stop(cluster).await.unwrap_or(0);
    say(&format!("{} {clean}/{total}", lang.pick("已停止", "stopped")));
    ExitCode::SUCCESS
}

/// A case of the demo worth a dossier: the one furthest along (filed, in its correction
/// period, approved, voted, else any open one), asked of the province as a person would:
/// the members with such a case, then the first one's cases.
fn demo_case(exe: &std::path::Path, province: &str) -> Option<String> {
    let ask = |args: &[&str]| -> Option<serde_json::Value> {
        let output =
            std::process::Command::new(exe).args(args).args(["--node-dir", province, "--json"]).output().ok()?;
        serde_json::from_slice(&output.stdout).ok()
    };
    ["filed", "correction_period", "approved", "voted", "open"].into_iter().find_map(|stage| {
        let listed = ask(&["member", "list", "--stage", stage, "--limit", "1"])?;
        let member = listed["members"][0]["member_id"].as_str()?.to_string();
        let shown = ask(&["member", "show", &member])?;
        let cases = shown["cases"].as_array()?;
        let wanted = cases.iter().find(|case| stage == "open" || case["stage"] == stage).or(cases.first())?;
        wanted["case_id"].as_str().map(str::to_string)
    })
}
