//! The dashboard in a real browser (issue 6): headless Chromium (Debian's `chromium`
//! and `chromium-driver`, installed by deploy/setup.sh) loads a province node's
//! dashboard, shows the deadlines and a rollup number equal to the node's API, and
//! after an event is appended through the API shows the new number within 2 seconds
//! without a reload. A screenshot is kept (`target/tmp/dashboard.png`). Without a
//! credential the API refuses with a clear message and the page asks for one;
//! /metrics answers in the Prometheus text format.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rollcall_tests::{NodeProcess, init_node, rollcall, rollcall_json, wait_until};
use serde_json::{Value, json};

struct Driver {
    child: Child,
    base: String,
    session: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (deploy/setup.sh installs chromium-driver)");
        let base = format!("http://127.0.0.1:{port}");
        wait_until("chromedriver to answer", Duration::from_secs(20), || {
            ureq::get(&format!("{base}/status"))
                .call()
                .ok()
                .and_then(|r| r.into_json::<Value>().ok())
                .is_some_and(|s| s["value"]["ready"] == true)
        });
        let capabilities = json!({ "capabilities": { "alwaysMatch": { "browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1800"],
        } } } });
        let created: Value = ureq::post(&format!("{base}/session"))
            .send_json(capabilities)
            .expect("new session")
            .into_json()
            .expect("json");
        let session = created["value"]["sessionId"].as_str().expect("session id").to_string();
        Driver { child, base, session }
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}/{path}", self.base, self.session);
        let response = match method {
            "GET" => ureq::get(&url).call(),
            _ => ureq::post(&url).send_json(body),
        };
        response.expect("webdriver call").into_json::<Value>().expect("json")["value"].clone()
    }

    fn go(&self, url: &str) {
        self.call("POST", "url", json!({ "url": url }));
    }

    fn script(&self, source: &str) -> Value {
        self.call("POST", "execute/sync", json!({ "script": source, "args": [] }))
    }

    fn text(&self, id: &str) -> String {
        self.script(&format!("const e = document.getElementById('{id}'); return e ? e.textContent : '';"))
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

#[test]
fn the_dashboard_shows_the_node_and_follows_it_live() {
    let base = tempfile::tempdir().expect("temp dir");
    let dir = base.path().join("hb");
    init_node(&dir, "hb", "province");
    let config = dir.join("rollcall.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, format!("{text}\n[dashboard]\naddress = \"127.0.0.1:0\"\n")).expect("config");
    store_a_finding(&dir);
    let node = NodeProcess::start(&dir);
    wait_until("the dashboard to listen", Duration::from_secs(20), || dir.join("dashboard.addr").exists());
    let address = std::fs::read_to_string(dir.join("dashboard.addr")).expect("address").trim().to_string();
    let node_dir = dir.display().to_string();
    assert!(rollcall(&["campaign-open", "--node-dir", &node_dir, "--year", "2026"]).status.success());
    for (branch, seed) in [("hb/u1/c1/b1", "1"), ("hb/u1/c2/b1", "2"), ("hb/u2/c1/b1", "3")] {
        assert!(
            rollcall(&["append-sample", "--node-dir", &node_dir, "--unit", branch, "--members", "25", "--seed", seed])
                .status
                .success()
        );
    }

    // A university named with markup in its short name (names are typed by people).
    assert!(
        rollcall(&[
            "unit",
            "name",
            "--node-dir",
            &node_dir,
            "--unit",
            "hb/u1",
            "--name",
            "中共某大学委员会",
            "--short-name",
            "<img src=x onerror=alert(2)>某大学党委",
            "--org-type",
            "611",
        ])
        .status
        .success()
    );

    // Without a credential: a clear refusal, in both languages.
    let refused = ureq::get(&format!("http://{address}/api/overview")).call();
    match refused {
        Err(ureq::Error::Status(401, response)) => {
            let body: Value = response.into_json().expect("json");
            assert!(body["error_zh"].as_str().unwrap_or_default().contains("需要查看凭证"), "{body}");
            assert!(body["error"].as_str().unwrap_or_default().contains("credential"), "{body}");
        }
        other => panic!("expected 401, got {other:?}"),
    }
    let metrics = ureq::get(&format!("http://{address}/metrics")).call().expect("metrics").into_string().expect("text");
    assert!(metrics.contains("# TYPE rollcall_ingest_position counter"), "{metrics}");
    // 75 generated members and the one of the stored finding.
    assert!(metrics.contains("rollcall_members 76"), "{metrics}");
    // Distributions observed as work happened (the sample was appended through Append),
    // and subscribers counted by reader.
    assert!(metrics.contains("# TYPE rollcall_append_seconds histogram"), "{metrics}");
    assert!(
        metrics.lines().any(|line| line.starts_with("rollcall_append_seconds_count") && !line.ends_with(" 0")),
        "{metrics}"
    );
    assert!(metrics.contains("rollcall_subscribers{reader=\"dashboard\"} 0"), "{metrics}");
    assert!(metrics.contains("rollcall_subscribers{reader=\"grpc\"} 0"), "{metrics}");

    let driver = Driver::start();
    driver.go(&format!("http://{address}/"));
    wait_until("the page to ask for a credential", Duration::from_secs(10), || {
        driver.script("return document.getElementById('login').hidden === false && document.body.innerText.includes('需要查看凭证');") == true
    });

    let token = rollcall_json(&["dashboard-token", "--node-dir", &node_dir]);
    driver.go(token["url"].as_str().expect("url"));
    let api = rollcall_json(&["rollup", "--node-dir", &node_dir]);
    let members = api["total"]["metrics"]["members"].as_u64().expect("members");
    wait_until("the page to show the node's member count", Duration::from_secs(10), || {
        driver.text("members-total") == members.to_string()
    });
    let deadlines = rollcall_json(&["deadlines", "--node-dir", &node_dir]);
    let api_states: Vec<String> = deadlines["deadlines"]
        .as_array()
        .expect("deadlines")
        .iter()
        .map(|d| d["state"].as_str().expect("state").to_string())
        .collect();
    let page_states: Vec<String> = driver
        .script("return Array.from(document.querySelectorAll('.deadline')).map(d => d.dataset.state);")
        .as_array()
        .expect("states")
        .iter()
        .map(|s| s.as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(page_states, api_states, "the page shows the deadlines the API computes");
    assert_eq!(
        driver.script("return document.querySelectorAll('#rollup a[data-unit]').length;"),
        2,
        "two universities to drill into"
    );
    assert!(driver.text("paper").contains("合计"), "table 1 as on paper");
    // The finding is listed; the name a person typed is shown as text, never as markup.
    assert!(driver.text("findings").contains("未在本单位登记"), "{}", driver.text("findings"));
    assert!(driver.text("findings").contains("<img src=x onerror=alert(1)>"), "{}", driver.text("findings"));
    assert_eq!(driver.script("return document.querySelectorAll('#findings img').length;"), 0, "no markup injected");

    // Units by name (as text, the path as a tooltip); every reporting unit's tables.
    assert!(driver.text("rollup").contains("<img src=x onerror=alert(2)>某大学党委"), "{}", driver.text("rollup"));
    assert_eq!(driver.script("return document.querySelectorAll('#rollup img').length;"), 0, "no markup injected");
    assert_eq!(driver.script("return document.querySelector('#rollup span[title=\"hb/u1\"]') !== null;"), true);
    assert!(driver.text("reports").contains("未报送"), "{}", driver.text("reports"));
    // Every enum translated; times the Chinese way (24-hour).
    let cases = driver.text("cases");
    assert!(!cases.chars().any(|c| c == '_' || c.is_ascii_uppercase()), "raw enum names in {cases}");
    let updated = driver.text("updated");
    assert!(!updated.contains("AM") && !updated.contains("PM") && updated.contains("更新于"), "{updated}");
    assert_eq!(
        driver.script("return document.querySelectorAll('#reports tr[data-state=\"not_submitted\"]').length;"),
        9,
        "tables 1-3 of the province and of the two universities"
    );
    assert!(driver.text("reports").contains("（逾期）"), "the 2026 deadlines have passed: {}", driver.text("reports"));

    // A new event reaches the page within 2 seconds, without a reload.
    driver.script("window.__marker = 'same page';");
    let appended = Instant::now();
    assert!(
        rollcall(&["append-sample", "--node-dir", &node_dir, "--unit", "hb/u1/c1/b2", "--members", "1", "--seed", "9"])
            .status
            .success()
    );
    wait_until("the new member to appear on the page", Duration::from_secs(2), || {
        driver.text("members-total") == (members + 1).to_string()
    });
    let seconds = appended.elapsed().as_secs_f64();
    assert_eq!(driver.script("return window.__marker;"), "same page", "no reload");
    eprintln!("dashboard updated {seconds:.2} s after the append");

    // Drill down into a university; switch to English.
    driver.script("document.querySelector('#rollup a[data-unit=\"hb/u1\"]').click();");
    wait_until("the university's page", Duration::from_secs(5), || driver.text("crumbs").contains("某大学党委"));
    driver.script("document.getElementById('lang').click();");
    wait_until("English", Duration::from_secs(5), || driver.text("title") == "Party-membership audit");

    let screenshot = driver.call("GET", "screenshot", Value::Null);
    let png =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, screenshot.as_str().expect("base64 png"))
            .expect("base64");
    let artifact = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&artifact, &png).expect("write screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    eprintln!("screenshot: {}", artifact.display());
    drop(driver);
    assert!(node.stop(), "the node stops cleanly with a live page open");
}

/// Writes into the node's store, before it first runs, what only a compromised key or a
/// race between branches produces: a member registered at one branch (with markup in
/// the name a person typed) and a contact attempt about them filed at another branch.
fn store_a_finding(dir: &Path) {
    use rollcall_core::body::Body;
    use rollcall_core::log::{Draft, Head, LocalWriter};
    use rollcall_core::{EventId, UnitPath, proto};
    use rollcall_server::config::{REPLICA_KEY_FILE, read_key, replica_of};
    let key = read_key(&dir.join(REPLICA_KEY_FILE)).expect("key");
    let replica = replica_of(&key);
    let mut writer = LocalWriter::new(replica, Head::EMPTY, rollcall_core::HlcTime::default());
    let registered = Body::MemberRegistered(proto::MemberRegistered {
        member_id: "m-marked-up".into(),
        form: Some(proto::MemberForm {
            name: "<img src=x onerror=alert(1)>".into(),
            category: proto::MemberCategory::Full as i32,
            person_group: proto::PersonGroup::Staff as i32,
            ..Default::default()
        }),
        source: 1,
    });
    let attempted = Body::ContactAttempted(proto::ContactAttempted {
        member_id: "m-marked-up".into(),
        method: proto::ContactMethod::Phone as i32,
        ..Default::default()
    });
    let events: Vec<_> = [("hb/u1/c1/b1", registered), ("hb/u2/c1/b1", attempted)]
        .into_iter()
        .enumerate()
        .map(|(index, (unit, body))| {
            let draft = Draft {
                unit_path: UnitPath::parse(unit).expect("valid"),
                kind: body.kind(),
                body: body.encode(),
                author: "t".into(),
            };
            writer.prepare(1_000 + index as u64, EventId([index as u8 + 1; 16]), draft).expect("valid").sign(&key)
        })
        .collect();
    let store = rollcall_server::store::Store::open(&dir.join("store")).expect("store");
    store.claim_local_replica(replica).expect("claim");
    store.write_events(&events, 1).expect("write");
}
