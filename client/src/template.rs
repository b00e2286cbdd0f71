//! The blank per-member form (《党员基本情况登记表》) a branch secretary fills in and
//! imports: `rollcall template members --out 登记表.xlsx`.
//!
//! The first sheet is the form: a title, the import's headings in the national form's
//! order ([`crate::import::FORM_HEADERS`]) then 失去联系情形, and blank rows whose code-list
//! cells are drop-downs (性别, 民族, 学历, 人员类别, 党籍状态, 是否失联, 是否流动, 人员分组,
//! 失去联系情形) fed from a
//! hidden 代码 sheet. The second sheet, 填写说明, says how to fill each column and shows
//! an example row. `--unit` pre-fills 所在党支部 in every blank row.
//!
//! Invariant: what this writes, filled in, imports unchanged: its headings are the
//! import's, it sits on the first sheet, and a blank row (even with 所在党支部
//! pre-filled) is not a member.

use std::path::Path;

use rust_xlsxwriter::{DataValidation, Format, FormatAlign, FormatBorder, Formula, Workbook, XlsxError};

use crate::import::{EDUCATIONS, ETHNICITIES, FORM_HEADERS};

/// The form's columns: the national form's ([`FORM_HEADERS`]), then 失去联系情形 for a
/// lost member (the import reads it when present).
fn headers() -> [&'static str; 20] {
    let mut headers = [""; 20];
    headers[..19].copy_from_slice(&FORM_HEADERS);
    headers[19] = "失去联系情形";
    headers
}

/// The code lists of the drop-downs: (heading, choices).
pub fn code_lists() -> Vec<(&'static str, Vec<String>)> {
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
    vec![
        ("性别", strings(&["男", "女"])),
        ("民族", strings(ETHNICITIES)),
        ("学历", EDUCATIONS.iter().map(|(name, _)| (*name).to_string()).collect()),
        ("人员类别", strings(&["正式党员", "预备党员"])),
        ("党籍状态", strings(&["正常", "停止党籍"])),
        ("是否为失联党员", strings(&["是", "否"])),
        ("是否为流动党员", strings(&["是", "否"])),
        ("人员分组", strings(&["教职工", "离退休人员", "高校毕业生", "在校学生", "其他"])),
        (
            "失去联系情形",
            strings(&[
                "外出务工经商",
                "单位改制或破产",
                "毕业后去向不明",
                "工作单位改变",
                "出国（境）",
                "居住地改变",
                "离职",
                "其他",
            ]),
        ),
    ]
}

/// How to fill each column (the 填写说明 sheet), in [`FORM_HEADERS`] order.
const INSTRUCTIONS: [&str; 20] = [
    "党员本人姓名，与身份证一致",
    "从下拉列表选择：男、女（须与身份证号第17位一致：奇数为男，偶数为女）",
    "从下拉列表选择，如 汉族",
    "18位公民身份证号（含校验位）；系统只保存其单向摘要作为党员编号，号码本身不在日志中出现",
    "格式 1980-01-01，须与身份证号中的出生日期一致",
    "从下拉列表选择，如 大学本科；也可填学历代码",
    "从下拉列表选择：正式党员、预备党员（预备党员不填转正日期）",
    "本支部的单位路径，如 hb/whu/cs/b01（用 --unit 生成时已预填）",
    "格式 2005-07-01；入党时应已年满18周岁，不晚于统计截止日期",
    "正式党员填写，格式 2006-07-01；预备党员留空",
    "工作岗位代码（数字），不清楚可留空",
    "手机或固定电话，只含数字",
    "家庭住址",
    "从下拉列表选择：正常、停止党籍",
    "从下拉列表选择：是、否",
    "失联党员填写：最后一次参加组织生活或交纳党费的日期，格式 2024-05-01",
    "从下拉列表选择：是、否",
    "流动党员填写：省/市/县，如 广东/深圳/南山",
    "从下拉列表选择：教职工、离退休人员、高校毕业生、在校学生、其他（表2、表3按此分行）",
    "失联党员填写，从下拉列表选择（表2按此分列；查找中核实的情形以核查记录为准）",
];

/// An example row (a made-up person with a valid ID number), in [`FORM_HEADERS`] order.
fn example_row(branch: &str) -> [String; 20] {
    let id17 = "42010219800101001";
    let id = format!("{id17}{}", rollcall_core::audit::rules::id_check_digit(id17));
    [
        "张三",
        "男",
        "汉族",
        &id,
        "1980-01-01",
        "大学本科",
        "正式党员",
        branch,
        "2005-07-01",
        "2006-07-01",
        "",
        "13800000000",
        "湖北省武汉市武昌区",
        "正常",
        "否",
        "",
        "否",
        "",
        "教职工",
        "",
    ]
    .map(str::to_string)
}

/// Writes the blank form at `path` with `rows` blank rows, 所在党支部 pre-filled with
/// `branch` when given. Written whole or not at all.
///
/// # Errors
///
/// The spreadsheet writer's error, or the file system's.
pub fn write_member_form(path: &Path, branch: Option<&str>, rows: u32) -> Result<(), XlsxError> {
    let mut workbook = Workbook::new();
    let title = Format::new().set_bold().set_font_size(16).set_align(FormatAlign::Center);
    let heading = Format::new()
        .set_bold()
        .set_border(FormatBorder::Thin)
        .set_text_wrap()
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter);
    let cell = Format::new().set_border(FormatBorder::Thin).set_num_format("@");
    let note = Format::new().set_italic();
    let headers = headers();
    let last = headers.len() as u16 - 1;
    let header_row = 2;
    let (first, end) = (header_row + 1, header_row + rows);

    let form = workbook.add_worksheet();
    form.set_name("登记表")?;
    form.merge_range(0, 0, 0, last, "党员基本情况登记表", &title)?;
    form.merge_range(
        1,
        0,
        1,
        last,
        "每名党员一行；带下拉箭头的单元格请从列表选择；填写说明和示例见“填写说明”工作表。填好后：rollcall import members 登记表.xlsx",
        &note,
    )?;
    for (column, text) in headers.iter().enumerate() {
        form.write_string_with_format(header_row, column as u16, *text, &heading)?;
        let width = match *text {
            "公民身份证号" => 21.0,
            "所在党支部" | "家庭住址" | "外出流向" => 18.0,
            "姓名" | "性别" | "民族" => 8.0,
            _ => 12.0,
        };
        form.set_column_width(column as u16, width)?;
    }
    form.set_row_height(header_row, 32)?;
    for row in first..=end {
        for column in 0..=last {
            form.write_blank(row, column, &cell)?;
        }
        if let Some(branch) = branch {
            let column = headers.iter().position(|h| *h == "所在党支部").unwrap_or(7) as u16;
            form.write_string_with_format(row, column, branch, &cell)?;
        }
    }
    // Drop-downs fed from the hidden 代码 sheet (a list of 56 ethnicities is longer than
    // Excel allows inline).
    let lists = code_lists();
    for (index, (header, choices)) in lists.iter().enumerate() {
        let Some(column) = headers.iter().position(|h| h == header) else { continue };
        let letter = crate::import::column_letter(index);
        let range = format!("=代码!${letter}$2:${letter}${}", choices.len() + 1);
        let validation = DataValidation::new()
            .allow_list_formula(Formula::new(range))
            .set_error_title("请从列表选择")?
            .set_error_message(format!("“{header}”请从下拉列表中选择"))?;
        form.add_data_validation(first, column as u16, end, column as u16, &validation)?;
    }
    form.set_freeze_panes(first, 1)?;
    form.set_landscape().set_paper_size(9).set_print_fit_to_pages(1, 0);
    form.set_repeat_rows(0, header_row)?;

    let guide = workbook.add_worksheet();
    guide.set_name("填写说明")?;
    guide.write_string_with_format(0, 0, "栏目", &heading)?;
    guide.write_string_with_format(0, 1, "填写要求", &heading)?;
    guide.write_string_with_format(0, 2, "示例", &heading)?;
    guide.set_column_width(0, 16)?;
    guide.set_column_width(1, 80)?;
    guide.set_column_width(2, 24)?;
    let example = example_row(branch.unwrap_or("hb/whu/cs/b01"));
    for (index, ((header, instruction), sample)) in headers.iter().zip(INSTRUCTIONS).zip(&example).enumerate() {
        let row = index as u32 + 1;
        guide.write_string(row, 0, *header)?;
        guide.write_string(row, 1, instruction)?;
        guide.write_string(row, 2, sample)?;
    }

    let codes = workbook.add_worksheet();
    codes.set_name("代码")?;
    for (index, (header, choices)) in lists.iter().enumerate() {
        codes.write_string(0, index as u16, *header)?;
        for (row, choice) in choices.iter().enumerate() {
            codes.write_string(row as u32 + 1, index as u16, choice)?;
        }
    }
    codes.set_hidden(true);

    let partial = path.with_extension("xlsx.partial");
    workbook.save(&partial)?;
    std::fs::rename(&partial, path).map_err(XlsxError::IoError)
}
