//! The official forms as PDF, for printing and archiving: the same layout as the XLSX
//! of [`crate::export`] (title, 填报单位（盖章） and 统计截止日期, grouped headings, the
//! 栏次 row, the rows, the foot to sign; the 说明 of table 1 on its own page), drawn on
//! A4 landscape with `krilla` (typst's PDF writer), which embeds the subset of a CJK
//! font the text uses, so the file prints the same anywhere.
//!
//! The font is a free CJK font found on the machine (WenQuanYi Micro/Zen Hei, Noto
//! Sans/Serif CJK, AR PL UMing; `ROLLCALL_PDF_FONT` names another): rollcall does not
//! ship 10-20 MB of glyphs in its binary, and only the glyphs used end up in the file.
//!
//! Invariants: a PDF is written whole or not at all (beside the target, then renamed);
//! the heading rows repeat on every page; a table of up to 40 rows fits one page (rows
//! shrink to fit), longer ones and the registers continue on further pages.

use std::path::{Path, PathBuf};

use krilla::Document;
use krilla::color::luma;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};

use crate::export::{Cell, ExportError, Sheet};

const PAGE_WIDTH: f32 = 841.89;
const PAGE_HEIGHT: f32 = 595.28;
const MARGIN: f32 = 28.0;
const TITLE_SIZE: f32 = 15.0;
const TEXT_SIZE: f32 = 8.0;

/// Where a CJK font is usually found on Debian and similar systems.
const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
];

fn write_error(path: &Path, detail: impl std::fmt::Display) -> ExportError {
    ExportError::Write { path: path.display().to_string(), detail: detail.to_string() }
}

/// The CJK font file to embed: `ROLLCALL_PDF_FONT`, else the first of the usual ones.
fn font_file() -> Option<PathBuf> {
    if let Some(named) = std::env::var_os("ROLLCALL_PDF_FONT") {
        return Some(PathBuf::from(named));
    }
    FONT_CANDIDATES.iter().map(PathBuf::from).find(|path| path.is_file())
}

fn load_font(target: &Path) -> Result<Font, ExportError> {
    let path = font_file().ok_or_else(|| {
        write_error(
            target,
            "a PDF needs a Chinese font: install one (sudo apt install fonts-wqy-microhei) or set \
             ROLLCALL_PDF_FONT to a .ttf/.ttc/.otf file (PDF 需要中文字体：请安装 fonts-wqy-microhei，或用 \
             ROLLCALL_PDF_FONT 指定字体文件)",
        )
    })?;
    let bytes =
        std::fs::read(&path).map_err(|e| write_error(target, format!("reading the font {}: {e}", path.display())))?;
    Font::new(bytes.into(), 0)
        .ok_or_else(|| write_error(target, format!("{} is not a font this PDF writer can read", path.display())))
}

/// The width of `text` at `size`: CJK and full-width characters one em, others about half.
fn text_width(text: &str, size: f32) -> f32 {
    text.chars().map(|c| if unicode_wide(c) { size } else { size * 0.55 }).sum()
}

fn unicode_wide(c: char) -> bool {
    !c.is_ascii() && !matches!(c, '·' | '—' | '–')
}

/// `text` broken into lines no wider than `width`.
fn wrap(text: &str, width: f32, size: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for c in text.chars() {
        let candidate = format!("{line}{c}");
        if !line.is_empty() && text_width(&candidate, size) > width {
            lines.push(std::mem::take(&mut line));
        }
        line.push(c);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[derive(Clone, Copy)]
enum Align {
    Left,
    Center,
    Right,
}

struct Painter<'a, 'b> {
    surface: Surface<'a>,
    font: &'b Font,
}

impl Painter<'_, '_> {
    fn text(&mut self, x: f32, baseline: f32, size: f32, text: &str) {
        if text.is_empty() {
            return;
        }
        self.surface.set_fill(Some(Fill {
            paint: luma::Color::black().into(),
            opacity: NormalizedF32::ONE,
            rule: Default::default(),
        }));
        self.surface.draw_text(Point::from_xy(x, baseline), self.font.clone(), size, text, false, TextDirection::Auto);
    }

    /// A bordered cell with `text` wrapped inside it, vertically centred.
    fn cell(&mut self, rect: (f32, f32, f32, f32), text: &str, size: f32, align: Align) {
        let (x, y, w, h) = rect;
        if let Some(rect) = Rect::from_xywh(x, y, w, h) {
            let mut builder = PathBuilder::new();
            builder.push_rect(rect);
            if let Some(path) = builder.finish() {
                self.surface.set_fill(None);
                self.surface.set_stroke(Some(Stroke { width: 0.5, ..Stroke::default() }));
                self.surface.draw_path(&path);
                self.surface.set_stroke(None);
            }
        }
        let lines = wrap(text, (w - 3.0).max(size), size);
        let line_height = size * 1.25;
        let top = y + (h - line_height * lines.len() as f32) / 2.0;
        for (index, line) in lines.iter().enumerate() {
            let baseline = top + line_height * index as f32 + size;
            let width = text_width(line, size);
            let start = match align {
                Align::Left => x + 2.0,
                Align::Center => x + (w - width) / 2.0,
                Align::Right => x + w - 2.0 - width,
            };
            self.text(start, baseline, size, line);
        }
    }
}

/// Column positions scaled from the sheet's widths to the printable width.
fn column_edges(sheet: &Sheet) -> Vec<f32> {
    let total: f64 = sheet.columns.iter().map(|c| c.width).sum::<f64>().max(1.0);
    let printable = PAGE_WIDTH - 2.0 * MARGIN;
    let mut edges = vec![MARGIN];
    for column in &sheet.columns {
        let last = *edges.last().unwrap_or(&MARGIN);
        edges.push(last + (column.width / total) as f32 * printable);
    }
    edges
}

fn cell_text(cell: &Cell) -> String {
    match cell {
        Cell::Text(text) => text.clone(),
        Cell::Number(value) => value.to_string(),
        Cell::Blank => String::new(),
    }
}

/// Draws the title, the unit's line and the headings at the top of a page; returns
/// where the rows start.
fn draw_head(painter: &mut Painter<'_, '_>, sheet: &Sheet, edges: &[f32], heading_height: f32) -> f32 {
    let mut y = MARGIN;
    let title_width = text_width(&sheet.title, TITLE_SIZE);
    painter.text((PAGE_WIDTH - title_width) / 2.0, y + TITLE_SIZE, TITLE_SIZE, &sheet.title);
    y += TITLE_SIZE + 10.0;
    painter.text(MARGIN, y + 9.0, 9.0, &sheet.unit_line);
    let date_width = text_width(&sheet.date_line, 9.0);
    painter.text(PAGE_WIDTH - MARGIN - date_width, y + 9.0, 9.0, &sheet.date_line);
    y += 16.0;
    let group_height = 14.0;
    let mut index = 0;
    while index < sheet.columns.len() {
        let column = &sheet.columns[index];
        let (x, next) = (edges[index], edges[index + 1]);
        if column.group.is_empty() {
            painter.cell((x, y, next - x, heading_height), &column.heading, TEXT_SIZE, Align::Center);
            index += 1;
            continue;
        }
        let span = sheet.columns[index..].iter().take_while(|c| c.group == column.group).count();
        let right = edges[index + span];
        painter.cell((x, y, right - x, group_height), &column.group, TEXT_SIZE, Align::Center);
        for offset in 0..span {
            let (left, right) = (edges[index + offset], edges[index + offset + 1]);
            let heading = &sheet.columns[index + offset].heading;
            painter.cell(
                (left, y + group_height, right - left, heading_height - group_height),
                heading,
                TEXT_SIZE,
                Align::Center,
            );
        }
        index += span;
    }
    y += heading_height;
    if !sheet.column_numbers.is_empty() {
        for (index, label) in sheet.column_numbers.iter().enumerate() {
            painter.cell((edges[index], y, edges[index + 1] - edges[index], 11.0), label, TEXT_SIZE, Align::Center);
        }
        y += 11.0;
    }
    y
}

/// The height the headings need: the longest heading wrapped in its column.
fn heading_height(sheet: &Sheet, edges: &[f32]) -> f32 {
    let grouped = sheet.heading_rows() == 2;
    let lines = sheet
        .columns
        .iter()
        .enumerate()
        .map(|(index, column)| wrap(&column.heading, edges[index + 1] - edges[index] - 3.0, TEXT_SIZE).len())
        .max()
        .unwrap_or(1) as f32;
    lines * TEXT_SIZE * 1.25 + 6.0 + if grouped { 14.0 } else { 0.0 }
}

/// `sheet` as PDF bytes.
///
/// # Errors
///
/// [`ExportError`] when no CJK font is found or the PDF cannot be written.
pub fn pdf_bytes(sheet: &Sheet, target: &Path) -> Result<Vec<u8>, ExportError> {
    let font = load_font(target)?;
    let edges = column_edges(sheet);
    let heading = heading_height(sheet, &edges);
    let numeric_column = |index: usize| sheet.rows.iter().any(|row| matches!(row.get(index), Some(Cell::Number(_))));
    let align = |index: usize| {
        if !sheet.column_numbers.is_empty() && index == 1 {
            Align::Center
        } else if numeric_column(index) {
            Align::Right
        } else {
            Align::Left
        }
    };
    // Row heights: what each row's wrapped text needs; a table's rows shrink (not below
    // 10 pt) so that up to 40 of them fit the first page.
    let natural: Vec<f32> = sheet
        .rows
        .iter()
        .map(|row| {
            let lines = row
                .iter()
                .enumerate()
                .map(|(index, cell)| wrap(&cell_text(cell), edges[index + 1] - edges[index] - 3.0, TEXT_SIZE).len())
                .max()
                .unwrap_or(1) as f32;
            (lines * TEXT_SIZE * 1.25 + 4.0).max(14.0)
        })
        .collect();
    let top_of_rows =
        MARGIN + TITLE_SIZE + 10.0 + 16.0 + heading + if sheet.column_numbers.is_empty() { 0.0 } else { 11.0 };
    let foot = 22.0;
    let room = PAGE_HEIGHT - MARGIN - foot - top_of_rows;
    let heights: Vec<f32> = if !sheet.column_numbers.is_empty() && sheet.rows.len() <= 40 {
        let needed: f32 = natural.iter().sum();
        let scale = if needed > room { (room / needed).max(10.0 / 14.0) } else { 1.0 };
        natural.iter().map(|h| h * scale).collect()
    } else {
        natural
    };

    let mut document = Document::new();
    let mut row = 0;
    loop {
        let mut page = document.start_page_with(
            PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT).ok_or_else(|| write_error(target, "page size"))?,
        );
        let mut painter = Painter { surface: page.surface(), font: &font };
        let mut y = draw_head(&mut painter, sheet, &edges, heading);
        let mut on_this_page = 0;
        // At least one row per page, however tall, so the loop always ends.
        while row < sheet.rows.len() && (y + heights[row] <= PAGE_HEIGHT - MARGIN - foot || on_this_page == 0) {
            on_this_page += 1;
            let size = if heights[row] < 14.0 { TEXT_SIZE * heights[row] / 14.0 } else { TEXT_SIZE };
            for (index, cell) in sheet.rows[row].iter().enumerate() {
                let rect = (edges[index], y, edges[index + 1] - edges[index], heights[row]);
                painter.cell(rect, &cell_text(cell), size, align(index));
            }
            y += heights[row];
            row += 1;
        }
        if row >= sheet.rows.len() {
            painter.text(MARGIN, y + 16.0, 9.0, &sheet.footer);
        }
        let Painter { surface, .. } = painter;
        surface.finish();
        // The page is finished when it drops, at the end of this iteration.
        if row >= sheet.rows.len() {
            break;
        }
    }
    if !sheet.legend.is_empty() {
        let mut page = document.start_page_with(
            PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT).ok_or_else(|| write_error(target, "page size"))?,
        );
        let mut painter = Painter { surface: page.surface(), font: &font };
        let title = format!("{} 说明", sheet.title);
        painter.text(MARGIN, MARGIN + TITLE_SIZE, TITLE_SIZE, &title);
        let mut y = MARGIN + TITLE_SIZE + 12.0;
        let (left, right) = (MARGIN + 120.0, PAGE_WIDTH - MARGIN);
        for (heading, definition) in &sheet.legend {
            let lines = wrap(definition, right - left - 3.0, TEXT_SIZE);
            let height = lines.len() as f32 * TEXT_SIZE * 1.25 + 6.0;
            painter.cell((MARGIN, y, 120.0, height), heading, TEXT_SIZE, Align::Left);
            painter.cell((left, y, right - left, height), definition, TEXT_SIZE, Align::Left);
            y += height;
        }
        let Painter { surface, .. } = painter;
        surface.finish();
    }
    document.finish().map_err(|e| write_error(target, format!("{e:?}")))
}

/// Writes `sheet` as PDF at `path`, whole or not at all.
///
/// # Errors
///
/// [`ExportError`] naming the file (and the font it needs, when none is found).
pub fn write_pdf(sheet: &Sheet, path: &Path) -> Result<(), ExportError> {
    let bytes = pdf_bytes(sheet, path)?;
    let partial = path.with_extension("pdf.partial");
    std::fs::write(&partial, bytes).map_err(|e| write_error(path, e))?;
    std::fs::rename(&partial, path).map_err(|e| write_error(path, e))
}
