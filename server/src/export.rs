//! Tables 1-3 and the registers as files people open in a spreadsheet program: XLSX
//! laid out as on paper (title, reporting unit and as-of date, headings, rows; blank
//! cells blank, not 0) and CSV (UTF-8 with a byte-order mark, so Excel reads Chinese).
//!
//! Invariant: a file is written whole or not at all (written beside the target, then
//! renamed over it).

use std::path::Path;

use rollcall_proto::v1 as pb;
use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook};

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Writing the XLSX failed.
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

/// A sheet: title, subtitle, headings, rows of cells (`None` is blank).
#[derive(Clone, Debug, PartialEq)]
pub struct Sheet {
    /// Title line.
    pub title: String,
    /// The line under the title (unit, as-of date).
    pub subtitle: String,
    /// Column headings.
    pub headings: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Cell>>,
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

/// A table as a sheet, in Chinese (`zh`) or English.
pub fn table_sheet(table: &pb::TableResponse, zh: bool) -> Sheet {
    let as_of = table.as_of.as_ref().map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)).unwrap_or_default();
    let unit_name = if table.unit_name.is_empty() { &table.unit_path } else { &table.unit_name };
    let mut headings = vec![
        pick(zh, if table.table == 1 { "单位" } else { "类别" }, if table.table == 1 { "unit" } else { "group" })
            .to_string(),
    ];
    // A leaf heading under a grouped one (党员数 › 总数) carries its group until the
    // exported sheets merge the grouped headings over their columns.
    headings.extend(table.columns.iter().map(|c| match (zh, c.group_zh.is_empty()) {
        (true, false) => format!("{}·{}", c.group_zh, c.name_zh),
        _ => pick(zh, &c.name_zh, &c.name_en).to_string(),
    }));
    let mut rows: Vec<Vec<Cell>> = table
        .rows
        .iter()
        .map(|label| {
            let mut row = vec![Cell::Text(pick(zh, &label.name_zh, &label.name_en).to_string())];
            row.extend(std::iter::repeat_n(Cell::Blank, table.columns.len()));
            row
        })
        .collect();
    for cell in &table.cells {
        if let (Some(row), Some(value)) = (rows.get_mut(cell.row as usize), cell.value) {
            if let Some(slot) = row.get_mut(cell.column as usize + 1) {
                *slot = Cell::Number(value);
            }
        }
    }
    Sheet {
        title: format!("{}{}", pick(zh, "表", "Table "), table.table)
            + " "
            + pick(zh, &table.title_zh, &table.title_en),
        subtitle: if zh {
            format!("填报单位（盖章）：{}    统计截止日期：{as_of}", unit_name)
        } else {
            format!("unit: {}    as of: {as_of}", unit_name)
        },
        headings,
        rows,
    }
}

/// A register as a sheet, in Chinese (`zh`) or English.
pub fn register_sheet(register: &pb::RegisterResponse, unit: &str, zh: bool) -> Sheet {
    Sheet {
        title: pick(zh, &register.title_zh, &register.title_en).to_string(),
        subtitle: if zh { format!("填报单位：{unit}") } else { format!("unit: {unit}") },
        headings: register.columns.iter().map(|c| pick(zh, &c.name_zh, &c.name_en).to_string()).collect(),
        rows: register.rows.iter().map(|r| r.cells.iter().map(|c| Cell::Text(c.clone())).collect()).collect(),
    }
}

/// `sheet` as XLSX bytes (for a download).
///
/// # Errors
///
/// [`ExportError`] if the workbook cannot be built.
pub fn xlsx_bytes(sheet: &Sheet) -> Result<Vec<u8>, ExportError> {
    let mut workbook = build_workbook(sheet, Path::new("download.xlsx"))?;
    workbook.save_to_buffer().map_err(|e| write_error(Path::new("download.xlsx"), e))
}

fn build_workbook(sheet: &Sheet, path: &Path) -> Result<Workbook, ExportError> {
    let mut workbook = Workbook::new();
    let worksheet = workbook.add_worksheet();
    let title = Format::new().set_bold().set_font_size(14).set_align(FormatAlign::Center);
    let heading =
        Format::new().set_bold().set_text_wrap().set_border(FormatBorder::Thin).set_align(FormatAlign::Center);
    let body = Format::new().set_border(FormatBorder::Thin);
    let last_column = sheet.headings.len().saturating_sub(1) as u16;
    worksheet.merge_range(0, 0, 0, last_column.max(1), &sheet.title, &title).map_err(|e| write_error(path, e))?;
    worksheet.write_string(1, 0, &sheet.subtitle).map_err(|e| write_error(path, e))?;
    for (column, text) in sheet.headings.iter().enumerate() {
        worksheet.write_string_with_format(2, column as u16, text, &heading).map_err(|e| write_error(path, e))?;
        worksheet
            .set_column_width(column as u16, if column == 0 { 16 } else { 12 })
            .map_err(|e| write_error(path, e))?;
    }
    for (index, row) in sheet.rows.iter().enumerate() {
        let row_number = 3 + index as u32;
        for (column, cell) in row.iter().enumerate() {
            let column = column as u16;
            match cell {
                Cell::Text(text) => worksheet.write_string_with_format(row_number, column, text, &body),
                Cell::Number(value) => worksheet.write_number_with_format(row_number, column, *value as f64, &body),
                Cell::Blank => worksheet.write_blank(row_number, column, &body),
            }
            .map_err(|e| write_error(path, e))?;
        }
    }
    Ok(workbook)
}

/// Writes `sheet` as XLSX at `path`.
///
/// # Errors
///
/// [`ExportError`] naming the file.
pub fn write_xlsx(sheet: &Sheet, path: &Path) -> Result<(), ExportError> {
    let mut workbook = build_workbook(sheet, path)?;
    let partial = path.with_extension("xlsx.partial");
    workbook.save(&partial).map_err(|e| write_error(path, e))?;
    std::fs::rename(&partial, path).map_err(|e| write_error(path, e))
}

/// Writes `sheet` as CSV (UTF-8 with BOM) at `path`.
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
        writer.flush()?;
        Ok(())
    })();
    result.map_err(|e| write_error(path, e))?;
    std::fs::rename(&partial, path).map_err(|e| write_error(path, e))
}

/// Writes `sheet` by the file's extension (`.xlsx` or `.csv`).
///
/// # Errors
///
/// [`ExportError`] naming the file, also for another extension.
pub fn write_by_extension(sheet: &Sheet, path: &Path) -> Result<(), ExportError> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("xlsx") => write_xlsx(sheet, path),
        Some("csv") => write_csv(sheet, path),
        _ => Err(write_error(path, "the file name must end in .xlsx or .csv")),
    }
}
