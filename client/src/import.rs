//! Reading the per-member form (《党员基本情况登记表》, the 16 items of DOMAIN.md §5) and
//! the Party-statistics database export from XLSX or CSV, with Chinese headers.
//!
//! Every cell is checked before anything is written: a bad cell is reported with its
//! row and column (as a spreadsheet shows them) and what was expected; the caller then
//! imports all rows or none (or, with `--skip-invalid`, the valid rows and a report).
//!
//! Invariants: parsing is pure given the rows; an ID number is never echoed in an
//! error (it is personal data); a member's id is derived from the ID number by a
//! one-way hash, so importing the same person twice is caught as a duplicate.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;
use rollcall_core::audit::{dates, member, rules};
use rollcall_core::{UnitPath, proto as pb};
use sha2::{Digest, Sha256};

/// Why a file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be opened or is not what its name says.
    #[error("{path}: {detail}")]
    Unreadable {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// Nothing in it.
    #[error("{path}: the file is empty (no member filled in)")]
    Empty {
        /// The file.
        path: String,
    },
    /// A required column is missing.
    #[error("{path}: no column {header} in the header row")]
    MissingColumn {
        /// The file.
        path: String,
        /// The heading expected.
        header: &'static str,
    },
}

impl FileError {
    /// The message in Chinese.
    pub fn message_zh(&self) -> String {
        match self {
            FileError::Unreadable { path, detail } => format!("{path}：无法读取（{detail}）"),
            FileError::Empty { path } => format!("{path}：文件为空（没有填写任何党员）"),
            FileError::MissingColumn { path, header } => {
                format!("{path}：表头中没有“{header}”列（表头应为登记表的中文列名）")
            }
        }
    }
}

/// A cell that does not hold what its column needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellError {
    /// Spreadsheet row number (1-based, the header row included).
    pub row: usize,
    /// Spreadsheet column (A, B, …), empty for a whole-row problem.
    pub column: String,
    /// The column's heading.
    pub header: String,
    /// What is wrong, in Chinese.
    pub message_zh: String,
    /// What is wrong, in English.
    pub message_en: String,
}

impl CellError {
    /// One line in `lang` ("zh" or "en").
    pub fn line(&self, zh: bool) -> String {
        if zh {
            format!("第{}行 {}列（{}）：{}", self.row, self.column, self.header, self.message_zh)
        } else {
            format!("row {} column {} ({}): {}", self.row, self.column, self.header, self.message_en)
        }
    }
}

/// A table read from a file: the header row and the data rows, as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sheet {
    /// Spreadsheet row number of the header row.
    pub header_row: usize,
    /// Headings.
    pub headers: Vec<String>,
    /// Data rows (cells as text; dates as YYYY-MM-DD).
    pub rows: Vec<Vec<String>>,
}

fn unreadable(path: &Path, detail: impl std::fmt::Display) -> FileError {
    FileError::Unreadable { path: path.display().to_string(), detail: detail.to_string() }
}

fn excel_date(serial: f64) -> Option<NaiveDate> {
    let epoch = NaiveDate::from_ymd_opt(1899, 12, 30)?;
    epoch.checked_add_signed(chrono::Duration::days(serial.floor() as i64))
}

/// Reads the first sheet of an XLSX file, or a CSV file (UTF-8, BOM allowed), by the
/// file's extension. The header row is the first of the first ten rows that holds 姓名.
///
/// # Errors
///
/// [`FileError`] when the file is unreadable, not what its extension says, or empty.
pub fn read_sheet(path: &Path) -> Result<Sheet, FileError> {
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let raw: Vec<Vec<String>> = match extension.as_deref() {
        Some("xlsx") | Some("xls") => {
            use calamine::{Data, Reader};
            let mut workbook = calamine::open_workbook_auto(path)
                .map_err(|e| unreadable(path, format!("not a valid spreadsheet: {e}")))?;
            let range = workbook
                .worksheet_range_at(0)
                .ok_or_else(|| FileError::Empty { path: path.display().to_string() })?
                .map_err(|e| unreadable(path, e))?;
            range
                .rows()
                .map(|row| {
                    row.iter()
                        .map(|cell| match cell {
                            Data::Empty => String::new(),
                            Data::String(text) => text.trim().to_string(),
                            Data::Int(value) => value.to_string(),
                            Data::Float(value) if value.fract() == 0.0 && value.abs() < 1e15 => format!("{value:.0}"),
                            Data::Float(value) => value.to_string(),
                            Data::Bool(value) => if *value { "是" } else { "否" }.to_string(),
                            Data::DateTime(value) => {
                                excel_date(value.as_f64()).map(|d| d.to_string()).unwrap_or_default()
                            }
                            Data::DateTimeIso(text) | Data::DurationIso(text) => text.chars().take(10).collect(),
                            Data::Error(error) => format!("#{error:?}"),
                        })
                        .collect()
                })
                .collect()
        }
        Some("csv") => {
            let bytes = std::fs::read(path).map_err(|e| unreadable(path, e))?;
            let text = String::from_utf8(bytes).map_err(|_| unreadable(path, "not UTF-8 text"))?;
            let text = text.trim_start_matches('\u{feff}');
            let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
            let mut rows = Vec::new();
            for record in reader.records() {
                let record = record.map_err(|e| unreadable(path, e))?;
                rows.push(record.iter().map(|c| c.trim().to_string()).collect());
            }
            rows
        }
        _ => return Err(unreadable(path, "the file name must end in .xlsx or .csv")),
    };
    let raw: Vec<Vec<String>> = raw.into_iter().collect();
    if raw.iter().all(|row| row.iter().all(String::is_empty)) {
        return Err(FileError::Empty { path: path.display().to_string() });
    }
    let Some(header_index) = raw.iter().take(10).position(|row| row.iter().any(|c| c == "姓名")) else {
        return Err(FileError::MissingColumn { path: path.display().to_string(), header: "姓名" });
    };
    let headers = raw[header_index].clone();
    let rows = raw[header_index + 1..].iter().filter(|row| row.iter().any(|c| !c.is_empty())).cloned().collect();
    Ok(Sheet { header_row: header_index + 1, headers, rows })
}

/// The columns of the per-member form, with the headings accepted for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Column {
    /// 党员编号 (optional: derived from the ID number otherwise).
    MemberId,
    /// 姓名.
    Name,
    /// 性别.
    Gender,
    /// 民族.
    Ethnicity,
    /// 公民身份证号.
    IdNumber,
    /// 出生日期.
    BirthDate,
    /// 学历.
    Education,
    /// 人员类别.
    Category,
    /// 所在党支部.
    Branch,
    /// 加入党组织日期.
    JoinedDate,
    /// 转为正式党员日期.
    FullMemberDate,
    /// 工作岗位.
    Job,
    /// 联系电话.
    Phone,
    /// 家庭住址.
    Address,
    /// 党籍状态.
    MembershipStatus,
    /// 是否为失联党员.
    Lost,
    /// 失去联系日期.
    LostSince,
    /// 是否为流动党员.
    Flowing,
    /// 外出流向.
    FlowingDestination,
    /// 籍贯.
    NativePlace,
    /// 人员分组 (教职工, 离退休人员, 高校毕业生, 在校学生, 其他).
    PersonGroup,
    /// 失去联系情形 (optional: a lost member's situation).
    LostSituation,
}

/// (column, headings accepted, required).
pub const COLUMNS: &[(Column, &[&str], bool)] = &[
    (Column::MemberId, &["党员编号"], false),
    (Column::Name, &["姓名"], true),
    (Column::Gender, &["性别"], true),
    (Column::Ethnicity, &["民族"], true),
    (Column::IdNumber, &["公民身份证号", "公民身份证号码", "身份证号"], true),
    (Column::BirthDate, &["出生日期", "出生年月"], true),
    (Column::Education, &["学历"], true),
    (Column::Category, &["人员类别"], true),
    (Column::Branch, &["所在党支部"], true),
    (Column::JoinedDate, &["加入党组织日期", "入党日期"], true),
    (Column::FullMemberDate, &["转为正式党员日期", "转正日期"], true),
    (Column::Job, &["工作岗位"], true),
    (Column::Phone, &["联系电话"], true),
    (Column::Address, &["家庭住址"], true),
    (Column::MembershipStatus, &["党籍状态"], true),
    (Column::Lost, &["是否为失联党员"], true),
    (Column::LostSince, &["失去联系日期"], true),
    (Column::Flowing, &["是否为流动党员"], true),
    (Column::FlowingDestination, &["外出流向"], true),
    (Column::NativePlace, &["籍贯"], false),
    (Column::PersonGroup, &["人员分组"], false),
    (Column::LostSituation, &["失去联系情形"], false),
];

/// The headings of the per-member form in the national form's order (what a blank
/// form, a template or a test writes).
pub const FORM_HEADERS: [&str; 19] = [
    "姓名",
    "性别",
    "民族",
    "公民身份证号",
    "出生日期",
    "学历",
    "人员类别",
    "所在党支部",
    "加入党组织日期",
    "转为正式党员日期",
    "工作岗位",
    "联系电话",
    "家庭住址",
    "党籍状态",
    "是否为失联党员",
    "失去联系日期",
    "是否为流动党员",
    "外出流向",
    "人员分组",
];

/// 民族, GB 3304 order: code = position + 1.
pub const ETHNICITIES: &[&str] = &[
    "汉族",
    "蒙古族",
    "回族",
    "藏族",
    "维吾尔族",
    "苗族",
    "彝族",
    "壮族",
    "布依族",
    "朝鲜族",
    "满族",
    "侗族",
    "瑶族",
    "白族",
    "土家族",
    "哈尼族",
    "哈萨克族",
    "傣族",
    "黎族",
    "傈僳族",
    "佤族",
    "畲族",
    "高山族",
    "拉祜族",
    "水族",
    "东乡族",
    "纳西族",
    "景颇族",
    "柯尔克孜族",
    "土族",
    "达斡尔族",
    "仫佬族",
    "羌族",
    "布朗族",
    "撒拉族",
    "毛南族",
    "仡佬族",
    "锡伯族",
    "阿昌族",
    "普米族",
    "塔吉克族",
    "怒族",
    "乌孜别克族",
    "俄罗斯族",
    "鄂温克族",
    "德昂族",
    "保安族",
    "裕固族",
    "京族",
    "塔塔尔族",
    "独龙族",
    "鄂伦春族",
    "赫哲族",
    "门巴族",
    "珞巴族",
    "基诺族",
];

/// 学历 names and their codes.
pub const EDUCATIONS: &[(&str, u32)] = &[
    ("博士研究生", 11),
    ("硕士研究生", 12),
    ("研究生", 12),
    ("大学本科", 21),
    ("大学", 21),
    ("本科", 21),
    ("大学专科", 22),
    ("大专", 22),
    ("中等专科", 31),
    ("中专", 31),
    ("高中", 41),
    ("初中", 61),
    ("小学", 71),
];

/// The stable member id of a person: a one-way hash of the citizen ID number, so the id
/// can travel in logs without the number.
pub fn member_id_for(id_number: &str) -> String {
    let digest = Sha256::digest(format!("rollcall-member:{}", id_number.trim().to_ascii_uppercase()).as_bytes());
    format!("M{}", hex::encode(&digest[..8]))
}

/// A row that parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct MemberRow {
    /// Spreadsheet row number.
    pub row: usize,
    /// The member id (given or derived).
    pub member_id: String,
    /// The branch.
    pub unit: UnitPath,
    /// The form.
    pub form: pb::MemberForm,
}

/// Spreadsheet column letters for a 0-based index.
pub fn column_letter(index: usize) -> String {
    let mut index = index + 1;
    let mut letters = Vec::new();
    while index > 0 {
        let rem = (index - 1) % 26;
        letters.push((b'A' + rem as u8) as char);
        index = (index - 1) / 26;
    }
    letters.iter().rev().collect()
}

/// Finds each column's position.
///
/// # Errors
///
/// [`FileError::MissingColumn`] for the first required column missing.
pub fn map_columns(path: &Path, headers: &[String], required: &[Column]) -> Result<HashMap<Column, usize>, FileError> {
    let mut map = HashMap::new();
    for (column, names, _) in COLUMNS {
        if let Some(position) = headers.iter().position(|h| names.contains(&h.trim())) {
            map.insert(*column, position);
        }
    }
    for (column, names, needed) in COLUMNS {
        if (*needed && required.is_empty() || required.contains(column)) && !map.contains_key(column) {
            return Err(FileError::MissingColumn { path: path.display().to_string(), header: names[0] });
        }
    }
    Ok(map)
}

struct RowReader<'a> {
    sheet_row: usize,
    cells: &'a [String],
    columns: &'a HashMap<Column, usize>,
    headers: &'a [String],
    errors: Vec<CellError>,
}

impl RowReader<'_> {
    fn text(&self, column: Column) -> &str {
        self.columns.get(&column).and_then(|i| self.cells.get(*i)).map_or("", |s| s.trim())
    }

    fn error(&mut self, column: Column, zh: String, en: String) {
        let index = self.columns.get(&column).copied();
        self.errors.push(CellError {
            row: self.sheet_row,
            column: index.map(column_letter).unwrap_or_default(),
            header: index.and_then(|i| self.headers.get(i)).cloned().unwrap_or_default(),
            message_zh: zh,
            message_en: en,
        });
    }

    fn required(&mut self, column: Column) -> Option<String> {
        let text = self.text(column).to_string();
        if text.is_empty() {
            self.error(column, "不能为空".into(), "must not be empty".into());
            return None;
        }
        Some(text)
    }

    fn date(&mut self, column: Column, required: bool, today: NaiveDate) -> Option<pb::Date> {
        let text = self.text(column).to_string();
        if text.is_empty() {
            if required {
                self.error(
                    column,
                    "不能为空，应为日期，如 2001-07-01".into(),
                    "must not be empty: expected a date such as 2001-07-01".into(),
                );
            }
            return None;
        }
        match dates::parse(&text) {
            Some(date) if date > today => {
                self.error(column, format!("日期 {date} 晚于今天"), format!("the date {date} is in the future"));
                None
            }
            Some(date) => Some(dates::from_naive(date)),
            None => {
                self.error(
                    column,
                    format!("“{text}”不是日期，应为如 2001-07-01"),
                    format!("{text:?} is not a date: expected e.g. 2001-07-01"),
                );
                None
            }
        }
    }

    fn choice<T>(
        &mut self,
        column: Column,
        parse: impl Fn(&str) -> Option<T>,
        expected_zh: &str,
        expected_en: &str,
    ) -> Option<T> {
        let text = self.text(column).to_string();
        match parse(&text) {
            Some(value) => Some(value),
            None => {
                self.error(
                    column,
                    format!("“{text}”无效，应为{expected_zh}"),
                    format!("{text:?} is not valid: expected {expected_en}"),
                );
                None
            }
        }
    }
}

/// A 失去联系情形 as written on the form (its name, with or without the circled number).
pub fn parse_lost_situation(text: &str) -> Option<pb::LostSituation> {
    use pb::LostSituation as S;
    let name = text.trim().trim_start_matches(|c: char| ('①'..='⑨').contains(&c));
    Some(match name {
        "外出务工经商" => S::MigrantWorkOrBusiness,
        "单位改制或破产" => S::EmployerRestructured,
        "毕业后去向不明" => S::GraduatedWhereaboutsUnknown,
        "工作单位改变" => S::EmployerChanged,
        "出国（境）" | "出国(境)" | "出国" => S::Abroad,
        "居住地改变" => S::ResidenceChanged,
        "离职" => S::LeftJob,
        "其他" => S::OtherSituation,
        _ => return None,
    })
}

/// Parses every row of the per-member form. Rows whose branch column is not a unit path
/// go to `default_unit`. Returns the rows that parsed and every error found (a row with
/// an error is not among the rows).
pub fn parse_members(
    sheet: &Sheet,
    columns: &HashMap<Column, usize>,
    default_unit: Option<&UnitPath>,
    today: NaiveDate,
) -> (Vec<MemberRow>, Vec<CellError>) {
    parse_members_as_of(sheet, columns, default_unit, today, None)
}

/// [`parse_members`] for a campaign whose tables are as of `as_of`: a joining,
/// full-membership or loss-of-contact date after it is named by row and column too (the
/// form describes the member at the campaign's cut-off; a later date belongs to the next
/// campaign, or is a typing error).
pub fn parse_members_as_of(
    sheet: &Sheet,
    columns: &HashMap<Column, usize>,
    default_unit: Option<&UnitPath>,
    today: NaiveDate,
    as_of: Option<NaiveDate>,
) -> (Vec<MemberRow>, Vec<CellError>) {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let branch_column = columns.get(&Column::Branch).copied();
    for (index, cells) in sheet.rows.iter().enumerate() {
        let sheet_row = sheet.header_row + 1 + index;
        // A blank row of a handed-out form has only its pre-filled 所在党支部: not a member.
        if cells.iter().enumerate().all(|(column, text)| text.is_empty() || Some(column) == branch_column) {
            continue;
        }
        let mut reader = RowReader { sheet_row, cells, columns, headers: &sheet.headers, errors: Vec::new() };
        let name = reader.required(Column::Name);
        let gender = reader.choice(Column::Gender, member::parse_gender, "男或女", "男 or 女");
        let ethnicity = reader.choice(
            Column::Ethnicity,
            |t| {
                t.parse::<u32>().ok().filter(|c| (1..=56).contains(c)).or_else(|| {
                    ETHNICITIES.iter().position(|e| *e == t || e.trim_end_matches('族') == t).map(|p| p as u32 + 1)
                })
            },
            "民族名称（如 汉族）或代码 1-56",
            "an ethnicity (e.g. 汉族) or a code 1-56",
        );
        let id_text = reader.text(Column::IdNumber).to_uppercase();
        let id_birth = match rules::check_id_number(&id_text) {
            Ok(birth) => Some(birth),
            Err(violation) => {
                let (zh, en) = match violation {
                    rules::RuleViolation::InvalidIdNumber { reason } => (
                        format!(
                            "公民身份证号无效（{}），应为18位且校验位正确",
                            rules::RuleViolation::InvalidIdNumber { reason }
                                .message_zh()
                                .trim_start_matches("公民身份证号无效：")
                        ),
                        format!(
                            "invalid citizen ID number ({reason}): expected 18 characters with a valid check digit"
                        ),
                    ),
                    other => (other.message_zh(), other.to_string()),
                };
                reader.error(Column::IdNumber, zh, en);
                None
            }
        };
        let birth = reader.date(Column::BirthDate, true, today);
        if let (Some(id_birth), Some(birth)) = (id_birth, birth.as_ref().and_then(dates::naive)) {
            if id_birth != birth {
                reader.error(
                    Column::BirthDate,
                    "与身份证号中的出生日期不一致".into(),
                    "does not match the birth date in the ID number".into(),
                );
            }
        }
        let education = reader.choice(
            Column::Education,
            |t| t.parse::<u32>().ok().or_else(|| EDUCATIONS.iter().find(|(n, _)| *n == t).map(|(_, c)| *c)),
            "学历名称（如 大学本科）或代码",
            "an education level (e.g. 大学本科) or its code",
        );
        let category =
            reader.choice(Column::Category, member::parse_category, "正式党员或预备党员", "正式党员 or 预备党员");
        let branch_text = reader.text(Column::Branch).to_string();
        let unit = match UnitPath::parse(&branch_text).ok().filter(|u| u.level() == Some(rollcall_core::Level::Branch))
        {
            Some(unit) => Some(unit),
            None => match default_unit {
                Some(unit) => Some(unit.clone()),
                None => {
                    reader.error(
                        Column::Branch,
                        format!("“{branch_text}”不是党支部路径（如 hb/u1/c1/b1）；或用 --unit 指定"),
                        format!("{branch_text:?} is not a branch path (e.g. hb/u1/c1/b1); or give --unit"),
                    );
                    None
                }
            },
        };
        let joined = reader.date(Column::JoinedDate, true, today);
        let full = reader.date(Column::FullMemberDate, false, today);
        // Cross-checks between cells: the ID number's sex digit (the 17th: odd for men,
        // even for women), a probationary member with a full-membership date, joining
        // before 18.
        if let (Some(gender), Some(_)) = (gender, id_birth)
            && let Some(digit) = id_text.chars().nth(16).and_then(|c| c.to_digit(10))
        {
            let male_by_id = digit % 2 == 1;
            if male_by_id != (gender == pb::Gender::Male) {
                reader.error(
                    Column::Gender,
                    format!("与身份证号第17位（{digit}，奇数为男、偶数为女）不一致"),
                    format!("contradicts the ID number's 17th digit ({digit}: odd for men, even for women)"),
                );
            }
        }
        if category == Some(pb::MemberCategory::Probationary) && full.is_some() {
            reader.error(
                Column::FullMemberDate,
                "预备党员不应有转为正式党员日期（已转正的应填“正式党员”）".into(),
                "a probationary member has no full-membership date (a member who has it is 正式党员)".into(),
            );
        }
        if let (Some(birth), Some(joined)) =
            (birth.as_ref().and_then(dates::naive), joined.as_ref().and_then(dates::naive))
            && joined >= birth
            && dates::whole_months(birth, joined) < 18 * 12
        {
            reader.error(
                Column::JoinedDate,
                format!("入党时未满18周岁（出生 {birth}，入党 {joined}）"),
                format!("joined before the age of 18 (born {birth}, joined {joined})"),
            );
        }
        let job_text = reader.text(Column::Job).to_string();
        let job = if job_text.is_empty() {
            Some(0)
        } else {
            reader.choice(Column::Job, |t| t.parse::<u32>().ok(), "工作岗位代码（数字）", "a job code (a number)")
        };
        let phone = reader.text(Column::Phone).to_string();
        if !phone.is_empty() && !phone.chars().all(|c| c.is_ascii_digit() || c == '-' || c == '+' || c == ' ') {
            reader.error(Column::Phone, "联系电话只能包含数字".into(), "a phone number holds digits only".into());
        }
        let status_text = reader.text(Column::MembershipStatus).to_string();
        let status = match status_text.as_str() {
            "" | "正常" => Some(pb::MembershipStatus::Normal),
            "停止党籍" => Some(pb::MembershipStatus::Stopped),
            _ => {
                reader.error(
                    Column::MembershipStatus,
                    format!("“{status_text}”无效，应为正常或停止党籍"),
                    format!("{status_text:?}: expected 正常 or 停止党籍"),
                );
                None
            }
        };
        let lost = reader.choice(Column::Lost, member::parse_yes_no, "是或否", "是 or 否");
        let lost_since = reader.date(Column::LostSince, lost == Some(true), today);
        let flowing = reader.choice(Column::Flowing, member::parse_yes_no, "是或否", "是 or 否");
        let destination = reader.text(Column::FlowingDestination).to_string();
        let group_text = reader.text(Column::PersonGroup).to_string();
        let group = if group_text.is_empty() {
            Some(pb::PersonGroup::OtherGroup)
        } else {
            reader.choice(
                Column::PersonGroup,
                member::parse_person_group,
                "教职工、离退休人员、高校毕业生、在校学生或其他",
                "a person group (教职工, 离退休人员, 高校毕业生, 在校学生, 其他)",
            )
        };
        let situation_text = reader.text(Column::LostSituation).to_string();
        let lost_situation = if situation_text.is_empty() {
            Some(pb::LostSituation::Unspecified)
        } else {
            reader.choice(
                Column::LostSituation,
                parse_lost_situation,
                "外出务工经商、单位改制或破产、毕业后去向不明、工作单位改变、出国（境）、居住地改变、离职或其他",
                "a loss-of-contact situation (外出务工经商, 单位改制或破产, 毕业后去向不明, 工作单位改变, 出国（境）, 居住地改变, 离职, 其他)",
            )
        };
        if let (Some(birth), Some(joined)) =
            (birth.as_ref().and_then(dates::naive), joined.as_ref().and_then(dates::naive))
        {
            if joined < birth {
                reader.error(Column::JoinedDate, "早于出生日期".into(), "is before the birth date".into());
            }
        }
        if !id_text.is_empty() && id_birth.is_some() {
            if let Some(first) = seen.get(&id_text) {
                reader.error(
                    Column::IdNumber,
                    format!("与第{first}行为同一人（身份证号重复）"),
                    format!("the same person as row {first} (duplicated ID number)"),
                );
            } else {
                seen.insert(id_text.clone(), sheet_row);
            }
        }
        if let Some(as_of) = as_of {
            for (column, date, what_zh, what_en) in [
                (Column::JoinedDate, &joined, "截至该日尚未入党", "not yet a member then"),
                (
                    Column::FullMemberDate,
                    &full,
                    "截至该日仍为预备党员，应填“预备党员”且不填转正日期",
                    "still probationary then",
                ),
                (Column::LostSince, &lost_since, "截至该日尚未失去联系", "not yet out of contact then"),
            ] {
                if let Some(date) = date.as_ref().and_then(dates::naive)
                    && date > as_of
                {
                    reader.error(
                        column,
                        format!("{date} 晚于本次排查的统计截止日期 {as_of}（{what_zh}）"),
                        format!("{date} is after the campaign's as-of date {as_of} ({what_en})"),
                    );
                }
            }
        }
        let given_id = reader.text(Column::MemberId).to_string();
        if !reader.errors.is_empty() {
            errors.extend(reader.errors);
            continue;
        }
        let (
            Some(name),
            Some(gender),
            Some(ethnicity),
            Some(education),
            Some(category),
            Some(unit),
            Some(job),
            Some(status),
            Some(lost),
            Some(flowing),
            Some(group),
        ) = (name, gender, ethnicity, education, category, unit, job, status, lost, flowing, group)
        else {
            continue;
        };
        let mut region = destination.split(['/', ' ', '-']).filter(|p| !p.is_empty());
        rows.push(MemberRow {
            row: sheet_row,
            member_id: if given_id.is_empty() { member_id_for(&id_text) } else { given_id },
            unit: unit.clone(),
            form: pb::MemberForm {
                name,
                gender: gender as i32,
                ethnicity_code: ethnicity,
                id_number: id_text,
                birth_date: birth,
                education_code: education,
                category: category as i32,
                branch_unit_path: unit.to_string(),
                joined_date: joined,
                full_member_date: full,
                job_code: job,
                phone,
                address: reader.text(Column::Address).to_string(),
                membership_status: status as i32,
                lost,
                lost_since,
                flowing,
                flowing_destination: (!destination.is_empty()).then(|| pb::Region {
                    province: region.next().unwrap_or_default().to_string(),
                    city: region.next().unwrap_or_default().to_string(),
                    county: region.next().unwrap_or_default().to_string(),
                }),
                native_place: reader.text(Column::NativePlace).to_string(),
                person_group: group as i32,
                lost_situation: lost_situation.unwrap_or_default() as i32,
            },
        });
    }
    (rows, errors)
}

/// The value of `field` on a form, as text for comparison with the statistics database.
pub fn field_text(form: &pb::MemberForm, field: pb::MemberField) -> String {
    use pb::MemberField as F;
    let date = |d: &Option<pb::Date>| d.as_ref().map(dates::display).unwrap_or_default();
    match field {
        F::Name => form.name.clone(),
        F::Gender => match pb::Gender::try_from(form.gender) {
            Ok(pb::Gender::Male) => "男".into(),
            Ok(pb::Gender::Female) => "女".into(),
            _ => String::new(),
        },
        F::Ethnicity => form.ethnicity_code.to_string(),
        F::IdNumber => form.id_number.clone(),
        F::BirthDate => date(&form.birth_date),
        F::Education => form.education_code.to_string(),
        F::Category => match pb::MemberCategory::try_from(form.category) {
            Ok(pb::MemberCategory::Full) => "正式党员".into(),
            Ok(pb::MemberCategory::Probationary) => "预备党员".into(),
            _ => String::new(),
        },
        F::JoinedDate => date(&form.joined_date),
        F::FullMemberDate => date(&form.full_member_date),
        F::Job => form.job_code.to_string(),
        F::Phone => form.phone.clone(),
        F::Address => form.address.clone(),
        F::MembershipStatus => {
            if form.membership_status == pb::MembershipStatus::Stopped as i32 { "停止党籍" } else { "正常" }.into()
        }
        F::Lost => if form.lost { "是" } else { "否" }.into(),
        F::Flowing => if form.flowing { "是" } else { "否" }.into(),
        F::NativePlace => form.native_place.clone(),
        F::PersonGroup | F::Branch | F::Unspecified => String::new(),
    }
}

/// The fields compared with the statistics database.
pub const COMPARED_FIELDS: &[pb::MemberField] = &[
    pb::MemberField::Name,
    pb::MemberField::Gender,
    pb::MemberField::Ethnicity,
    pb::MemberField::BirthDate,
    pb::MemberField::Education,
    pb::MemberField::Category,
    pb::MemberField::JoinedDate,
    pb::MemberField::FullMemberDate,
    pb::MemberField::Job,
    pb::MemberField::Phone,
    pb::MemberField::Address,
    pb::MemberField::MembershipStatus,
    pb::MemberField::Lost,
    pb::MemberField::Flowing,
];
