//! Tables 1-3 and the two per-member registers (DOMAIN.md section 5), as data-driven
//! templates: a template names its rows (person groups, or the unit's children), its
//! columns (metrics) and its checks; [`compute`] fills it from a projection and
//! [`check`] verifies it.
//!
//! Invariants: a cell is blank (`None`) when nothing is counted in it — blank is not 0,
//! and a submitted table with an explicit 0 fails [`check`]; the total row and every
//! column-sum rule hold for any table computed from a projection whose data is complete
//! (a failed check points at missing data, such as a lost member with no date).

use chrono::NaiveDate;

use crate::audit::dates;
use crate::audit::projection::{OrganisationCounts, Projection};
use crate::audit::stats::{Counters, Metric};
use crate::proto;
use crate::proto::PersonGroup as G;
use crate::unit::UnitPath;

/// What a table's rows are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rows {
    /// A total row, then one row per person-group set (tables 2 and 3).
    Groups(&'static [(&'static str, &'static str, &'static [G])]),
    /// A total row, then one row per child unit (table 1).
    ChildUnits,
}

/// What a column counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    /// 党委 (and 党工委) in the row's subtree.
    Committees,
    /// 党总支 in the row's subtree.
    GeneralBranches,
    /// 党支部 (and 联合党支部) in the row's subtree.
    Branches,
    /// A metric.
    Metric(Metric),
}

impl Column {
    /// Chinese heading.
    pub fn name_zh(self) -> &'static str {
        match self {
            Column::Committees => "党委",
            Column::GeneralBranches => "党总支",
            Column::Branches => "党支部",
            Column::Metric(metric) => metric.name_zh(),
        }
    }
    /// English heading.
    pub fn name_en(self) -> &'static str {
        match self {
            Column::Committees => "Party committees",
            Column::GeneralBranches => "general branches",
            Column::Branches => "branches",
            Column::Metric(metric) => metric.name_en(),
        }
    }
    /// Stable key.
    pub fn key(self) -> &'static str {
        match self {
            Column::Committees => "org_committees",
            Column::GeneralBranches => "org_general_branches",
            Column::Branches => "org_branches",
            Column::Metric(metric) => metric.key(),
        }
    }
    /// The column's definition (what exactly it counts), when it has one.
    pub fn definition(self) -> Option<&'static Definition> {
        definition(self.key())
    }
}

/// What one column of a table counts, shipped with the templates (the legend sheet of
/// an exported table, `rollcall table --legend`, `TableColumn.definition_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Definition {
    /// The column's key.
    pub key: &'static str,
    /// The grouped heading it sits under (empty: none).
    pub group_zh: &'static str,
    /// Its heading under that group.
    pub heading_zh: &'static str,
    /// What it counts, in Chinese.
    pub zh: &'static str,
    /// What it counts, in English.
    pub en: &'static str,
}

const fn def(
    key: &'static str,
    group_zh: &'static str,
    heading_zh: &'static str,
    zh: &'static str,
    en: &'static str,
) -> Definition {
    Definition { key, group_zh, heading_zh, zh, en }
}

/// Every column definition of table 1 (and of the metrics tables 2 and 3 share). A
/// member is counted once, at the branch holding the relation in force, and only while
/// on the roll (not transferred out).
pub const DEFINITIONS: &[Definition] = &[
    def(
        "org_committees",
        "党组织数",
        "党委",
        "本行所列单位（含其下级）中的党委、党工委个数（党组织类型611、612；未登记名称的高校、院系按党委计）",
        "Party committees (611, 612) in the row's unit and below; a university or college never named counts as one",
    ),
    def(
        "org_general_branches",
        "党组织数",
        "党总支",
        "本行所列单位（含其下级）中的党总支个数（党组织类型621）",
        "general Party branches (621) in the row's unit and below",
    ),
    def(
        "org_branches",
        "党组织数",
        "党支部",
        "本行所列单位（含其下级）中的党支部、联合党支部个数（党组织类型631、632；未登记名称的第4级单位按党支部计）",
        "Party branches (631, 632) in the row's unit and below; a level-4 unit never named counts as one",
    ),
    def(
        "members",
        "党员数",
        "总数",
        "在册党员人数（组织关系在本单位，未转出）",
        "members on the roll (relation held here, not transferred out)",
    ),
    def("full", "党员数", "正式党员", "在册党员中人员类别为正式党员的人数", "members on the roll who are full members"),
    def(
        "probationary",
        "党员数",
        "预备党员",
        "在册党员中人员类别为预备党员的人数",
        "members on the roll who are probationary",
    ),
    def(
        "checked",
        "核查情况",
        "已核查",
        "“五核查”已记录的党员人数：核查党员名册（支部初核签字，或已更正、已标记待查明）、核查党员档案（档案核查）、核查党费和组织生活记录（联系状态核查）、核查现实表现（现实表现核查）均已记录；核查组织关系介绍信存根按支部存根簿进行，不逐人计",
        "members whose five checks are recorded: the roster (the branch's first check signed, or a correction or flag recorded), the archive (reviewed), dues and organisation life (contact status assessed), and conduct (noted); the fourth check, of transfer-letter stubs, is of the branch's stub book, not of each member",
    ),
    def(
        "corrected",
        "核查情况",
        "信息已更正",
        "党员名册信息经核查作过更正的党员人数",
        "members with at least one roster correction",
    ),
    def(
        "archive_incomplete",
        "核查情况",
        "档案不全",
        "档案核查后入党材料不齐全的党员人数（预备党员不要求转正申请书）",
        "members whose archive review found required admission materials missing",
    ),
    def(
        "suspected_irregular",
        "核查情况",
        "疑似违规入党",
        "档案核查认定身份存疑、违规入党或疑似假党员的人数",
        "members whose archive review found doubtful identity, irregular admission or a suspected fake",
    ),
    def(
        "flowing",
        "流动党员",
        "总数",
        "登记表或联系状态核查认定为流动党员的人数",
        "members recorded as flowing (on the form or by assessment)",
    ),
    def(
        "flowing_card",
        "流动党员",
        "持流动党员活动证",
        "流动党员中持有流动党员活动证的人数",
        "flowing members holding a flowing-member card",
    ),
    def(
        "pocket",
        "口袋党员",
        "总数",
        "组织关系介绍信开出后未收到回执，且介绍信已过有效期或开出已满政策规定月数（默认6个月）的党员人数",
        "members whose transfer letter has no receipt and expired, or is older than the policy's months (6 by default)",
    ),
    def(
        "pocket_resolved",
        "口袋党员",
        "已解决",
        "口袋党员中接收单位已确认接收或已补转组织关系的人数",
        "pocket members whose receiving unit confirmed the relation, or whose transfer was re-issued",
    ),
    def(
        "retained",
        "",
        "保留组织关系",
        "出国（境）经批准保留组织关系的党员人数",
        "members abroad whose relation is retained",
    ),
    def(
        "lost",
        "失联党员",
        "排查出的",
        "排查中认定为失联的党员人数（联系状态核查认定失联，或截至统计截止日期最后一次参加组织生活、交纳党费已满政策规定月数，默认6个月，或登记表填写失联），含其后取得联系的",
        "members found lost in the audit (assessed lost, or no organisation life or dues for the policy's months, 6 by default, by the as-of date, or lost on the form), including those found since",
    ),
    def(
        "found",
        "失联党员",
        "经查找取得联系",
        "失联党员中经查找已取得联系的人数",
        "lost members located by the search",
    ),
    def(
        "still_lost",
        "失联党员",
        "仍然无法取得联系",
        "失联党员中经查找仍然无法取得联系的人数",
        "lost members still unreachable",
    ),
    def(
        "forms_confirmed",
        "登记表",
        "已签字确认",
        "《党员基本情况登记表》经党员本人确认并经党支部初核签字的人数",
        "members whose form is confirmed by the member and checked by the branch, in that order",
    ),
    def(
        "forms_signed",
        "登记表",
        "已复核",
        "登记表在本人确认、支部初核之后经基层党委复核的人数",
        "members whose form was re-checked by the grassroots committee after both",
    ),
];

/// The definition of the column with `key`.
pub fn definition(key: &str) -> Option<&'static Definition> {
    DEFINITIONS.iter().find(|d| d.key == key)
}

/// A check of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Row 0 is the sum of the other rows, in every column.
    TotalRowIsSum,
    /// In every row, column `total` equals the sum of columns `parts`.
    ColumnIsSum {
        /// The total column.
        total: Metric,
        /// The parts.
        parts: &'static [Metric],
    },
}

/// A table's template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Template {
    /// 1, 2 or 3.
    pub number: u32,
    /// Chinese title.
    pub title_zh: &'static str,
    /// English title.
    pub title_en: &'static str,
    /// Rows.
    pub rows: Rows,
    /// Columns.
    pub columns: &'static [Column],
    /// Checks.
    pub checks: &'static [Check],
    /// The official layout of the headings, one (group, heading) per column: the grouped
    /// heading a column sits under (empty: none, the heading spans the header rows) and
    /// its own. `{as_of}` stands for the as-of date (2026年3月31日). Empty: table 1,
    /// whose headings are its [`DEFINITIONS`].
    pub headings: &'static [(&'static str, &'static str)],
    /// The total row's label: 总计 on 表四/表五, 合计 on table 1.
    pub total_zh: &'static str,
}

const GROUP_ROWS: &[(&str, &str, &[G])] = &[
    ("教职工（含解除劳动关系的）", "staff", &[G::Staff]),
    ("离退休人员", "retired", &[G::Retired]),
    ("高校毕业生", "graduates", &[G::Graduate]),
    ("其他", "other", &[G::Student, G::OtherGroup]),
];

const DURATIONS: &[Metric] = &[Metric::Lost6mTo1y, Metric::Lost1To5y, Metric::Lost6To10y, Metric::Lost11yPlus];
const SITUATIONS: &[Metric] = &[
    Metric::SituationLeftJob,
    Metric::SituationGraduated,
    Metric::SituationEmployerChanged,
    Metric::SituationAbroad,
    Metric::SituationResidence,
    Metric::SituationOther,
];

/// 表1 排查情况统计表 (DOMAIN.md marks its headings an inference: they are this data).
pub const TABLE_1: Template = Template {
    number: 1,
    title_zh: "党员组织关系集中排查情况统计表",
    title_en: "Audit of organisational relationships: summary",
    rows: Rows::ChildUnits,
    headings: &[],
    total_zh: "合计",
    columns: &[
        Column::Committees,
        Column::GeneralBranches,
        Column::Branches,
        Column::Metric(Metric::Members),
        Column::Metric(Metric::Full),
        Column::Metric(Metric::Probationary),
        Column::Metric(Metric::Checked),
        Column::Metric(Metric::Corrected),
        Column::Metric(Metric::ArchiveIncomplete),
        Column::Metric(Metric::SuspectedIrregular),
        Column::Metric(Metric::Flowing),
        Column::Metric(Metric::FlowingWithCard),
        Column::Metric(Metric::Pocket),
        Column::Metric(Metric::PocketResolved),
        Column::Metric(Metric::Retained),
        Column::Metric(Metric::Lost),
        Column::Metric(Metric::Found),
        Column::Metric(Metric::StillLost),
        Column::Metric(Metric::FormsConfirmed),
        Column::Metric(Metric::FormsSigned),
    ],
    checks: &[
        Check::TotalRowIsSum,
        Check::ColumnIsSum { total: Metric::Members, parts: &[Metric::Full, Metric::Probationary] },
        Check::ColumnIsSum { total: Metric::Lost, parts: &[Metric::Found, Metric::StillLost] },
    ],
};

/// 表2 与党组织失去联系党员情况汇总表 (Ministry of Education 表四 layout).
pub const TABLE_2: Template = Template {
    number: 2,
    title_zh: "与党组织失去联系党员情况汇总表",
    title_en: "Members out of contact with the Party organisation",
    rows: Rows::Groups(GROUP_ROWS),
    headings: &[
        ("", "截止{as_of}未取得联系党员数量"),
        ("失去联系时间", "6个月以上不满1年"),
        ("失去联系时间", "1年至5年"),
        ("失去联系时间", "6年至10年"),
        ("失去联系时间", "11年及以上"),
        ("失去联系情形", "离职"),
        ("失去联系情形", "毕业后去向不明"),
        ("失去联系情形", "工作单位改变"),
        ("失去联系情形", "出国（境）"),
        ("失去联系情形", "居住地改变"),
        ("失去联系情形", "其他"),
        ("", "一年内已取得联系党员数量"),
    ],
    total_zh: "总计",
    columns: &[
        Column::Metric(Metric::StillLost),
        Column::Metric(Metric::Lost6mTo1y),
        Column::Metric(Metric::Lost1To5y),
        Column::Metric(Metric::Lost6To10y),
        Column::Metric(Metric::Lost11yPlus),
        Column::Metric(Metric::SituationLeftJob),
        Column::Metric(Metric::SituationGraduated),
        Column::Metric(Metric::SituationEmployerChanged),
        Column::Metric(Metric::SituationAbroad),
        Column::Metric(Metric::SituationResidence),
        Column::Metric(Metric::SituationOther),
        Column::Metric(Metric::FoundThisYear),
    ],
    checks: &[
        Check::TotalRowIsSum,
        Check::ColumnIsSum { total: Metric::StillLost, parts: DURATIONS },
        Check::ColumnIsSum { total: Metric::StillLost, parts: SITUATIONS },
    ],
};

/// 表3 失联党员规范管理及组织处置情况汇总表 (Ministry of Education 表五 layout, with
/// the optional 党内统计 columns 劝退, 劝而不退除名, 不予承认 enabled).
pub const TABLE_3: Template = Template {
    number: 3,
    title_zh: "失联党员规范管理及组织处置情况汇总表",
    title_en: "Regularised management and organisational dispositions of lost members",
    rows: Rows::Groups(GROUP_ROWS),
    headings: &[
        ("规范管理情况", "纳入组织管理"),
        ("规范管理情况", "取消预备党员资格"),
        ("规范管理情况", "保留组织关系"),
        ("规范管理情况", "停止党籍"),
        ("组织处置情况", "限期改正"),
        ("组织处置情况", "退党除名"),
        ("组织处置情况", "自行脱党除名"),
        ("组织处置情况", "劝退"),
        ("组织处置情况", "劝而不退除名"),
        ("组织处置情况", "不予承认"),
    ],
    total_zh: "总计",
    columns: &[
        Column::Metric(Metric::Included),
        Column::Metric(Metric::CancelProbationary),
        Column::Metric(Metric::Retained),
        Column::Metric(Metric::Stopped),
        Column::Metric(Metric::CorrectionPeriod),
        Column::Metric(Metric::WithdrawalRemoval),
        Column::Metric(Metric::SelfSeparationRemoval),
        Column::Metric(Metric::PersuadeToWithdraw),
        Column::Metric(Metric::RemovalAfterPersuasion),
        Column::Metric(Metric::NonRecognition),
    ],
    checks: &[Check::TotalRowIsSum],
};

impl Template {
    /// The definition of a column in this template: table 1's columns are defined in
    /// [`DEFINITIONS`] (tables 2 and 3 follow the Ministry's layouts, whose headings
    /// say what they count).
    pub fn definition_of(&self, column: Column) -> Option<&'static Definition> {
        if self.number == 1 { column.definition() } else { None }
    }

    /// A column's official heading in this template (under its group, if it has one);
    /// `{as_of}` stands for the as-of date.
    pub fn heading_zh(&self, column: Column) -> &'static str {
        match self.columns.iter().position(|c| *c == column).and_then(|i| self.headings.get(i)) {
            Some((_, heading)) => heading,
            None => self.definition_of(column).map_or(column.name_zh(), |d| d.heading_zh),
        }
    }

    /// The grouped heading a column sits under (empty: none).
    pub fn group_zh(&self, column: Column) -> &'static str {
        match self.columns.iter().position(|c| *c == column).and_then(|i| self.headings.get(i)) {
            Some((group, _)) => group,
            None => self.definition_of(column).map_or("", |d| d.group_zh),
        }
    }
}

/// The template of table `number`.
pub fn template(number: u32) -> Option<&'static Template> {
    match number {
        1 => Some(&TABLE_1),
        2 => Some(&TABLE_2),
        3 => Some(&TABLE_3),
        _ => None,
    }
}

/// A computed table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// Its template.
    pub template: &'static Template,
    /// The unit whose subtree it covers.
    pub unit: UnitPath,
    /// The as-of date (the campaign's).
    pub as_of: Option<NaiveDate>,
    /// Row labels (Chinese, English); row 0 is the total.
    pub rows: Vec<(String, String)>,
    /// The unit each row of table 1 is about (`None`: the total, or a group row).
    pub row_units: Vec<Option<UnitPath>>,
    /// Cells by row then column; `None` is blank.
    pub cells: Vec<Vec<Option<i64>>>,
}

fn blank_if_zero(value: u32) -> Option<i64> {
    (value != 0).then_some(i64::from(value))
}

/// Fills table `template` for `unit` from `projection`.
///
/// Table 1 has a row per unit directly below `unit` (every unit known there: enrolled,
/// named or counting somebody, so a branch with nobody counted still counts as a
/// 党组织), and a row for members held at `unit` itself when there are any; its total
/// row counts the organisations below `unit`, not `unit` itself.
pub fn compute(template: &'static Template, projection: &Projection, unit: &UnitPath) -> Table {
    let mut rows = vec![(template.total_zh.to_string(), "total".to_string())];
    let mut row_units = vec![None];
    let mut cells = Vec::new();
    match template.rows {
        Rows::Groups(groups) => {
            let counters = projection.rollup(unit);
            let organisations = OrganisationCounts::default();
            cells.push(row_of(template, &counters, None, organisations));
            for (zh, en, members) in groups {
                rows.push(((*zh).to_string(), (*en).to_string()));
                row_units.push(None);
                cells.push(row_of(template, &counters, Some(members), organisations));
            }
        }
        Rows::ChildUnits => {
            let total = projection.rollup(unit);
            let known = projection.known_units();
            cells.push(row_of(template, &total, None, projection.organisations(unit, false)));
            let mut children: std::collections::BTreeMap<UnitPath, Counters> = projection
                .known_children_among(known, unit)
                .into_iter()
                .map(|child| (child, Counters::default()))
                .collect();
            let mut own = None;
            for (child, counters) in projection.child_rollups(unit) {
                if child == *unit {
                    own = Some(counters);
                } else {
                    children.insert(child, counters);
                }
            }
            if let Some(counters) = own {
                rows.push(("本级直属".to_string(), "held directly".to_string()));
                row_units.push(Some(unit.clone()));
                cells.push(row_of(template, &counters, None, OrganisationCounts::default()));
            }
            for (child, counters) in children {
                let label = projection.unit_label(&child);
                rows.push((label.clone(), label));
                cells.push(row_of(template, &counters, None, projection.organisations(&child, true)));
                row_units.push(Some(child));
            }
        }
    }
    Table { template, unit: unit.clone(), as_of: projection.as_of(), rows, row_units, cells }
}

fn row_of(
    template: &Template,
    counters: &Counters,
    groups: Option<&[G]>,
    organisations: OrganisationCounts,
) -> Vec<Option<i64>> {
    template
        .columns
        .iter()
        .map(|column| match column {
            Column::Committees => blank_if_zero(organisations.committees),
            Column::GeneralBranches => blank_if_zero(organisations.general_branches),
            Column::Branches => blank_if_zero(organisations.branches),
            Column::Metric(metric) => blank_if_zero(match groups {
                None => counters.total(*metric),
                Some(groups) => groups.iter().map(|group| counters.get(*metric, *group)).sum(),
            }),
        })
        .collect()
}

/// A check that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckFailure {
    /// Row index (0 is the total).
    pub row: usize,
    /// Column index, when one column is at fault.
    pub column: Option<usize>,
    /// What failed, in Chinese.
    pub message_zh: String,
    /// What failed, in English.
    pub message_en: String,
}

/// Checks a table's cells against its template (sums; blank is not 0).
pub fn check(template: &Template, cells: &[Vec<Option<i64>>]) -> Vec<CheckFailure> {
    let mut failures = Vec::new();
    let value = |cell: &Option<i64>| cell.unwrap_or(0);
    for (row, values) in cells.iter().enumerate() {
        for (column, cell) in values.iter().enumerate() {
            if *cell == Some(0) {
                failures.push(CheckFailure {
                    row,
                    column: Some(column),
                    message_zh: format!("第{}行第{}列填写了0：无数据应留空", row + 1, column + 1),
                    message_en: format!(
                        "row {} column {} holds 0: a cell with nothing to count is blank",
                        row + 1,
                        column + 1
                    ),
                });
            }
        }
    }
    let column_of = |metric: Metric| template.columns.iter().position(|c| *c == Column::Metric(metric));
    for rule in template.checks {
        match rule {
            Check::TotalRowIsSum => {
                let Some(total) = cells.first() else { continue };
                for (column, total_cell) in total.iter().enumerate() {
                    let sum: i64 = cells[1..].iter().map(|row| row.get(column).map_or(0, value)).sum();
                    if value(total_cell) != sum {
                        failures.push(CheckFailure {
                            row: 0,
                            column: Some(column),
                            message_zh: format!("合计行第{}列为{}，各行之和为{sum}", column + 1, value(total_cell)),
                            message_en: format!(
                                "total row, column {}: {} but the rows sum to {sum}",
                                column + 1,
                                value(total_cell)
                            ),
                        });
                    }
                }
            }
            Check::ColumnIsSum { total, parts } => {
                let Some(total_column) = column_of(*total) else { continue };
                let part_columns: Vec<usize> = parts.iter().filter_map(|part| column_of(*part)).collect();
                for (row, values) in cells.iter().enumerate() {
                    let sum: i64 = part_columns.iter().map(|c| values.get(*c).map_or(0, value)).sum();
                    let held = values.get(total_column).map_or(0, value);
                    if held != sum {
                        failures.push(CheckFailure {
                            row,
                            column: Some(total_column),
                            message_zh: format!("第{}行“{}”为{held}，分项之和为{sum}", row + 1, total.name_zh()),
                            message_en: format!(
                                "row {}: {} is {held} but its parts sum to {sum}",
                                row + 1,
                                total.name_en()
                            ),
                        });
                    }
                }
            }
        }
    }
    failures
}

/// The two per-member registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Register {
    /// 《经查找取得联系党员登记表》.
    Found,
    /// 《经查找仍然无法取得联系党员登记表》.
    StillLost,
}

impl Register {
    /// Chinese title.
    pub fn title_zh(self) -> &'static str {
        match self {
            Register::Found => "经查找取得联系党员登记表",
            Register::StillLost => "经查找仍然无法取得联系党员登记表",
        }
    }
    /// English title.
    pub fn title_en(self) -> &'static str {
        match self {
            Register::Found => "Members found again",
            Register::StillLost => "Members still unreachable after search",
        }
    }
}

/// A register's column: key, Chinese heading (FORMS.md, character for character),
/// English heading.
pub type RegisterColumn = (&'static str, &'static str, &'static str);

const REGISTER_HEAD: &[RegisterColumn] = &[
    ("seq", "序号", "no."),
    ("name", "姓名", "name"),
    ("gender", "性别", "sex"),
    ("birth", "出生年月", "born"),
    ("id_number", "公民身份证号", "citizen ID number"),
    ("joined", "入党时间", "joined"),
    ("category", "人员类别（正式党员/预备党员）", "full or probationary"),
    ("group", "身份（教职工/离退休人员/高校毕业生/其他）", "group"),
    ("branch", "所在党支部", "branch"),
    ("lost_period", "失去联系时间", "out of contact"),
    ("situation", "失去联系情形", "situation"),
    ("search", "查找方式及次数", "search methods and attempts"),
];
const REGISTER_FOUND: RegisterColumn = ("found_on", "取得联系时间", "found on");
const REGISTER_TAIL: &[RegisterColumn] =
    &[("handling", "规范管理或组织处置情况", "management or disposition"), ("note", "备注", "note")];

impl Register {
    /// The register's columns, in order (取得联系时间 on the first register only).
    pub fn columns(self) -> Vec<RegisterColumn> {
        let mut columns = REGISTER_HEAD.to_vec();
        if self == Register::Found {
            columns.push(REGISTER_FOUND);
        }
        columns.extend_from_slice(REGISTER_TAIL);
        columns
    }
}

/// Personal data masked for display: the first `head` and last `tail` characters kept,
/// the rest starred (all of it when it is that short). The one masking rule of the
/// registers, the node's answers to viewers and the CLI.
pub fn mask(text: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len());
    }
    chars.iter().enumerate().map(|(i, c)| if i < head || i + tail >= chars.len() { *c } else { '*' }).collect()
}

/// A citizen ID number with its birth date and sequence hidden (`420102********001X`),
/// as registers show it unless full data is asked for.
pub fn mask_id_number(id: &str) -> String {
    mask(id, 6, 4)
}

fn year_month(date: Option<NaiveDate>) -> String {
    date.map(|d| d.format("%Y年%-m月").to_string()).unwrap_or_default()
}

fn full_date(date: Option<NaiveDate>) -> String {
    date.map(|d| d.format("%Y年%-m月%-d日").to_string()).unwrap_or_default()
}

/// 失去联系情形 as the registers code it (①-⑦; 离职, which the form does not list, is ⑦
/// with the reason in 备注).
fn register_situation(situation: i32) -> (&'static str, &'static str) {
    use proto::LostSituation as S;
    match S::try_from(situation).unwrap_or(S::Unspecified) {
        S::MigrantWorkOrBusiness => ("①外出务工经商", ""),
        S::EmployerRestructured => ("②单位改制或破产", ""),
        S::GraduatedWhereaboutsUnknown => ("③毕业后去向不明", ""),
        S::EmployerChanged => ("④工作单位改变", ""),
        S::Abroad => ("⑤出国（境）", ""),
        S::ResidenceChanged => ("⑥居住地改变", ""),
        S::LeftJob => ("⑦其他", "离职"),
        S::OtherSituation => ("⑦其他", ""),
        S::Unspecified => ("", ""),
    }
}

/// The Chinese name of a contact method.
pub fn method_name_zh(method: i32) -> &'static str {
    use proto::ContactMethod as M;
    match M::try_from(method).unwrap_or(M::Unspecified) {
        M::Phone => "电话",
        M::Sms => "短信",
        M::HomeVisit => "登门走访",
        M::ThroughPeople => "亲朋好友",
        M::ThroughDepartment => "部门查找",
        M::SocialNetwork => "网络社交平台",
        M::TelecomOperator => "电信运营商",
        M::Hotline12371 => "12371党员服务热线",
        M::OriginOrgDept => "原籍地组织部门",
        M::OtherMethod | M::Unspecified => "其他方式",
    }
}

/// The Chinese name of a management action.
pub fn action_name_zh(action: i32) -> &'static str {
    use proto::ManagementAction as A;
    match A::try_from(action).unwrap_or(A::Unspecified) {
        A::TransferRelation => "转出组织关系",
        A::FlowingCard => "纳入原组织管理并发放流动党员活动证",
        A::ReissueTransfer => "补转组织关系",
        A::RetainAbroad => "保留组织关系",
        A::StopMembership => "停止党籍",
        A::IncludeInManagement => "纳入组织管理",
        A::Unspecified => "",
    }
}

/// The Chinese name of a disposition type.
pub fn disposition_name_zh(disposition: i32) -> &'static str {
    use proto::DispositionType as T;
    match T::try_from(disposition).unwrap_or(T::Unspecified) {
        T::WithdrawalRemoval => "退党除名",
        T::CorrectionPeriod => "限期改正",
        T::PersuadeToWithdraw => "劝退",
        T::RemovalAfterPersuasion => "劝而不退除名",
        T::SelfSeparationRemoval => "自行脱党除名",
        T::CancelProbationary => "取消预备党员资格",
        T::NonRecognition => "不予承认",
        T::Unspecified => "",
    }
}

/// The rows of a register for `unit`'s subtree, sorted by branch then name, one string
/// per column of [`Register::columns`]. The ID number is masked unless `full_id`.
pub fn register(projection: &Projection, unit: &UnitPath, which: Register, full_id: bool) -> Vec<Vec<String>> {
    let as_of = projection.as_of();
    let policy = projection.policy();
    let mut rows: Vec<(UnitPath, String, Vec<String>)> = projection
        .members()
        .filter_map(|(_, entry)| {
            let view = entry.view(as_of, &policy);
            let branch = view.unit.clone()?;
            let wanted = match which {
                Register::Found => view.found,
                Register::StillLost => view.lost && !view.found,
            };
            if !view.on_roll || !wanted || !branch.is_within(unit) {
                return None;
            }
            let form = entry.state.form()?;
            let gender = match proto::Gender::try_from(form.gender) {
                Ok(proto::Gender::Male) => "男",
                Ok(proto::Gender::Female) => "女",
                _ => "",
            };
            let category = if view.probationary { "预备党员" } else { "正式党员" };
            let group = match group_name_zh(view.group) {
                "在校学生" => "其他",
                name => name,
            };
            let end = match which {
                Register::Found => view.found_on,
                Register::StillLost => as_of,
            };
            let lost_period = match (view.lost_since, end) {
                (Some(since), Some(end)) => format!("{}至{}", year_month(Some(since)), year_month(Some(end))),
                (Some(since), None) => format!("{}起", year_month(Some(since))),
                _ => String::new(),
            };
            let (situation, situation_note) = register_situation(view.situation);
            let attempts = &entry.state.extra().attempts;
            let search = if attempts.count == 0 {
                String::new()
            } else {
                let methods: Vec<String> = attempts
                    .by_method
                    .iter()
                    .map(|(method, count)| format!("{}{count}次", method_name_zh(*method)))
                    .collect();
                format!("{}；共{}次", methods.join("、"), attempts.count)
            };
            let mut handling: Vec<String> = entry
                .state
                .extra()
                .actions
                .iter()
                .filter(|(_, action)| action.get().is_some())
                .map(|(action, _)| action_name_zh(*action).to_string())
                .collect();
            for case in projection.cases_of_relation(entry) {
                if case.stage != crate::audit::case::Stage::Unproposed {
                    handling.push(format!("{}（{}）", disposition_name_zh(case.disposition), case.stage.name_zh()));
                }
            }
            let located = entry.state.extra().located.get();
            let note = [situation_note, located.map_or("", |l| l.cause_note.as_str())]
                .into_iter()
                .filter(|n| !n.is_empty())
                .collect::<Vec<_>>()
                .join("；");
            let id_number = if full_id { form.id_number.clone() } else { mask_id_number(&form.id_number) };
            let mut cells = vec![
                String::new(),
                form.name.clone(),
                gender.to_string(),
                year_month(form.birth_date.as_ref().and_then(dates::naive)),
                id_number,
                year_month(form.joined_date.as_ref().and_then(dates::naive)),
                category.to_string(),
                group.to_string(),
                projection.unit_label(&branch),
                lost_period,
                situation.to_string(),
                search,
            ];
            if which == Register::Found {
                cells.push(full_date(view.found_on));
            }
            cells.push(handling.join("；"));
            cells.push(note);
            Some((branch, form.name.clone(), cells))
        })
        .collect();
    rows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    rows.into_iter()
        .enumerate()
        .map(|(index, (_, _, mut cells))| {
            cells[0] = (index + 1).to_string();
            cells
        })
        .collect()
}

/// Chinese name of a person group.
pub fn group_name_zh(group: i32) -> &'static str {
    match G::try_from(group).unwrap_or(G::OtherGroup) {
        G::Staff => "教职工",
        G::Retired => "离退休人员",
        G::Graduate => "高校毕业生",
        G::Student => "在校学生",
        G::OtherGroup | G::Unspecified => "其他",
    }
}

/// Chinese name of a loss-of-contact situation.
pub fn situation_name_zh(situation: i32) -> &'static str {
    use proto::LostSituation as S;
    match S::try_from(situation).unwrap_or(S::Unspecified) {
        S::MigrantWorkOrBusiness => "外出务工经商",
        S::EmployerRestructured => "单位改制或破产",
        S::GraduatedWhereaboutsUnknown => "毕业后去向不明",
        S::EmployerChanged => "工作单位改变",
        S::Abroad => "出国（境）",
        S::ResidenceChanged => "居住地改变",
        S::LeftJob => "离职",
        S::OtherSituation => "其他",
        S::Unspecified => "",
    }
}

/// The cells of a table as a report carries them: every non-blank cell, row by row.
pub fn cells_of(table: &Table) -> Vec<proto::TableCell> {
    let mut cells = Vec::new();
    for (row, values) in table.cells.iter().enumerate() {
        for (column, value) in values.iter().enumerate() {
            if let Some(value) = value {
                cells.push(proto::TableCell { row: row as u32, column: column as u32, value: Some(*value) });
            }
        }
    }
    cells
}

/// Every cell where a submitted table and its recomputation differ (a blank is absent),
/// ordered by row then column.
pub fn differences(submitted: &[proto::TableCell], recomputed: &[proto::TableCell]) -> Vec<proto::CellDifference> {
    use std::collections::BTreeMap;
    let index = |cells: &[proto::TableCell]| -> BTreeMap<(u32, u32), Option<i64>> {
        cells.iter().map(|cell| ((cell.row, cell.column), cell.value)).collect()
    };
    let (submitted, recomputed) = (index(submitted), index(recomputed));
    let mut keys: Vec<(u32, u32)> = submitted.keys().chain(recomputed.keys()).copied().collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .filter_map(|(row, column)| {
            let (left, right) =
                (submitted.get(&(row, column)).copied().flatten(), recomputed.get(&(row, column)).copied().flatten());
            (left != right).then_some(proto::CellDifference { row, column, submitted: left, recomputed: right })
        })
        .collect()
}
