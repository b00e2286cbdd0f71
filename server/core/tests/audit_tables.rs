//! Golden tests of tables 1-3 for a small hand-made dataset; every expected number is
//! written by hand below (issue 4).

mod support;

use rollcall_core::Level;
use rollcall_core::audit::deadlines::{self, State};
use rollcall_core::audit::tables::{self, Register, TABLE_1, TABLE_2, TABLE_3};
use rollcall_core::body::Body;
use rollcall_core::proto;
use rollcall_core::proto::DispositionType as T;
use rollcall_core::proto::LostSituation as S;
use rollcall_core::proto::MemberCategory::{Full, Probationary};
use rollcall_core::proto::PersonGroup::{Graduate, Retired, Staff, Student};
use support::*;

const B1: &str = "hb/u1/c1/b1";
const B2: &str = "hb/u1/c2/b2";

/// Six members in two branches of two colleges; as of 2025-03-31.
fn dataset() -> World {
    let mut w = World::new();
    w.ok(PROVINCE, campaign());
    // m1: staff, b1, lost since 2023-01-10 (26 months: 1-5 years), left job, still lost.
    // m1 and m2 signed their forms before the branch assessed them lost (a lost member
    // cannot confirm), and the chain went on: 支部初核, then 基层党委复核 by the college.
    w.ok(B1, register("m1", form("甲", Staff, Full, (1970, 1, 1))));
    sign_whole_chain(&mut w, "m1");
    w.ok(B1, lost("m1", day(2023, 1, 10), S::LeftJob));
    // m2: retired, b1, lost since 2010-05-01 (178 months: 11+ years), residence changed.
    w.ok(B1, register("m2", form("乙", Retired, Full, (1950, 2, 2))));
    sign_whole_chain(&mut w, "m2");
    w.ok(B1, lost("m2", day(2010, 5, 1), S::ResidenceChanged));
    // m3: graduate, b2, lost since 2024-07-01, located 2025-03-01: found this year.
    w.ok(B2, register("m3", form("丙", Graduate, Full, (1999, 3, 3))));
    w.ok(B2, lost("m3", day(2024, 7, 1), S::GraduatedWhereaboutsUnknown));
    w.ok(
        B2,
        Body::MemberLocated(proto::MemberLocated {
            member_id: "m3".into(),
            located_on: day(2025, 3, 1),
            cause: S::GraduatedWhereaboutsUnknown as i32,
            attitude_correct: true,
            ..Default::default()
        }),
    );
    w.ok(
        B2,
        Body::ManagementActionTaken(proto::ManagementActionTaken {
            member_id: "m3".into(),
            action: proto::ManagementAction::IncludeInManagement as i32,
            effective_on: day(2025, 3, 2),
            ..Default::default()
        }),
    );
    // m4: student, b2, lost since 2018-02-01 (85 months: 6-10 years), abroad.
    w.ok(B2, register("m4", form("丁", Student, Full, (2000, 4, 4))));
    w.ok(B2, lost("m4", day(2018, 2, 1), S::Abroad));
    // m5: staff, b2, retained abroad.
    w.ok(B2, register("m5", form("戊", Staff, Full, (1985, 5, 5))));
    w.ok(
        B2,
        Body::ManagementActionTaken(proto::ManagementActionTaken {
            member_id: "m5".into(),
            action: proto::ManagementAction::RetainAbroad as i32,
            effective_on: day(2025, 1, 10),
            written_application: true,
            college_approved_on: day(2025, 1, 2),
            university_registered_on: day(2025, 1, 5),
            ..Default::default()
        }),
    );
    // m6: staff, b1, probationary: probationary status cancelled through the whole procedure.
    w.ok(B1, register("m6", form("己", Staff, Probationary, (2001, 6, 6))));
    w.ok(B1, Body::DispositionProposed(propose("k6", "m6", T::CancelProbationary)));
    w.ok(B1, investigate("k6"));
    w.author_at(B1, Level::College, pre_review("k6", Level::College, T::CancelProbationary, true)).expect("pre-review");
    w.ok(B1, Body::DispositionVoted(vote("k6", 12, 0, 10, 9)));
    w.author_at(B1, Level::College, approve("k6", T::CancelProbationary)).expect("approval");
    // m1's gender corrected.
    w.ok(
        B1,
        Body::RecordCorrected(proto::RecordCorrected {
            member_id: "m1".into(),
            field: proto::MemberField::Gender as i32,
            new_value: "男".into(),
            reason: "档案".into(),
            settles: vec![],
        }),
    );
    w
}

/// 本人确认 and 支部初核 at the branch, 基层党委复核 by the college, in that order.
fn sign_whole_chain(w: &mut World, member_id: &str) {
    use proto::form_signed_off::Stage as Sign;
    let chain = [
        (Sign::MemberConfirmed, Level::Branch),
        (Sign::BranchChecked, Level::Branch),
        (Sign::CommitteeRechecked, Level::College),
    ];
    for (stage, level) in chain {
        let signed =
            proto::FormSignedOff { member_id: member_id.into(), stage: stage as i32, signed_on: day(2025, 3, 20) };
        w.author_at(B1, level, Body::FormSignedOff(signed)).expect("in order, at its level");
    }
}

fn row(values: &[Option<i64>]) -> Vec<Option<i64>> {
    values.to_vec()
}

const N: Option<i64> = None;
fn n(value: i64) -> Option<i64> {
    Some(value)
}

#[test]
fn table_2_lost_members() {
    let w = dataset();
    let table = tables::compute(&TABLE_2, &w.projection, &unit("hb"));
    let labels: Vec<&str> = table.rows.iter().map(|(zh, _)| zh.as_str()).collect();
    assert_eq!(labels, ["总计", "教职工（含解除劳动关系的）", "离退休人员", "高校毕业生", "其他"]);
    //            still  6m-1y 1-5y 6-10y 11+  离职 毕业 单位 出国 居住 其他 本年找回
    let expected = vec![
        row(&[n(3), N, n(1), n(1), n(1), n(1), N, N, n(1), n(1), N, n(1)]),
        row(&[n(1), N, n(1), N, N, n(1), N, N, N, N, N, N]),
        row(&[n(1), N, N, N, n(1), N, N, N, N, n(1), N, N]),
        row(&[N, N, N, N, N, N, N, N, N, N, N, n(1)]),
        row(&[n(1), N, N, n(1), N, N, N, N, n(1), N, N, N]),
    ];
    assert_eq!(table.cells, expected);
    assert_eq!(tables::check(&TABLE_2, &table.cells), vec![]);
}

#[test]
fn table_3_management_and_dispositions() {
    let w = dataset();
    let table = tables::compute(&TABLE_3, &w.projection, &unit("hb/u1"));
    //        纳入管理 取消预备 保留 停止 限期改正 退党 自行脱党 劝退 劝而不退 不予承认
    let expected = vec![
        row(&[n(1), n(1), n(1), N, N, N, N, N, N, N]),
        row(&[N, n(1), n(1), N, N, N, N, N, N, N]),
        row(&[N, N, N, N, N, N, N, N, N, N]),
        row(&[n(1), N, N, N, N, N, N, N, N, N]),
        row(&[N, N, N, N, N, N, N, N, N, N]),
    ];
    assert_eq!(table.cells, expected);
    assert_eq!(tables::check(&TABLE_3, &table.cells), vec![]);
}

#[test]
fn table_1_by_college() {
    let w = dataset();
    let table = tables::compute(&TABLE_1, &w.projection, &unit("hb/u1"));
    let labels: Vec<&str> = table.rows.iter().map(|(zh, _)| zh.as_str()).collect();
    // Units never named are shown by their path.
    assert_eq!(labels, ["合计", "hb/u1/c1", "hb/u1/c2"]);
    // 党委 党总支 党支部 | members full prob | checked corrected arch-inc irregular | flowing card |
    // pocket resolved | retained | lost found still | confirmed re-checked
    // Nobody's five checks are all recorded in this dataset (no conduct notes), so 已核查
    // is blank; two forms are confirmed and checked, and re-checked by the committee.
    let expected = vec![
        row(&[n(2), N, n(2), n(6), n(5), n(1), N, n(1), N, N, N, N, N, N, n(1), n(4), n(1), n(3), n(2), n(2)]),
        row(&[n(1), N, n(1), n(3), n(2), n(1), N, n(1), N, N, N, N, N, N, N, n(2), N, n(2), n(2), n(2)]),
        row(&[n(1), N, n(1), n(3), n(3), N, N, N, N, N, N, N, N, N, n(1), n(2), n(1), n(1), N, N]),
    ];
    assert_eq!(table.cells, expected);
    assert_eq!(tables::check(&TABLE_1, &table.cells), vec![]);
}

#[test]
fn checks_catch_bad_sums_and_zeros_written_for_blanks() {
    let w = dataset();
    let mut cells = tables::compute(&TABLE_2, &w.projection, &unit("hb")).cells;
    cells[1][0] = Some(2);
    cells[3][1] = Some(0);
    let failures = tables::check(&TABLE_2, &cells);
    let english: Vec<&str> = failures.iter().map(|f| f.message_en.as_str()).collect();
    assert!(english.iter().any(|m| m.contains("total row, column 1")), "{english:?}");
    assert!(english.iter().any(|m| m.contains("row 2: still unreachable is 2 but its parts sum to 1")), "{english:?}");
    assert!(english.iter().any(|m| m.contains("row 4 column 2 holds 0")), "{english:?}");
    assert!(failures.iter().all(|f| !f.message_zh.is_empty()));
}

#[test]
fn registers_list_found_and_still_lost_members() {
    let w = dataset();
    let found = tables::register(&w.projection, &unit("hb"), Register::Found, false);
    assert_eq!(found.len(), 1);
    assert_eq!((found[0][0].as_str(), found[0][1].as_str()), ("1", "丙"));
    assert_eq!(found[0][12], "2025年3月1日", "取得联系时间");
    let still = tables::register(&w.projection, &unit("hb/u1/c1"), Register::StillLost, false);
    let names: Vec<&str> = still.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(names, ["乙", "甲"], "sorted by branch, then name");
    assert_eq!(still[1][0], "2", "序号");
    assert_eq!(still[1][9], "2023年1月至2025年3月", "from the last contact to the as-of date");
    // 离职 is not one of the form's seven situations: ⑦其他, the reason in 备注.
    assert_eq!((still[1][10].as_str(), still[1][13].as_str()), ("⑦其他", "离职"));
    assert!(still[1][4].contains("********"), "the ID number masked: {}", still[1][4]);
    let full = tables::register(&w.projection, &unit("hb/u1/c1"), Register::StillLost, true);
    assert!(!full[1][4].contains('*'), "in full when asked for");
}

#[test]
fn deadlines_are_judged_on_state_and_receipts() {
    let mut w = dataset();
    // 2025-04-01 12:00 CST: the member database is behind (2 of 6 signed).
    let april_first = 1_743_480_000_000;
    let status = deadlines::status(&w.projection, &unit("hb/u1"), april_first);
    let of = |kind| status.iter().find(|s| s.kind == kind).expect("deadline present").clone();
    let database = of(proto::DeadlineKind::MemberDatabase);
    assert_eq!((database.done, database.total), (2, 6));
    assert_eq!(database.state, State::OnTrack);
    assert!(
        database
            .blockers
            .iter()
            .any(|b| b.unit == unit("hb/u1/c2") && b.count == 3 && b.reason == "forms_not_rechecked")
    );
    let tables_due = of(proto::DeadlineKind::UniversityTables);
    assert_eq!(tables_due.state, State::AtRisk, "14 days left, nothing submitted");
    assert_eq!(tables_due.blockers[0].reason, "tables_missing");
    let dispositions = of(proto::DeadlineKind::Dispositions);
    assert_eq!((dispositions.done, dispositions.total), (0, 1), "approved but not filed");
    assert_eq!(of(proto::DeadlineKind::ProvinceTables).state, State::NotApplicable);

    // The university submits; the province's receipt and its verification make it count.
    let mut submitted = Vec::new();
    for table in 1..=3 {
        w.ok(
            "hb/u1",
            Body::ReportSubmitted(proto::ReportSubmitted { campaign_id: "2025".into(), table, ..Default::default() }),
        );
        let header = &w.events.last().expect("report").header;
        submitted.push((table, header.replica, header.seq.0));
    }
    let pending = deadlines::status(&w.projection, &unit("hb/u1"), april_first);
    let reasons = |status: &[deadlines::DeadlineStatus]| -> Vec<&'static str> {
        status[0].blockers.iter().map(|b| b.reason).collect()
    };
    assert!(reasons(&pending).contains(&"tables_not_received"), "{:?}", reasons(&pending));
    assert!(reasons(&pending).contains(&"tables_unverified"), "{:?}", reasons(&pending));
    let university = w.events.last().expect("report").header.replica;
    let seq = w.events.last().expect("report").header.seq.0;
    // A receipt of the university's log up to `seq`, stored on April 1st.
    let receipt = |seq: u64| {
        Body::Receipt(proto::Receipt {
            heads: vec![proto::ReplicaHead { replica: university.0.to_vec().into(), seq, hash: vec![0; 32].into() }],
            stored_at_ms: april_first,
        })
    };
    // A receipt the university signs about itself, backdated, proves nothing: only the
    // level above can say when it received the tables.
    w.author_at("hb/u1", Level::University, receipt(seq)).expect("a node may sign receipts within its unit");
    let self_receipted = deadlines::status(&w.projection, &unit("hb/u1"), april_first);
    assert!(reasons(&self_receipted).contains(&"tables_not_received"), "{:?}", reasons(&self_receipted));
    // The province's receipt about the university (a receipt's unit is the child's).
    w.author_at("hb/u1", Level::Province, receipt(seq)).expect("receipt");
    let received = deadlines::status(&w.projection, &unit("hb/u1"), april_first);
    assert_eq!(reasons(&received), vec!["tables_unverified"], "received, not yet verified");
    // The province recomputes: table 2 differs, table 3 it returns, table 1 is equal.
    let verdict = |table: u32, replica: rollcall_core::ReplicaId, seq: u64, equal: bool| {
        Body::ReportVerified(proto::ReportVerified {
            campaign_id: "2025".into(),
            table,
            report_replica: replica.0.to_vec().into(),
            report_seq: seq,
            equal,
            differences: if equal {
                vec![]
            } else {
                vec![proto::CellDifference { row: 1, column: 2, submitted: Some(3), recomputed: Some(4) }]
            },
        })
    };
    let (replica, seq1) = (submitted[0].1, submitted[0].2);
    w.author_at("hb/u1", Level::Province, verdict(1, replica, seq1, true)).expect("verdict 1");
    w.author_at("hb/u1", Level::Province, verdict(2, replica, submitted[1].2, false)).expect("verdict 2");
    let returned = Body::ReportReturned(proto::ReportReturned {
        campaign_id: "2025".into(),
        table: 3,
        report_replica: replica.0.to_vec().into(),
        report_seq: submitted[2].2,
        reason: "处置数与案件不符".into(),
    });
    w.author_at("hb/u1", Level::Province, returned.clone()).expect("return");
    assert!(w.author_at("hb/u1", Level::Province, returned).is_err(), "returned once");
    let judged = deadlines::status(&w.projection, &unit("hb/u1"), april_first);
    assert_eq!(reasons(&judged), vec!["tables_returned", "tables_differ"]);
    // The university resubmits tables 2 and 3; the province verifies them equal.
    for table in [2, 3] {
        w.ok(
            "hb/u1",
            Body::ReportSubmitted(proto::ReportSubmitted { campaign_id: "2025".into(), table, ..Default::default() }),
        );
        let header = w.events.last().expect("report").header.clone();
        w.author_at("hb/u1", Level::Province, verdict(table, header.replica, header.seq.0, true)).expect("verdict");
    }
    let seq = w.events.iter().rev().find(|e| e.header.replica == university).expect("report").header.seq.0;
    w.author_at("hb/u1", Level::Province, receipt(seq)).expect("receipt");
    let done = deadlines::status(&w.projection, &unit("hb/u1"), april_first);
    assert_eq!(done[0].state, State::Done, "{:?}", reasons(&done));
    let province = deadlines::status(&w.projection, &unit("hb"), april_first);
    assert_eq!(province[0].state, State::Done, "the only university is done");
    // After 8-31 an unfinished disposition is overdue.
    let september = 1_756_742_400_000; // 2025-09-01 16:00 CST
    let late = deadlines::status(&w.projection, &unit("hb/u1"), september);
    assert_eq!(
        late.iter().find(|s| s.kind == proto::DeadlineKind::Dispositions).expect("present").state,
        State::Overdue
    );
}
