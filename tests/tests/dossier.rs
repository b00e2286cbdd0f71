//! The trail carried out of the system (issue 17), on real nodes with TLS and RocksDB: a
//! 自行脱党除名 carried through every step of the procedure at the level that owns it
//! (branch, college, university), exported at the province as a dossier, verified with
//! nothing but the root key; then each kind of content altered — a body, a signature, a
//! chain link, a summary line, a missing event, an author revoked before its seq — and
//! each refused with its reason. A second member's case whose vote failed and was
//! proposed again shows both rounds.

use std::io::{Read, Write};
use std::path::Path;

use rollcall_core::body::Body;
use rollcall_core::log::{Draft, Head, LocalWriter};
use rollcall_core::{EventId, EventKind, SignedEvent, UnitPath, codec};
use rollcall_proto::v1 as pb;
use rollcall_tests::{
    CONVERGE_DEADLINE, ClusterNode, form_row, id_number, rollcall, start_child, start_root, wait_until,
};

fn ok(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let output = rollcall(&all);
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("json")
}

fn step(node: &ClusterNode, args: &[&str]) -> serde_json::Value {
    let dir = node.dir_arg();
    let mut all = vec!["case"];
    all.extend_from_slice(&args[..1]);
    all.extend_from_slice(&["--node-dir", &dir]);
    all.extend_from_slice(&args[1..]);
    ok(&all)
}

fn read_zip(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).expect("open zip")).expect("a zip");
    (0..archive.len())
        .map(|index| {
            let mut file = archive.by_index(index).expect("entry");
            let name = file.name().expect("name").to_string();
            let mut content = Vec::new();
            file.read_to_end(&mut content).expect("read entry");
            (name, content)
        })
        .collect()
}

fn write_zip(path: &Path, files: &[(String, Vec<u8>)]) {
    let mut archive = zip::ZipWriter::new(std::fs::File::create(path).expect("create zip"));
    for (name, content) in files {
        archive.start_file(name.as_str(), zip::write::SimpleFileOptions::default()).expect("start");
        archive.write_all(content).expect("write");
    }
    archive.finish().expect("finish");
}

fn unframe(bytes: &[u8]) -> Vec<SignedEvent> {
    rollcall_server::dossier::unframe("test", bytes).expect("the events of a dossier file")
}

use rollcall_server::dossier::frame;

/// `rollcall verify dossier` in English with --json: (exit code, problems in English).
fn verify(file: &Path, root: &str) -> (i32, Vec<String>, serde_json::Value) {
    verify_as("dossier", file, root)
}

/// `rollcall verify <what>` in English with --json.
fn verify_as(what: &str, file: &Path, root: &str) -> (i32, Vec<String>, serde_json::Value) {
    let output = rollcall(&["--lang", "en", "verify", what, file.to_str().expect("path"), "--root", root, "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("json: {}", String::from_utf8_lossy(&output.stderr)));
    let problems = value["problems"]
        .as_array()
        .map(|list| list.iter().map(|p| p["en"].as_str().expect("en").to_string()).collect())
        .unwrap_or_default();
    (output.status.code().expect("exit code"), problems, value)
}

/// Rewrites one file of the archive into `out`.
fn altered(source: &Path, out: &Path, name: &str, change: impl FnOnce(&mut Vec<u8>)) {
    let mut files = read_zip(source);
    let file = files.iter_mut().find(|(n, _)| n == name).expect("the file");
    change(&mut file.1);
    write_zip(out, &files);
}

/// With `DOSSIER_ARTIFACTS=DIR`, copies what a reviewer (or an adversary holding one
/// unit's key) would work from into DIR: the archive, that key, the root key.
fn keep_artifacts(files: &[(&str, &Path)], root: &str) {
    let Some(dir) = std::env::var_os("DOSSIER_ARTIFACTS") else { return };
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).expect("artifacts dir");
    for (name, path) in files {
        std::fs::copy(path, dir.join(name)).expect("copy artifact");
    }
    let archive = files.first().map_or("archive", |(name, _)| name.trim_end_matches(".zip"));
    std::fs::write(dir.join(format!("{archive}.root.pub")), root).expect("root key");
}

/// An archive's files, by name, as `read_zip` gives them.
type Files = Vec<(String, Vec<u8>)>;

/// Rewrites `source` into `out` as an exporter holding `key` would: `edit` changes the
/// files and the manifest, then every file's hash is listed again and the manifest signed.
fn resealed(
    source: &Path,
    out: &Path,
    key: &ed25519_dalek::SigningKey,
    edit: impl FnOnce(&mut Files, &mut serde_json::Value),
) {
    use sha2::Digest;
    let mut files = read_zip(source);
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&files.iter().find(|(n, _)| n == "manifest.json").expect("manifest").1).expect("json");
    files.retain(|(name, _)| name != "manifest.json" && name != "manifest.sig");
    edit(&mut files, &mut manifest);
    manifest["exporter"] = rollcall_server::config::replica_of(key).to_hex().into();
    manifest["files"] = files
        .iter()
        .map(|(name, bytes)| {
            serde_json::json!({ "name": name, "sha256": hex::encode(sha2::Sha256::digest(bytes)), "bytes": bytes.len() })
        })
        .collect();
    let manifest_bytes = serde_json::to_vec_pretty(&manifest).expect("json");
    let mut signed = rollcall_server::dossier::SIGNATURE_DOMAIN.to_vec();
    signed.extend_from_slice(&manifest_bytes);
    let signature = hex::encode(ed25519_dalek::Signer::sign(key, &signed).to_bytes());
    let mut all =
        vec![("manifest.json".to_string(), manifest_bytes), ("manifest.sig".to_string(), signature.into_bytes())];
    all.extend(files);
    write_zip(out, &all);
}

fn kind_of(event: &SignedEvent) -> EventKind {
    codec::decode_header(&event.header).expect("header").kind
}

#[test]
fn a_dossier_exported_at_the_province_verifies_offline_and_every_alteration_is_named() {
    let base = tempfile::tempdir().expect("temp dir");
    let province = start_root(base.path(), "hb");
    let university = start_child(base.path(), &province, "hb/u1");
    let college = start_child(base.path(), &university, "hb/u1/c1");
    let branch = start_child(base.path(), &college, "hb/u1/c1/b1");
    ok(&["campaign-open", "--node-dir", &province.dir_arg(), "--year", "2026"]);
    let root = province.replica().to_hex();

    // Two members: one lost since December 2024, one probationary.
    let mut lost = form_row("周七", "42010219800101001", "1980-01-01", "hb/u1/c1/b1");
    lost[14] = "是".into();
    lost[15] = "2024-12-01".into();
    let mut probationary = form_row("吴八", "42010219900101002", "1990-01-01", "hb/u1/c1/b1");
    probationary[6] = "预备党员".into();
    probationary[8] = "2025-06-01".into();
    probationary[9] = String::new();
    rollcall_tests::import_form(&branch, &base.path().join("form.csv"), &[lost, probationary]);
    let lost_member = rollcall_client::import::member_id_for(&id_number("42010219800101001"));
    let second_member = rollcall_client::import::member_id_for(&id_number("42010219900101002"));
    let b = branch.dir_arg();

    // The search the 自行脱党除名 rests on: three attempts, three channels, seven whole months.
    ok(&[
        "check",
        "contact",
        "--node-dir",
        &b,
        "--member",
        &lost_member,
        "--status",
        "lost",
        "--last-life",
        "2024-12-01",
        "--last-dues",
        "2024-12-01",
        "--situation",
        "graduated",
    ]);
    for (method, on) in [("phone", "2025-01-05"), ("people", "2025-04-01"), ("department", "2025-09-01")] {
        let mut args =
            vec!["record", "attempt", "--node-dir", &b, "--member", &lost_member, "--method", method, "--on", on];
        if method == "department" {
            args.extend_from_slice(&["--department", "education"]);
        }
        ok(&args);
    }
    let case = step(
        &branch,
        &[
            "propose",
            "--member",
            &lost_member,
            "--type",
            "self-separation",
            "--trigger",
            "lost-case",
            "--facts",
            "失联逾六个月，三种渠道查找无果",
        ],
    )["case_id"]
        .as_str()
        .expect("case id")
        .to_string();
    step(&branch, &["investigate", "--case", &case, "--report", "多方查找仍无法联系本人", "--unreachable"]);
    wait_until("the case to reach the college", CONVERGE_DEADLINE, || {
        rollcall(&["case", "prereview", "--node-dir", &college.dir_arg(), "--case", &case, "--opinion", "同意"])
            .status
            .success()
    });
    wait_until("the college's pre-review to reach the university", CONVERGE_DEADLINE, || {
        rollcall(&[
            "case",
            "prereview",
            "--node-dir",
            &university.dir_arg(),
            "--case",
            &case,
            "--written",
            "--opinion",
            "书面同意",
        ])
        .status
        .success()
    });
    wait_until("the pre-reviews to reach the branch", CONVERGE_DEADLINE, || {
        rollcall(&[
            "case",
            "vote",
            "--node-dir",
            &b,
            "--case",
            &case,
            "--total",
            "9",
            "--present",
            "8",
            "--for",
            "7",
            "--against",
            "1",
        ])
        .status
        .success()
    });
    wait_until("the vote to reach the college", CONVERGE_DEADLINE, || {
        rollcall(&["case", "approve", "--node-dir", &college.dir_arg(), "--case", &case, "--body", "第一学院党委"])
            .status
            .success()
    });
    wait_until("the approval to reach the branch", CONVERGE_DEADLINE, || {
        rollcall(&[
            "case",
            "file",
            "--node-dir",
            &b,
            "--case",
            &case,
            "--with",
            "学校党委组织部",
            "--notified",
            "2026-05-10",
        ])
        .status
        .success()
    });

    // The second member: a vote that failed, then the case proposed again and carried.
    let first_round = step(
        &branch,
        &[
            "propose",
            "--member",
            &second_member,
            "--type",
            "cancel-probationary",
            "--trigger",
            "audit-finding",
            "--facts",
            "预备期内不履行义务",
        ],
    )["case_id"]
        .as_str()
        .expect("case id")
        .to_string();
    step(
        &branch,
        &["investigate", "--case", &first_round, "--report", "谈话核实", "--talked-by", "甲", "--talked-by", "乙"],
    );
    wait_until("the first round to reach the college", CONVERGE_DEADLINE, || {
        rollcall(&["case", "prereview", "--node-dir", &college.dir_arg(), "--case", &first_round, "--opinion", "同意"])
            .status
            .success()
    });
    wait_until("the first round's pre-review to reach the branch", CONVERGE_DEADLINE, || {
        rollcall(&[
            "case",
            "vote",
            "--node-dir",
            &b,
            "--case",
            &first_round,
            "--total",
            "9",
            "--present",
            "8",
            "--for",
            "3",
            "--against",
            "5",
        ])
        .status
        .success()
    });
    let second_round = step(
        &branch,
        &[
            "propose",
            "--member",
            &second_member,
            "--type",
            "cancel-probationary",
            "--trigger",
            "audit-finding",
            "--facts",
            "再次提出：仍不履行义务",
        ],
    )["case_id"]
        .as_str()
        .expect("case id")
        .to_string();
    step(
        &branch,
        &["investigate", "--case", &second_round, "--report", "再次谈话", "--talked-by", "甲", "--talked-by", "乙"],
    );
    wait_until("the second round to reach the college", CONVERGE_DEADLINE, || {
        rollcall(&["case", "prereview", "--node-dir", &college.dir_arg(), "--case", &second_round, "--opinion", "同意"])
            .status
            .success()
    });
    wait_until("the second round's pre-review to reach the branch", CONVERGE_DEADLINE, || {
        rollcall(&[
            "case",
            "vote",
            "--node-dir",
            &b,
            "--case",
            &second_round,
            "--total",
            "9",
            "--present",
            "9",
            "--for",
            "8",
            "--against",
            "1",
        ])
        .status
        .success()
    });

    // At the province: wait until every step of the case has reached the level above
    // (each has its receipt), then the dossier verifies with only the root key.
    let dossier = base.path().join("案卷.zip");
    let dossier_arg = dossier.display().to_string();
    wait_until("the province to hold the filed case with every receipt", CONVERGE_DEADLINE, || {
        let output = rollcall(&[
            "case",
            "dossier",
            "--node-dir",
            &province.dir_arg(),
            "--case",
            &case,
            "--out",
            &dossier_arg,
            "--json",
        ]);
        if !output.status.success() {
            return false;
        }
        let shown = rollcall(&["verify", "dossier", &dossier_arg, "--root", &root, "--summary"]);
        let text = String::from_utf8_lossy(&shown.stdout);
        shown.status.success() && text.contains("已生效备案") && !text.contains("未见上级回执")
    });
    let (code, problems, verdict) = verify(&dossier, &root);
    assert_eq!((code, problems.len()), (0, 0), "{problems:?}");
    assert_eq!(verdict["stage"], "filed");
    keep_artifacts(&[("dossier.zip", &dossier), ("branch.key", &branch.dir.join("replica.key"))], &root);
    let shown = rollcall(&["verify", "dossier", &dossier_arg, "--root", &root, "--summary"]);
    let summary = String::from_utf8(shown.stdout).expect("utf-8");
    for expected in [
        "结论：核验通过",
        "自行脱党除名",
        "当前阶段：已生效备案",
        "此前查找 3 次、3 类渠道、跨 7 个月（当时政策：至少 3 次、2 类、6 个月）：满足",
        "无法联系本人，记录在案",
        "预审层级：院系；非书面；同意",
        "预审层级：高校；书面；同意",
        "应到会 9 人，实到 8 人；赞成 7，反对 1",
        "结果：通过",
        "审批机关：第一学院党委",
        "备案于：学校党委组织部",
        "查找方式：电话",
        "上级收到：",
    ] {
        assert!(summary.contains(expected), "the summary says {expected:?}:\n{summary}");
    }
    // Personal data: the ID number masked, the registration a stub.
    assert!(!summary.contains(&id_number("42010219800101001")), "{summary}");
    let files = read_zip(&dossier);
    let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    for name in
        ["manifest.json", "manifest.sig", "chain.bin", "evidence.bin", "summary.txt", "summary.xlsx", "README.txt"]
    {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&files.iter().find(|(n, _)| n == "manifest.json").expect("manifest").1).expect("json");
    assert_eq!(manifest["withheld"].as_array().map(Vec::len), Some(1), "the registration is withheld: {manifest}");
    assert!(manifest["id_number"].as_str().expect("id").contains('*'), "{manifest}");
    let evidence = unframe(&files.iter().find(|(n, _)| n == "evidence.bin").expect("evidence").1);
    assert!(
        evidence.iter().all(|e| kind_of(e) != EventKind::MemberRegistered || e.body.is_none()),
        "no registration travels in full"
    );
    // The XLSX opens with its three sheets.
    let xlsx = files.iter().find(|(n, _)| n == "summary.xlsx").expect("xlsx").1.clone();
    let workbook: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx)).expect("the summary workbook opens");
    assert_eq!(calamine::Reader::sheet_names(&workbook), vec!["处置程序", "查找记录", "表决"]);

    // With --show-personal the ID number is in full and the registration's body travels.
    let personal = base.path().join("personal.zip");
    ok(&[
        "case",
        "dossier",
        "--node-dir",
        &province.dir_arg(),
        "--case",
        &case,
        "--out",
        personal.to_str().expect("p"),
        "--show-personal",
    ]);
    let (code, problems, _) = verify(&personal, &root);
    assert_eq!((code, problems.len()), (0, 0), "{problems:?}");
    let personal_summary = String::from_utf8(
        rollcall(&["verify", "dossier", personal.to_str().expect("p"), "--root", &root, "--summary"]).stdout,
    )
    .expect("utf-8");
    assert!(personal_summary.contains(&id_number("42010219800101001")), "{personal_summary}");

    // Another root key: nothing checks.
    let stranger = rollcall_server::config::replica_of(&rollcall_server::config::fresh_key()).to_hex();
    let (code, problems, _) = verify(&dossier, &stranger);
    assert_eq!(code, 1);
    assert!(problems.iter().any(|p| p.contains("not the given")), "{problems:?}");

    // Any bytes: a thousand random alterations of the archive and of its files, each
    // answered (verified or refused), never a crash, and never verified when the
    // evidence changed.
    let original = std::fs::read(&dossier).expect("dossier");
    let root_key = rollcall_core::ReplicaId::from_hex(&root).expect("root");
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for _ in 0..300 {
        let mut bytes = original.clone();
        let at = (next() % bytes.len() as u64) as usize;
        bytes[at] ^= 1 << (next() % 8);
        if let Ok(verdict) = rollcall_server::dossier::verify(&bytes, root_key) {
            let _ = verdict.problems.len();
        }
    }
    let originals = read_zip(&dossier);
    for round in 0..700 {
        let mut files = originals.clone();
        let which = ["evidence.bin", "chain.bin", "manifest.json", "summary.txt", "manifest.sig"][round % 5];
        let file = files.iter_mut().find(|(n, _)| n == which).expect("file");
        let at = (next() % file.1.len() as u64) as usize;
        file.1[at] ^= 1 << (next() % 8);
        let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, content) in &files {
            archive.start_file(name.as_str(), zip::write::SimpleFileOptions::default()).expect("start");
            archive.write_all(content).expect("write");
        }
        let bytes = archive.finish().expect("finish").into_inner();
        if let Ok(verdict) = rollcall_server::dossier::verify(&bytes, root_key) {
            assert!(!verdict.problems.is_empty(), "a flipped bit in {which} at {at} went unnoticed");
        }
    }

    // Each kind of alteration, refused with its reason.
    let bad = base.path().join("bad.zip");
    let vote_index = evidence
        .iter()
        .position(|e| kind_of(e) == EventKind::DispositionVoted && e.body.is_some())
        .expect("the vote is in the dossier");
    let vote_seq = codec::decode_header(&evidence[vote_index].header).expect("header").seq.0;

    // A body.
    altered(&dossier, &bad, "evidence.bin", |bytes| {
        let mut events = unframe(bytes);
        let mut body = events[vote_index].body.clone().expect("body").to_vec();
        let last = body.len() - 1;
        body[last] ^= 1;
        events[vote_index].body = Some(body.into());
        *bytes = frame(&events);
    });
    let (code, problems, _) = verify(&bad, &root);
    assert_eq!(code, 1);
    assert!(
        problems.iter().any(|p| p.contains(&format!("event {vote_seq} of log")) && p.contains("body")),
        "{problems:?}"
    );
    assert!(problems.iter().any(|p| p.contains("evidence.bin: its SHA-256 differs")), "{problems:?}");

    // A signature.
    altered(&dossier, &bad, "evidence.bin", |bytes| {
        let mut events = unframe(bytes);
        let mut signature = events[vote_index].signature.to_vec();
        signature[0] ^= 1;
        events[vote_index].signature = signature.into();
        *bytes = frame(&events);
    });
    let (code, problems, _) = verify(&bad, &root);
    assert_eq!(code, 1);
    assert!(
        problems.iter().any(|p| p.contains(&format!("event {vote_seq} of log")) && p.contains("signature")),
        "{problems:?}"
    );

    // A chain link: the branch's key re-signs an event with another predecessor.
    let branch_key = rollcall_server::config::read_key(&branch.dir.join("replica.key")).expect("branch key");
    altered(&dossier, &bad, "evidence.bin", |bytes| {
        let mut events = unframe(bytes);
        let mut header = codec::decode_header(&events[vote_index].header).expect("header");
        header.prev.0[0] ^= 1;
        let header_bytes = codec::encode_header(&header);
        let signature = ed25519_dalek::Signer::sign(&branch_key, &header_bytes);
        events[vote_index].header = header_bytes;
        events[vote_index].signature = signature.to_bytes().to_vec().into();
        *bytes = frame(&events);
    });
    let (code, problems, _) = verify(&bad, &root);
    assert_eq!(code, 1);
    assert!(
        problems.iter().any(|p| p.contains(&format!("event {vote_seq} of log")) && p.contains("chain is broken")),
        "{problems:?}"
    );

    // A summary line.
    altered(&dossier, &bad, "summary.txt", |bytes| {
        *bytes = String::from_utf8(bytes.clone()).expect("utf-8").replacen("赞成 7", "赞成 8", 1).into_bytes();
    });
    let (code, problems, _) = verify(&bad, &root);
    assert_eq!(code, 1);
    assert!(problems.iter().any(|p| p.starts_with("summary.txt line")), "{problems:?}");

    // A missing event: the branch's event before the vote.
    altered(&dossier, &bad, "evidence.bin", |bytes| {
        let mut events = unframe(bytes);
        let replica = codec::decode_header(&events[vote_index].header).expect("header").replica;
        events.retain(|e| {
            let header = codec::decode_header(&e.header).expect("header");
            !(header.replica == replica && header.seq.0 == vote_seq - 1)
        });
        *bytes = frame(&events);
    });
    let (code, problems, _) = verify(&bad, &root);
    assert_eq!(code, 1);
    assert!(
        problems.iter().any(|p| p.contains(&format!("event {} of log", vote_seq - 1)) && p.contains("missing")),
        "{problems:?}"
    );

    // An author revoked before its seq: the college revokes the branch node after an
    // earlier event than the vote, and the revocation is put in the chain.
    let college_key = rollcall_server::config::read_key(&college.dir.join("replica.key")).expect("college key");
    let college_replica = rollcall_server::config::replica_of(&college_key);
    let revocation = {
        let body = pb::ReplicaRevoked {
            public_key: branch.replica().0.to_vec().into(),
            revoked_after_seq: vote_seq - 2,
            reason: "测试".into(),
        };
        let mut writer = LocalWriter::new(
            college_replica,
            Head { seq: rollcall_core::Seq(1_000_000), hash: rollcall_core::EventHash([7; 32]) },
            rollcall_core::hlc::HlcTime { wall_ms: 1, logical: 0 },
        );
        let draft = Draft {
            unit_path: UnitPath::parse("hb/u1/c1/b1").expect("unit"),
            kind: EventKind::ReplicaRevoked,
            body: Body::ReplicaRevoked(body).encode(),
            author: "adversary".into(),
        };
        writer
            .prepare(rollcall_server::writer::now_ms(), EventId([9; 16]), draft)
            .expect("a revocation draft")
            .sign(&college_key)
            .to_signed()
    };
    altered(&dossier, &bad, "chain.bin", |bytes| {
        let mut events = unframe(bytes);
        events.push(revocation);
        *bytes = frame(&events);
    });
    let (code, problems, _) = verify(&bad, &root);
    assert_eq!(code, 1);
    assert!(
        problems.iter().any(|p| p.contains(&format!("event {vote_seq} of log")) && p.contains("revoked after seq")),
        "{problems:?}"
    );

    // What the branch's own key could re-export (it is a node of the case's branch, so
    // its signature over a manifest is a valid exporter's): each lie named.
    let branch_exported = |edit: &dyn Fn(&mut Files, &mut serde_json::Value)| {
        resealed(&dossier, &bad, &branch_key, |files, manifest| {
            manifest["exporter_unit"] = "hb/u1/c1/b1".into();
            edit(files, manifest);
        });
        verify(&bad, &root)
    };
    let (code, problems, verdict) = branch_exported(&|_, _| {});
    assert_eq!((code, problems.len()), (0, 0), "re-exported as is by the branch: {problems:?}");
    assert!(verdict["notes"].to_string().contains("rests on that node's signature"), "{verdict}");
    let (code, problems, _) = branch_exported(&|_, manifest| manifest["member_id"] = "Mdeadbeef00000000".into());
    assert_eq!(code, 1);
    assert!(problems.iter().any(|p| p.contains("the manifest names member Mdeadbeef00000000")), "{problems:?}");
    // The branch rewrites its own history (a forked vote) and drops the receipts of the
    // level above that would expose the fork: every step it alone attests is named.
    let (code, problems, _) = branch_exported(&|files, manifest| {
        let evidence = files.iter_mut().find(|(n, _)| n == "evidence.bin").expect("evidence");
        let mut events = unframe(&evidence.1);
        events.retain(|e| kind_of(e) != EventKind::Receipt);
        manifest["events"] = events
            .iter()
            .map(|e| {
                let header = codec::decode_header(&e.header).expect("header");
                format!("{}:{}:{}", header.replica.to_hex(), header.seq.0, hex::encode(codec::event_hash(&e.header).0))
            })
            .collect();
        evidence.1 = frame(&events);
    });
    assert_eq!(code, 1);
    assert!(
        problems
            .iter()
            .any(|p| p.contains(&format!("event {vote_seq} of log")) && p.contains("no receipt of the level above")),
        "{problems:?}"
    );
    // Two entries of one name (a viewer may show the other): refused outright.
    let mut doubled = read_zip(&dossier);
    doubled.insert(0, ("summary.txX".to_string(), "赞成 1，反对 7".as_bytes().to_vec()));
    write_zip(&bad, &doubled);
    // A ZIP writer will not write one name twice: rename the entry in its local header
    // and in the central directory, as a hand-made archive would.
    let mut raw = std::fs::read(&bad).expect("zip");
    for at in 0..raw.len() - 11 {
        if &raw[at..at + 11] == b"summary.txX" {
            raw[at + 10] = b't';
        }
    }
    std::fs::write(&bad, raw).expect("zip");
    let output = rollcall(&["--lang", "en", "verify", "dossier", bad.to_str().expect("p"), "--root", &root]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("lists an entry twice"));

    // The second member's dossier shows both rounds: the failed vote, then the new case.
    let rounds = base.path().join("rounds.zip");
    wait_until("the province to hold the second round's vote", CONVERGE_DEADLINE, || {
        let exported = rollcall(&[
            "case",
            "dossier",
            "--node-dir",
            &province.dir_arg(),
            "--case",
            &second_round,
            "--out",
            rounds.to_str().expect("p"),
            "--json",
        ]);
        exported.status.success()
            && serde_json::from_slice::<serde_json::Value>(&exported.stdout).is_ok_and(|v| v["stage"] == "voted")
    });
    let shown = rollcall(&["verify", "dossier", rounds.to_str().expect("p"), "--root", &root, "--summary"]);
    assert!(shown.status.success(), "{}", String::from_utf8_lossy(&shown.stdout));
    let text = String::from_utf8(shown.stdout).expect("utf-8");
    let earlier = text.find(&format!("此前的处置案件：{first_round}（取消预备党员资格，支部大会未通过）"));
    let this = text.find(&format!("本案处置程序：{second_round}（取消预备党员资格，支部大会已通过）"));
    assert!(earlier.is_some() && this.is_some() && earlier < this, "both rounds, in order:\n{text}");
    assert!(text.contains("赞成 3，反对 5") && text.contains("结果：未通过"), "{text}");

    // A branch's operator key at the branch node: the case is in its subtree; a case
    // id nobody filed is refused by name.
    let missing =
        rollcall(&["case", "dossier", "--node-dir", &b, "--case", "NO-SUCH", "--out", rounds.to_str().expect("p")]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("本节点没有案件 NO-SUCH"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}

/// The verdicts of `rollcall report list` at `node` for `unit`'s `table`.
fn report_state(node: &ClusterNode, unit: &str, table: u64) -> serde_json::Value {
    rollcall_tests::rollcall_json(&["report", "list", "--node-dir", &node.dir_arg()])
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["unit"] == unit && r["table"] == table)
        .map(|r| r["state"].clone())
        .unwrap_or(serde_json::Value::Null)
}

#[test]
fn a_report_proof_recomputes_the_table_offline_and_refuses_a_checkpoint_short_of_an_event() {
    let base = tempfile::tempdir().expect("temp dir");
    let province = start_root(base.path(), "hb");
    let university = start_child(base.path(), &province, "hb/u1");
    let college = start_child(base.path(), &university, "hb/u1/c1");
    let branch = start_child(base.path(), &college, "hb/u1/c1/b1");
    // Next year's campaign, so the 4-15 deadline is still ahead; its tables as of today.
    let today = rollcall_core::audit::dates::cst_day(rollcall_server::writer::now_ms());
    let year = (today.format("%Y").to_string().parse::<i32>().expect("a year") + 1).to_string();
    ok(&["campaign-open", "--node-dir", &province.dir_arg(), "--year", &year, "--as-of", &today.to_string()]);
    let root = province.replica().to_hex();
    rollcall_tests::import_form(
        &branch,
        &base.path().join("form.csv"),
        &[
            form_row("张一", "42010219800101001", "1980-01-01", "hb/u1/c1/b1"),
            form_row("王二", "42010219810202002", "1981-02-02", "hb/u1/c1/b1"),
            form_row("李三", "42010219820303003", "1982-03-03", "hb/u1/c1/b1"),
        ],
    );
    wait_until("the university holds the branch's members", CONVERGE_DEADLINE, || {
        rollcall_tests::rollcall_json(&["rollup", "--node-dir", &university.dir_arg()])["total"]["metrics"]["members"]
            .as_u64()
            == Some(3)
    });
    // The university holds the province's receipt of everything below it, so its
    // checkpoint names that receipt.
    wait_until("the province's receipt to reach the university", CONVERGE_DEADLINE, || {
        let status = rollcall_tests::rollcall_json(&["status", "--node-dir", &university.dir_arg()]);
        status["unsent_up"] == 0 && !status["last_receipt"].is_null()
    });
    ok(&["report", "submit", "--node-dir", &university.dir_arg(), "--table", "all"]);
    wait_until("the province verifies table 1", CONVERGE_DEADLINE, || {
        report_state(&province, "hb/u1", 1) == "verified"
    });

    // Exported at the province once its receipt of the submission is written, verified
    // with only the root key.
    let proof = base.path().join("表1报送证明.zip");
    let mut exported = serde_json::Value::Null;
    wait_until("the province's receipt of the submission", CONVERGE_DEADLINE, || {
        exported = ok(&[
            "report",
            "proof",
            "--node-dir",
            &province.dir_arg(),
            "--unit",
            "hb/u1",
            "--table",
            "1",
            "--out",
            proof.to_str().expect("path"),
        ]);
        rollcall(&["verify", "report-proof", proof.to_str().expect("path"), "--root", &root]).status.success()
    });
    assert_eq!(exported["recomputed"], "equal", "{exported}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&proof).expect("proof").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a proof holds registrations: owner only");
    }
    let output = rollcall(&["verify", "report-proof", proof.to_str().expect("path"), "--root", &root, "--summary"]);
    let text = String::from_utf8(output.stdout).expect("utf-8");
    assert!(output.status.success(), "{text}{}", String::from_utf8_lossy(&output.stderr));
    for expected in [
        "与报送的单元格逐一一致",
        &format!("早于截止日期 {year}-04-15"),
        "上级核验：一致",
        "报表：表1",
        "结论：核验通过",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    let (code, problems, _) = verify_as("report-proof", &proof, &root);
    assert_eq!((code, problems.len()), (0, 0), "{problems:?}");
    keep_artifacts(&[("proof.zip", &proof), ("university.key", &university.dir.join("replica.key"))], &root);

    // A proof that omits an event the table needs: one of the branch's registrations
    // taken out of the events. Refused, naming it.
    let files = read_zip(&proof);
    let evidence = unframe(&files.iter().find(|(n, _)| n == "evidence.bin").expect("evidence").1);
    let registration = evidence
        .iter()
        .position(|e| kind_of(e) == EventKind::MemberRegistered && e.body.is_some())
        .expect("registrations travel in full in a proof");
    let header = codec::decode_header(&evidence[registration].header).expect("header");
    let bad = base.path().join("bad-proof.zip");
    altered(&proof, &bad, "evidence.bin", |bytes| {
        let mut events = unframe(bytes);
        events.remove(registration);
        *bytes = frame(&events);
    });
    let output =
        rollcall(&["--lang", "en", "verify", "report-proof", bad.to_str().expect("p"), "--root", &root, "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let verdict: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let problems = verdict["problems"].to_string();
    assert!(
        problems.contains(&format!(
            "event {} of log {} is missing: the table cannot be recomputed",
            header.seq.0,
            header.replica.short()
        )),
        "{problems}"
    );

    // A submission whose checkpoint stops short of an event the table needs (signed by the
    // university's own key, as a unit that left a registration out would): the
    // recomputation differs, and the level above's receipt shows what it had acknowledged.
    let university_key = rollcall_server::config::read_key(&university.dir.join("replica.key")).expect("key");
    let report_index = evidence
        .iter()
        .position(|e| kind_of(e) == EventKind::ReportSubmitted && e.body.is_some())
        .expect("the submission");
    let forge_checkpoint = |seq: u64| {
        altered(&proof, &bad, "evidence.bin", |bytes| {
            let mut events = unframe(bytes);
            let mut report_header = codec::decode_header(&events[report_index].header).expect("header");
            let Ok(Body::ReportSubmitted(mut report)) =
                Body::decode(EventKind::ReportSubmitted, events[report_index].body.as_ref().expect("body"))
            else {
                panic!("a submission");
            };
            for head in &mut report.checkpoint {
                if head.replica[..] == header.replica.0[..] {
                    head.seq = seq;
                    head.hash = Default::default();
                }
            }
            let body = Body::ReportSubmitted(report).encode();
            report_header.body_hash = codec::body_hash(&body);
            let header_bytes = codec::encode_header(&report_header);
            let signature = ed25519_dalek::Signer::sign(&university_key, &header_bytes);
            events[report_index] =
                SignedEvent { header: header_bytes, signature: signature.to_bytes().to_vec().into(), body: Some(body) };
            *bytes = frame(&events);
        });
    };
    forge_checkpoint(header.seq.0 - 1);
    let output =
        rollcall(&["--lang", "en", "verify", "report-proof", bad.to_str().expect("p"), "--root", &root, "--json"]);
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let verdict: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let problems = verdict["problems"].to_string();
    assert!(problems.contains("recomputed from the checkpoint"), "a cell differs: {problems}");
    assert!(problems.contains("leaves out events the level above had acknowledged"), "{problems}");
    // A checkpoint naming the last seq there could be: answered at once, not walked.
    forge_checkpoint(u64::MAX);
    let output =
        rollcall(&["--lang", "en", "verify", "report-proof", bad.to_str().expect("p"), "--root", &root, "--json"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("the table cannot be recomputed"));
}
