//! Renders a [`Figure`] to SVG with plotters.
//!
//! The look is decided here, once: a title and a subtitle, a legend above the panels (never over data),
//! panels in a grid, notes below; one colour per executor from a colour-blind-friendly palette; text in
//! the reader's `sans-serif` font at sizes that stay legible when the image is shown at half size. Every
//! axis is linear in plotters' terms: a logarithmic axis is drawn in log10 space with its own ticks and
//! labels, so that one code path draws every chart.
//!
//! Plotters' SVG text has no font metrics; its estimate (about 0.57 em per character) places labels,
//! and text that could collide (category labels, the subtitle, notes) is shortened or wrapped here.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::figure::{Figure, Kind, Panel};
use crate::fmt::tick;

/// Tableau 10: distinct for most colour-blind readers, and in print.
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0xba, 0xb0, 0xac),
];

const FONT: &str = "sans-serif";
const TEXT: RGBColor = RGBColor(0x22, 0x22, 0x22);
const MUTED: RGBColor = RGBColor(0x55, 0x55, 0x55);
const GRID: RGBColor = RGBColor(0xe3, 0xe3, 0xe3);
const AXIS: RGBColor = RGBColor(0x88, 0x88, 0x88);
const RULE: RGBColor = RGBColor(0x44, 0x44, 0x44);
/// A change point's line: red, apart from the palette's first colours.
const MARK: RGBColor = RGBColor(0xc6, 0x28, 0x28);

/// Plotters' SVG backend writes a font size of `size / 1.24`: this is the size that comes out as `px`.
fn font(px: f64) -> FontDesc<'static> {
    (FONT, px * 1.24).into_font()
}

/// Width of `text` at `px` as plotters estimates it, and about as a sans-serif font draws it.
fn text_width(text: &str, px: f64) -> f64 {
    text.chars().count() as f64 * px * 0.57
}

/// The colour of palette entry `index`.
/// The colour of palette entry `index`; each [`super::layout::SHADE`] added makes it lighter.
pub(crate) fn color(index: usize) -> RGBColor {
    let RGBColor(r, g, b) = PALETTE[index % super::layout::SHADE % PALETTE.len()];
    let shade = (index / super::layout::SHADE).min(3);
    // A quarter of the way to white per shade.
    let light = |c: u8| (f64::from(c) + (255.0 - f64::from(c)) * shade as f64 / 4.0) as u8;
    RGBColor(light(r), light(g), light(b))
}

struct Frame {
    width: u32,
    columns: usize,
    panel: (u32, u32),
    header: u32,
    footer: u32,
    title: Vec<String>,
    subtitle: Vec<String>,
    /// Rows of legend entries: a series (its palette index) or a rule (`None`).
    legend: Vec<Vec<(String, Option<usize>)>>,
    notes: Vec<String>,
}

const MARGIN: u32 = 20;
const TITLE_PX: f64 = 20.0;
const SUBTITLE_PX: f64 = 13.0;
const LEGEND_PX: f64 = 13.0;
const NOTE_PX: f64 = 12.0;
const LABEL_PX: f64 = 12.0;
const LINE: f64 = 1.45;

fn frame(figure: &Figure) -> Frame {
    let panels = figure.panels.len();
    let columns = figure.grid_columns.unwrap_or(match panels {
        1 => 1,
        2 | 4 => 2,
        _ => 3,
    });
    let panel = if panels == 1 { (760, 420) } else { (400, 300) };
    let width = (columns as u32 * panel.0).max(760) + 2 * MARGIN;
    let usable = f64::from(width - 2 * MARGIN);
    // Bold text runs wider than plotters' estimate.
    let title = wrap(&figure.title, (usable / (TITLE_PX * 0.65)) as usize);
    let subtitle = wrap(&figure.subtitle, (usable / (SUBTITLE_PX * 0.57)) as usize);
    let mut legend: Vec<Vec<(String, Option<usize>)>> = vec![Vec::new()];
    let mut used = 0.0;
    let entries = figure.legend().into_iter().map(|(name, color)| (name, Some(color)));
    for (name, color) in entries.chain(figure.rules.iter().map(|r| (r.label.as_str(), None))) {
        let entry = 34.0 + text_width(name, LEGEND_PX) + 18.0;
        if used + entry > usable && !legend.last().expect("a row").is_empty() {
            legend.push(Vec::new());
            used = 0.0;
        }
        used += entry;
        legend.last_mut().expect("a row").push((name.to_owned(), color));
    }
    let notes: Vec<String> = figure.notes.iter().flat_map(|n| wrap(n, (usable / (NOTE_PX * 0.57)) as usize)).collect();
    let header = (14.0
        + title.len() as f64 * TITLE_PX * LINE
        + 4.0
        + subtitle.len() as f64 * SUBTITLE_PX * LINE
        + 10.0
        + legend.len() as f64 * LEGEND_PX * 1.9
        + 6.0) as u32;
    let footer = (notes.len() as f64 * NOTE_PX * LINE + 14.0) as u32;
    Frame { width, columns, panel, header, footer, title, subtitle, legend, notes }
}

/// Renders `figure` to an SVG document with a `<title>` and a `<desc>` (its `Figure::describe`).
pub fn render(figure: &Figure) -> Result<String, String> {
    let frame = frame(figure);
    let rows = figure.panels.len().div_ceil(frame.columns);
    let height = frame.header + rows as u32 * frame.panel.1 + frame.footer;
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (frame.width, height)).into_drawing_area();
        draw(&root, figure, &frame, rows).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    // Accessible name and description: screen readers read them, and tests check them.
    let head = format!("<title>{}</title>\n<desc>{}</desc>\n", escape(&figure.title), escape(&figure.describe()));
    let at = text.find('>').map_or(0, |i| i + 1);
    text.insert_str(at, &format!("\n{head}"));
    Ok(text)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type Drawn = Result<(), DrawingAreaErrorKind<std::io::Error>>;

fn draw(root: &Area<'_>, figure: &Figure, frame: &Frame, rows: usize) -> Drawn {
    root.fill(&WHITE)?;
    let left = MARGIN as i32;
    let mut y = 14.0;
    let top = Pos::new(HPos::Left, VPos::Top);
    for line in &frame.title {
        root.draw(&Text::new(
            line.clone(),
            (left, y as i32),
            font(TITLE_PX).style(FontStyle::Bold).color(&TEXT).pos(top),
        ))?;
        y += TITLE_PX * LINE;
    }
    y += 4.0;
    for line in &frame.subtitle {
        root.draw(&Text::new(line.clone(), (left, y as i32), font(SUBTITLE_PX).color(&MUTED).pos(top)))?;
        y += SUBTITLE_PX * LINE;
    }
    y += 10.0;
    for row in &frame.legend {
        let mut x = f64::from(left);
        let middle = (y + LEGEND_PX * 0.6) as i32;
        for (name, index) in row {
            let c = index.map_or(RULE, color);
            match (index, figure.kind) {
                (None, _) => {
                    root.draw(&DashedPathElement::new(
                        vec![(x as i32, middle), (x as i32 + 26, middle)],
                        6,
                        4,
                        RULE.stroke_width(1),
                    ))?;
                }
                (Some(_), Kind::Line) => {
                    root.draw(&PathElement::new(vec![(x as i32, middle), (x as i32 + 26, middle)], c.stroke_width(2)))?;
                    root.draw(&Circle::new((x as i32 + 13, middle), 4, c.filled()))?;
                }
                (Some(_), Kind::Bar) => {
                    root.draw(&Rectangle::new([(x as i32 + 6, middle - 7), (x as i32 + 20, middle + 7)], c.filled()))?;
                }
            }
            root.draw(&Text::new(
                name.clone(),
                (x as i32 + 34, middle),
                font(LEGEND_PX).color(&TEXT).pos(Pos::new(HPos::Left, VPos::Center)),
            ))?;
            x += 34.0 + text_width(name, LEGEND_PX) + 18.0;
        }
        y += LEGEND_PX * 1.9;
    }
    let (_, rest) = root.split_vertically(frame.header);
    let grid_height = rows as u32 * frame.panel.1;
    let (grid, footer) = rest.split_vertically(grid_height);
    let grid = grid.margin(0, 0, MARGIN, MARGIN);
    let areas = grid.split_evenly((rows, frame.columns));
    for (panel, area) in figure.panels.iter().zip(&areas) {
        draw_panel(area, figure, panel)?;
    }
    let mut y = 4.0;
    for line in &frame.notes {
        footer.draw(&Text::new(line.clone(), (left, y as i32), font(NOTE_PX).color(&MUTED).pos(top)))?;
        y += NOTE_PX * LINE;
    }
    Ok(())
}

/// An axis in drawing space: log10 of the values on a logarithmic axis.
#[derive(Debug, Clone, Copy)]
struct Scale {
    log: bool,
}

impl Scale {
    fn to(self, v: f64) -> f64 {
        if self.log { v.max(f64::MIN_POSITIVE).log10() } else { v }
    }

    fn from(self, v: f64) -> f64 {
        if self.log { 10f64.powf(v) } else { v }
    }

    /// The drawn range and the tick positions (in drawing space) for values from `low` to `high`.
    fn ticks(self, low: f64, high: f64, from_zero: bool) -> (f64, f64, Vec<f64>) {
        if self.log {
            let (a, b) = (low.log10(), high.log10());
            let pad = ((b - a) * 0.06).max(0.05);
            let (a, b) = (a - pad, b + pad);
            let mut ticks: Vec<f64> = (a.ceil() as i32..=b.floor() as i32).map(f64::from).collect();
            for multiples in [&[1.0, 2.0, 5.0][..], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]] {
                if ticks.len() < 3 {
                    ticks = (a.floor() as i32..=b.ceil() as i32)
                        .flat_map(|k| multiples.iter().map(move |m| (m * 10f64.powi(k)).log10()))
                        .filter(|t| *t >= a && *t <= b)
                        .collect();
                }
            }
            return (a, b, ticks);
        }
        let (mut a, mut b) = (if from_zero { low.min(0.0) } else { low }, high);
        if b <= a {
            b = a + 1.0;
        }
        let step = nice((b - a) / 5.0);
        b += (b - a) * 0.06;
        if !from_zero {
            a -= (b - a) * 0.06;
        }
        let first = (a / step).ceil() as i64;
        let last = ((b + step * 1e-9) / step).floor() as i64;
        let ticks = (first..=last).map(|i| i as f64 * step).collect();
        (a, b, ticks)
    }
}

/// A linear axis with the ticks chosen here rather than by plotters.
#[derive(Debug, Clone)]
struct Ticked {
    range: Range<f64>,
    ticks: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let fraction = (value - self.range.start) / (self.range.end - self.range.start);
        limit.0 + (fraction * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() { Vec::new() } else { self.ticks.clone() }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice(raw: f64) -> f64 {
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * power).find(|s| *s >= raw * 0.999).unwrap_or(10.0 * power)
}

fn draw_panel(area: &Area<'_>, figure: &Figure, panel: &Panel) -> Drawn {
    let categorical = !figure.x.categories.is_empty();
    let (xs, ys) = (Scale { log: figure.x.log }, Scale { log: panel.log_y });
    let points = || panel.series.iter().flat_map(|s| &s.points);
    let mut low = points().map(|p| p.low.min(p.y)).fold(f64::INFINITY, f64::min);
    let mut high = points().map(|p| p.high.max(p.y)).fold(f64::NEG_INFINITY, f64::max);
    for rule in &figure.rules {
        low = low.min(rule.y);
        high = high.max(rule.y);
    }
    if !low.is_finite() || !high.is_finite() {
        (low, high) = (0.0, 1.0);
    }
    let (y0, y1, y_ticks) = ys.ticks(low, high, true);
    let (x0, x1, x_ticks) = if categorical {
        let n = figure.x.categories.len();
        (-0.5, n as f64 - 0.5, (0..n).map(|i| i as f64).collect())
    } else {
        let mut values: Vec<f64> = points().map(|p| xs.to(p.x)).collect();
        values.sort_by(f64::total_cmp);
        values.dedup();
        let (a, b) = (values.first().copied().unwrap_or(0.0), values.last().copied().unwrap_or(1.0));
        let pad = if b > a { (b - a) * 0.07 } else { 0.5 };
        if values.len() <= 10 {
            // A tick at every value, unless its label would touch the one before.
            let per_unit = f64::from(area.dim_in_pixel().0.saturating_sub(92)) / (b - a + 2.0 * pad);
            let mut kept: Vec<f64> = Vec::new();
            for v in values {
                let half = |t: f64| text_width(&tick(xs.from(t)), LABEL_PX) / 2.0;
                if kept.last().is_none_or(|&last| (v - last) * per_unit >= half(last) + half(v) + 6.0) {
                    kept.push(v);
                }
            }
            (a - pad, b + pad, kept)
        } else {
            let (_, _, ticks) = Scale { log: false }.ticks(a, b, false);
            (a - pad, b + pad, ticks)
        }
    };
    let mut builder = ChartBuilder::on(area);
    builder.margin(10).margin_right(18).x_label_area_size(48).y_label_area_size(64);
    if !panel.label.is_empty() {
        // Bold text runs wider than the estimate: allow 0.65 em a character.
        let most = (f64::from(area.dim_in_pixel().0.saturating_sub(30)) / (13.0 * 0.65)) as usize;
        builder.caption(shorten(&panel.label, most), font(13.0).style(FontStyle::Bold).color(&TEXT));
    }
    let mut chart = builder
        .build_cartesian_2d(Ticked { range: x0..x1, ticks: x_ticks }, Ticked { range: y0..y1, ticks: y_ticks })?;
    let slot_px = f64::from(area.dim_in_pixel().0.saturating_sub(90)) / figure.x.categories.len().max(1) as f64;
    let most = ((slot_px / (LABEL_PX * 0.57)) as usize).max(4);
    let x_format = |v: &f64| {
        if categorical {
            let i = v.round() as usize;
            figure.x.categories.get(i).map(|c| shorten(c, most)).unwrap_or_default()
        } else {
            tick(xs.from(*v))
        }
    };
    let y_format = |v: &f64| tick(ys.from(*v));
    let mut mesh = chart.configure_mesh();
    mesh.bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .axis_style(AXIS)
        .x_desc(&figure.x.label)
        .y_desc(&figure.y.label)
        .x_label_formatter(&x_format)
        .y_label_formatter(&y_format)
        .label_style(font(LABEL_PX).color(&TEXT))
        .axis_desc_style(font(13.0).color(&TEXT));
    if categorical {
        mesh.disable_x_mesh();
    }
    mesh.draw()?;

    let (xspan, _) = (x1 - x0, y1 - y0);
    let count = panel.series.len();
    // Bars: the series that have a bar at a category stand side by side, centred on it; every bar of the
    // panel has the width of one in the fullest category.
    // The series with a point at each x, found once (x to the nanounit, as points at one category are).
    let nanounits = |x: f64| (x * 1e9).round() as i64;
    let mut series_at: std::collections::HashMap<i64, Vec<usize>> = std::collections::HashMap::new();
    for (k, series) in panel.series.iter().enumerate() {
        for p in &series.points {
            let here = series_at.entry(nanounits(p.x)).or_default();
            if here.last() != Some(&k) {
                here.push(k);
            }
        }
    }
    let at = |x: f64| -> &[usize] { series_at.get(&nanounits(x)).map_or(&[], Vec::as_slice) };
    let fullest = series_at.values().map(Vec::len).max().unwrap_or(1).max(1);
    let per_unit = f64::from(area.dim_in_pixel().0.saturating_sub(90)) / (x1 - x0);
    // At most 48 pixels wide: a few wide bars read as a wall.
    let slot = (0.8 / fullest as f64).min(56.0 / per_unit);
    for (j, series) in panel.series.iter().enumerate() {
        let c = color(series.color);
        let place = |x: f64| match figure.kind {
            Kind::Bar => {
                let here = at(x);
                let k = here.iter().position(|&i| i == j).unwrap_or(0);
                x + (k as f64 - (here.len() - 1) as f64 / 2.0) * slot
            }
            // Side by side, so that equal points and their intervals stay visible.
            Kind::Line if count > 1 => {
                let step = if categorical { 0.08 } else { xspan * 0.008 };
                xs.to(x) + (j as f64 - (count - 1) as f64 / 2.0) * step
            }
            Kind::Line => xs.to(x),
        };
        let cap = if figure.kind == Kind::Bar { slot * 0.15 } else { xspan * 0.006 };
        if figure.kind == Kind::Bar {
            let half = slot / 2.0 * 0.86;
            let base = if ys.log { y0 } else { 0.0_f64.clamp(y0, y1) };
            for p in &series.points {
                let x = place(p.x);
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x - half, base), (x + half, ys.to(p.y))],
                    c.mix(0.9).filled(),
                )))?;
            }
        } else if series.points.len() > 1 {
            let line: Vec<(f64, f64)> = series.points.iter().map(|p| (place(p.x), ys.to(p.y))).collect();
            chart.draw_series(std::iter::once(PathElement::new(line, c.stroke_width(2))))?;
        }
        let whisker = if figure.kind == Kind::Bar { RULE } else { c };
        for p in &series.points {
            let x = place(p.x);
            if p.high > p.low {
                let (lo, hi) = (ys.to(p.low), ys.to(p.high));
                chart.draw_series([
                    PathElement::new(vec![(x, lo), (x, hi)], whisker.stroke_width(1)),
                    PathElement::new(vec![(x - cap, lo), (x + cap, lo)], whisker.stroke_width(1)),
                    PathElement::new(vec![(x - cap, hi), (x + cap, hi)], whisker.stroke_width(1)),
                ])?;
            }
            if figure.kind == Kind::Line {
                chart.draw_series(std::iter::once(Circle::new((x, ys.to(p.y)), 4, c.filled())))?;
            }
        }
    }
    for mark in &panel.marks {
        let x = xs.to(mark.x);
        chart.draw_series(std::iter::once(DashedPathElement::new(
            vec![(x, y0), (x, y1)],
            5,
            3,
            MARK.stroke_width(2),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            mark.label.clone(),
            // A little right of its line.
            (x + (x1 - x0) * 0.006, y1),
            font(LABEL_PX).color(&MARK).pos(Pos::new(HPos::Left, VPos::Top)),
        )))?;
    }
    for rule in &figure.rules {
        let y = ys.to(rule.y);
        chart.draw_series(std::iter::once(DashedPathElement::new(
            vec![(x0, y), (x1, y)],
            6,
            4,
            RULE.stroke_width(1),
        )))?;
    }
    Ok(())
}

/// `text` cut to `most` characters, with an ellipsis when cut.
fn shorten(text: &str, most: usize) -> String {
    if text.chars().count() <= most {
        text.to_owned()
    } else {
        let kept: String = text.chars().take(most.saturating_sub(1)).collect();
        format!("{kept}…")
    }
}

/// Greedy word wrap to lines of at most `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Text for XML content and attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_are_decades_or_one_two_five() {
        let (_, _, ticks) = Scale { log: true }.ticks(0.002, 30.0, true);
        assert_eq!(ticks, vec![-2.0, -1.0, 0.0, 1.0]);
        let (_, _, ticks) = Scale { log: true }.ticks(3.0, 30.0, true);
        let values: Vec<String> = ticks.iter().map(|t| tick(10f64.powf(*t))).collect();
        assert_eq!(values, ["5", "10", "20"]);
    }

    #[test]
    fn linear_ticks_start_at_zero() {
        let (low, _, ticks) = Scale { log: false }.ticks(3.0, 9.0, true);
        assert!(low.abs() < 1e-12);
        assert_eq!(ticks, vec![0.0, 2.0, 4.0, 6.0, 8.0]);
    }

    #[test]
    fn long_text_wraps_and_shortens() {
        assert_eq!(wrap("a bb ccc dddd", 6), ["a bb", "ccc", "dddd"]);
        assert_eq!(shorten("multiprocess", 6), "multi…");
    }

    #[test]
    fn escaped() {
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
