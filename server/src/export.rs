//! Tables 1-3 and the registers as the official forms people print, sign and submit:
//! XLSX laid out as FORMS.md says (the title; 填报单位（盖章） with the unit's official
//! name and 统计截止日期; grouped, merged multi-row headings from the templates; a 栏次
//! row of 甲, 乙, 1, 2, …; the rows with their 代码; 填报人 / 审核人 / 联系电话 / 填报日期
//! at the foot; a 说明 sheet with the column definitions; A4 landscape, one page wide,
//! the title and headings repeated on every page, frozen under the headings, the print
//! area set), and CSV (UTF-8 with a byte-order mark, so Excel reads Chinese).
//!
//! Invariants: a file is written whole or not at all (written beside the target, then
//! renamed over it); a count is a number cell and a blank stays blank (never 0); the
//! layout comes from the response's columns (their groups and headings are template
//! data), never from a table number.

use std::path::Path;

use rollcall_proto::v1 as pb;
use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook, Worksheet, XlsxError};

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Writing the file failed.
    #[error("writing {path}: {detail}")]
    Write {
        /// The file.
        path: String,
        /// What failed.
        detail: String,
    },
}

fn write_error(path: &Path, detail: impl std::fmt::Display) -> ExportError {
    ExportError::Write { path: path.display().to_string(), detail: detail.to_string() }
}

/// One column of a form: the grouped heading it sits under (empty: none), its own
/// heading, and its width in characters.
#[derive(Clone, Debug, PartialEq)]
pub struct SheetColumn {
    /// Grouped heading (merged over the consecutive columns that share it).
    pub group: String,
    /// The column's heading.
    pub heading: String,
    /// Width in characters.
    pub width: f64,
}

/// A form: what is printed, top to bottom.
#[derive(Clone, Debug, PartialEq)]
pub struct Sheet {
    /// The worksheet's name (表2, 仍失联登记表, …).
    pub sheet_name: String,
    /// Title line.
    pub title: String,
    /// 填报单位（盖章）：… (left of the line under the title).
    pub unit_line: String,
    /// 统计截止日期：… (right of it; may be empty).
    pub date_line: String,
    /// The line under the title as one text (for text output and CSV).
    pub subtitle: String,
    /// The columns, with their grouped headings.
    pub columns: Vec<SheetColumn>,
    /// Leaf headings for a one-row header (text output, CSV): "group·heading".
    pub headings: Vec<String>,
    /// The 栏次 row under the headings (甲, 乙, 1, 2, …); empty: none.
    pub column_numbers: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Cell>>,
    /// The line at the foot (填报人 …).
    pub footer: String,
    /// Column definitions for the 说明 sheet: (heading, definition).
    pub legend: Vec<(String, String)>,
}

/// One cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// A count.
    Number(i64),
    /// Nothing (blank is not 0).
    Blank,
}

/// Chinese (`zh`) or English text.
fn pick<'a>(zh: bool, chinese: &'a str, english: &'a str) -> &'a str {
    if zh { chinese } else { english }
}

fn date_zh(date: Option<&pb::Date>) -> String {
    date.map(|d| format!("{}年{}月{}日", d.year, d.month, d.day)).unwrap_or_default()
}

fn date_en(date: Option<&pb::Date>) -> String {
    date.map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)).unwrap_or_default()
}

/// The signature line at the foot of every form.
pub const FOOTER_ZH: &str =
    "填报人：　　　　　　审核人：　　　　　　联系电话：　　　　　　填报日期：　　　　年　　月　　日";
const FOOTER_EN: &str = "Filled in by:            Checked by:            Telephone:            Date:";

fn leaf_headings(columns: &[SheetColumn]) -> Vec<String> {
    columns
        .iter()
        .map(|c| if c.group.is_empty() { c.heading.clone() } else { format!("{}·{}", c.group, c.heading) })
        .collect()
}

/// A table as the official form, in Chinese (`zh`) or English.
pub fn table_sheet(table: &pb::TableResponse, zh: bool) -> Sheet {
    let unit_name = if table.unit_name.is_empty() { &table.unit_path } else { &table.unit_name };
    let row_heading = if table.table == 1 { pick(zh, "单位", "unit") } else { pick(zh, "类别", "category") };
    let mut columns = vec![
        SheetColumn { group: String::new(), heading: row_heading.to_string(), width: 26.0 },
        SheetColumn { group: String::new(), heading: pick(zh, "代码", "code").to_string(), width: 5.0 },
    ];
    columns.extend(table.columns.iter().map(|c| SheetColumn {
        group: if zh { c.group_zh.clone() } else { String::new() },
        heading: pick(zh, &c.name_zh, &c.name_en).to_string(),
        width: 8.5,
    }));
    let mut rows: Vec<Vec<Cell>> = table
        .rows
        .iter()
        .enumerate()
        .map(|(index, label)| {
            let mut row = vec![
                Cell::Text(pick(zh, &label.name_zh, &label.name_en).to_string()),
                Cell::Text(format!("{:02}", index + 1)),
            ];
            row.extend(std::iter::repeat_n(Cell::Blank, table.columns.len()));
            row
        })
        .collect();
    for cell in &table.cells {
        if let (Some(row), Some(value)) = (rows.get_mut(cell.row as usize), cell.value)
            && let Some(slot) = row.get_mut(cell.column as usize + 2)
        {
            *slot = Cell::Number(value);
        }
    }
    let mut column_numbers = vec![pick(zh, "甲", "A").to_string(), pick(zh, "乙", "B").to_string()];
    column_numbers.extend((1..=table.columns.len()).map(|n| n.to_string()));
    let (unit_line, date_line) = if zh {
        (format!("填报单位（盖章）：{unit_name}"), format!("统计截止日期：{}", date_zh(table.as_of.as_ref())))
    } else {
        (format!("unit: {unit_name}"), format!("as of: {}", date_en(table.as_of.as_ref())))
    };
    let legend = table
        .columns
        .iter()
        .filter(|c| !c.definition_zh.is_empty())
        .map(|c| {
            let heading =
                if c.group_zh.is_empty() { c.name_zh.clone() } else { format!("{}·{}", c.group_zh, c.name_zh) };
            if zh { (heading, c.definition_zh.clone()) } else { (c.name_en.clone(), c.definition_en.clone()) }
        })
        .collect();
    Sheet {
        sheet_name: format!("{}{}", pick(zh, "表", "Table "), table.table),
        title: if zh {
            format!("表{} {}", table.table, table.title_zh)
        } else {
            format!("Table {} {}", table.table, table.title_en)
        },
        subtitle: format!("{unit_line}    {date_line}"),
        unit_line,
        date_line,
        headings: leaf_headings(&columns),
        columns,
        column_numbers,
        rows,
        footer: pick(zh, FOOTER_ZH, FOOTER_EN).to_string(),
        legend,
    }
}

/// A register as the official form, in Chinese (`zh`) or English.
pub fn register_sheet(register: &pb::RegisterResponse, zh: bool) -> Sheet {
    let unit_name = if register.unit_name.is_empty() { &register.unit_path } else { &register.unit_name };
    let width = |key: &str| match key {
        "seq" => 5.0,
        "gender" => 5.0,
        "name" => 9.0,
        "id_number" => 20.0,
        "category" | "group" => 12.0,
        "branch" | "handling" | "search" => 18.0,
        "lost_period" => 16.0,
        _ => 11.0,
    };
    let columns: Vec<SheetColumn> = register
        .columns
        .iter()
        .map(|c| SheetColumn {
            group: String::new(),
            heading: pick(zh, &c.name_zh, &c.name_en).to_string(),
            width: width(&c.key),
        })
        .collect();
    let sequence = register.columns.iter().position(|c| c.key == "seq");
    let rows = register
        .rows
        .iter()
        .map(|row| {
            row.cells
                .iter()
                .enumerate()
                .map(|(index, text)| match (Some(index) == sequence, text.parse::<i64>()) {
                    (true, Ok(number)) => Cell::Number(number),
                    _ if text.is_empty() => Cell::Blank,
                    _ => Cell::Text(text.clone()),
                })
                .collect()
        })
        .collect();
    let (unit_line, date_line) = if zh {
        (format!("填报单位（盖章）：{unit_name}"), format!("统计截止日期：{}", date_zh(register.as_of.as_ref())))
    } else {
        (format!("unit: {unit_name}"), format!("as of: {}", date_en(register.as_of.as_ref())))
    };
    Sheet {
        sheet_name: pick(zh, &register.title_zh, &register.title_en).chars().take(31).collect(),
        title: pick(zh, &register.title_zh, &register.title_en).to_string(),
        subtitle: format!("{unit_line}    {date_line}"),
        unit_line,
        date_line,
        headings: leaf_headings(&columns),
        columns,
        column_numbers: Vec::new(),
        rows,
        footer: pick(zh, FOOTER_ZH, FOOTER_EN).to_string(),
        legend: Vec::new(),
    }
}

/// `sheet` as XLSX bytes (for a download).
///
/// # Errors
///
/// [`ExportError`] if the workbook cannot be built.
pub fn xlsx_bytes(sheet: &Sheet) -> Result<Vec<u8>, ExportError> {
    let path = Path::new("download.xlsx");
    let mut workbook = build_workbook(sheet).map_err(|e| write_error(path, e))?;
    workbook.save_to_buffer().map_err(|e| write_error(path, e))
}

/// Several sheets as one XLSX workbook, in order (a dossier's steps, attempts, votes).
///
/// # Errors
///
/// [`ExportError`] if the workbook cannot be built.
pub fn xlsx_bytes_many(sheets: &[Sheet]) -> Result<Vec<u8>, ExportError> {
    let path = Path::new("download.xlsx");
    let mut workbook = Workbook::new();
    for sheet in sheets {
        lay_out(workbook.add_worksheet(), sheet).map_err(|e| write_error(path, e))?;
    }
    workbook.save_to_buffer().map_err(|e| write_error(path, e))
}

/// Where the parts of a form sit on its sheet (0-based rows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The first heading row.
    pub header_first: u32,
    /// The last heading row (the 栏次 row when there is one).
    pub header_last: u32,
    /// The first data row.
    pub data_first: u32,
    /// The footer's row.
    pub footer: u32,
}

impl Sheet {
    /// Heading rows: two when some column has a grouped heading, else one.
    pub fn heading_rows(&self) -> u32 {
        if self.columns.iter().any(|c| !c.group.is_empty()) { 2 } else { 1 }
    }

    /// Where the parts of this form sit.
    pub fn layout(&self) -> Layout {
        let header_first = 2;
        let header_last = header_first + self.heading_rows() - 1 + u32::from(!self.column_numbers.is_empty());
        let data_first = header_last + 1;
        Layout { header_first, header_last, data_first, footer: data_first + self.rows.len() as u32 + 1 }
    }
}

fn build_workbook(sheet: &Sheet) -> Result<Workbook, XlsxError> {
    let mut workbook = Workbook::new();
    let worksheet = workbook.add_worksheet();
    lay_out(worksheet, sheet)?;
    if !sheet.legend.is_empty() {
        let legend = workbook.add_worksheet();
        legend.set_name(if sheet.sheet_name.starts_with('表') { "说明" } else { "Notes" })?;
        let bold = Format::new().set_bold().set_border(FormatBorder::Thin).set_text_wrap();
        let wrap = Format::new().set_border(FormatBorder::Thin).set_text_wrap().set_align(FormatAlign::Top);
        legend.write_string_with_format(0, 0, "栏目", &bold)?;
        legend.write_string_with_format(0, 1, "统计口径", &bold)?;
        legend.set_column_width(0, 24)?;
        legend.set_column_width(1, 100)?;
        for (index, (heading, definition)) in sheet.legend.iter().enumerate() {
            legend.write_string_with_format(index as u32 + 1, 0, heading, &wrap)?;
            legend.write_string_with_format(index as u32 + 1, 1, definition, &wrap)?;
        }
        legend.set_landscape().set_paper_size(9).set_print_fit_to_pages(1, 0);
    }
    Ok(workbook)
}

fn lay_out(worksheet: &mut Worksheet, sheet: &Sheet) -> Result<(), XlsxError> {
    let font = "SimSun";
    let base = || Format::new().set_font_name(font).set_font_size(10);
    let title =
        base().set_bold().set_font_size(16).set_align(FormatAlign::Center).set_align(FormatAlign::VerticalCenter);
    let left = base().set_align(FormatAlign::Left).set_align(FormatAlign::VerticalCenter);
    let right = base().set_align(FormatAlign::Right).set_align(FormatAlign::VerticalCenter);
    let heading = base()
        .set_bold()
        .set_text_wrap()
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter);
    let number_row = base().set_border(FormatBorder::Thin).set_align(FormatAlign::Center);
    let text = base().set_border(FormatBorder::Thin).set_text_wrap().set_align(FormatAlign::VerticalCenter);
    let code = base().set_border(FormatBorder::Thin).set_align(FormatAlign::Center);
    let number = base().set_border(FormatBorder::Thin).set_align(FormatAlign::Right).set_num_format("0");

    worksheet.set_name(&sheet.sheet_name)?;
    let last_column = sheet.columns.len().saturating_sub(1) as u16;
    let layout = sheet.layout();
    for (index, column) in sheet.columns.iter().enumerate() {
        worksheet.set_column_width(index as u16, column.width)?;
    }
    // Title, then 填报单位 on the left and 统计截止日期 on the right of one line.
    worksheet.set_row_height(0, 30)?;
    worksheet.merge_range(0, 0, 0, last_column.max(1), &sheet.title, &title)?;
    let split = (last_column / 2).max(1);
    worksheet.merge_range(1, 0, 1, split, &sheet.unit_line, &left)?;
    if split < last_column {
        worksheet.merge_range(1, split + 1, 1, last_column, &sheet.date_line, &right)?;
    }
    worksheet.set_row_height(1, 20)?;
    // Headings: a column without a group spans both heading rows; a group spans its
    // consecutive columns in the first and its columns' headings sit in the second.
    let (first, rows) = (layout.header_first, sheet.heading_rows());
    let mut index = 0;
    while index < sheet.columns.len() {
        let column = &sheet.columns[index];
        let col = index as u16;
        if column.group.is_empty() {
            if rows == 2 {
                worksheet.merge_range(first, col, first + 1, col, &column.heading, &heading)?;
            } else {
                worksheet.write_string_with_format(first, col, &column.heading, &heading)?;
            }
            index += 1;
            continue;
        }
        let span = sheet.columns[index..].iter().take_while(|c| c.group == column.group).count();
        let last = col + span as u16 - 1;
        if span > 1 {
            worksheet.merge_range(first, col, first, last, &column.group, &heading)?;
        } else {
            worksheet.write_string_with_format(first, col, &column.group, &heading)?;
        }
        for (offset, member) in sheet.columns[index..index + span].iter().enumerate() {
            worksheet.write_string_with_format(first + 1, col + offset as u16, &member.heading, &heading)?;
        }
        index += span;
    }
    for row in first..first + rows {
        worksheet.set_row_height(row, if rows == 2 && row == first { 22 } else { 48 })?;
    }
    if !sheet.column_numbers.is_empty() {
        let row = first + rows;
        for (index, label) in sheet.column_numbers.iter().enumerate() {
            worksheet.write_string_with_format(row, index as u16, label, &number_row)?;
        }
    }
    for (index, cells) in sheet.rows.iter().enumerate() {
        let row = layout.data_first + index as u32;
        for (column, cell) in cells.iter().enumerate() {
            let column = column as u16;
            match cell {
                Cell::Text(value) if column == 1 && !sheet.column_numbers.is_empty() => {
                    worksheet.write_string_with_format(row, column, value, &code)?
                }
                Cell::Text(value) => worksheet.write_string_with_format(row, column, value, &text)?,
                Cell::Number(value) => worksheet.write_number_with_format(row, column, *value as f64, &number)?,
                Cell::Blank => worksheet.write_blank(row, column, &text)?,
            };
        }
    }
    worksheet.merge_range(layout.footer, 0, layout.footer, last_column.max(1), &sheet.footer, &left)?;
    worksheet.set_row_height(layout.footer, 24)?;

    // Printing: A4 landscape, one page wide (and one page tall for up to 40 rows), the
    // title and headings on every page, frozen under the headings, the form as the
    // print area.
    worksheet.set_landscape().set_paper_size(9).set_margins(0.4, 0.4, 0.5, 0.5, 0.3, 0.3);
    worksheet.set_print_center_horizontally(true);
    worksheet.set_print_fit_to_pages(1, if sheet.rows.len() <= 40 { 1 } else { 0 });
    worksheet.set_repeat_rows(0, layout.header_last)?;
    worksheet.set_print_area(0, 0, layout.footer, last_column)?;
    worksheet.set_freeze_panes(layout.data_first, if sheet.column_numbers.is_empty() { 0 } else { 2 })?;
    Ok(())
}

/// Writes `sheet` as XLSX at `path`.
///
/// # Errors
///
/// [`ExportError`] naming the file.
pub fn write_xlsx(sheet: &Sheet, path: &Path) -> Result<(), ExportError> {
    let mut workbook = build_workbook(sheet).map_err(|e| write_error(path, e))?;
    let partial = path.with_extension("xlsx.partial");
    workbook.save(&partial).map_err(|e| write_error(path, e))?;
    std::fs::rename(&partial, path).map_err(|e| write_error(path, e))
}

/// Writes `sheet` as CSV (UTF-8 with BOM) at `path`: the title and unit lines, one
/// heading row, the rows, the foot.
///
/// # Errors
///
/// [`ExportError`] naming the file.
pub fn write_csv(sheet: &Sheet, path: &Path) -> Result<(), ExportError> {
    let partial = path.with_extension("csv.partial");
    let result = (|| -> Result<(), Box<dyn std::error::Error>> {
        let mut file = std::fs::File::create(&partial)?;
        std::io::Write::write_all(&mut file, "\u{feff}".as_bytes())?;
        let mut writer = csv::WriterBuilder::new().flexible(true).from_writer(file);
        writer.write_record([sheet.title.as_str()])?;
        writer.write_record([sheet.subtitle.as_str()])?;
        writer.write_record(&sheet.headings)?;
        for row in &sheet.rows {
            writer.write_record(row.iter().map(|cell| match cell {
                Cell::Text(text) => text.clone(),
                Cell::Number(value) => value.to_string(),
                Cell::Blank => String::new(),
            }))?;
        }
        writer.write_record([sheet.footer.as_str()])?;
        writer.flush()?;
        Ok(())
    })();
    result.map_err(|e| write_error(path, e))?;
    std::fs::rename(&partial, path).map_err(|e| write_error(path, e))
}

/// Writes `sheet` by the file's extension (`.xlsx`, `.csv` or `.pdf`).
///
/// # Errors
///
/// [`ExportError`] naming the file, also for another extension.
pub fn write_by_extension(sheet: &Sheet, path: &Path) -> Result<(), ExportError> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("xlsx") => write_xlsx(sheet, path),
        Some("csv") => write_csv(sheet, path),
        Some("pdf") => crate::pdf::write_pdf(sheet, path),
        _ => Err(write_error(path, "the file name must end in .xlsx, .csv or .pdf")),
    }
}
