//! How a comparison reads: a table for the terminal and `compare.md`, with units as the reports give them,
//! and, for a paired comparison, what was found in words.

use std::fmt::Write as _;

use super::{Change, Comparison, Dimension, Mode, Reason, Verdict};
use crate::fmt::{percent, signed_percent};

/// A value of `metric` of the change `c` (its own, or the one it is judged by) with its unit, as the
/// reports show it: "12.3 ms", "1.11 MiB", "24.3k tasks/s".
fn quantity(c: &Change, metric: &str, value: f64) -> String {
    let dimension = if metric == c.metric { c.dimension } else { crate::metrics::get(metric).map(|m| m.dimension) };
    crate::fmt::quantity(dimension.unwrap_or(Dimension::Count), value, (value, value))
}

fn change_text(c: &Change) -> String {
    match (c.change, c.change_ci) {
        (Some(change), Some((low, high))) if low.is_finite() || high.is_finite() => {
            format!("{} [{}, {}]", signed_percent(change), signed_percent(low), signed_percent(high))
        }
        (Some(change), _) => signed_percent(change),
        _ => "n/a".to_owned(),
    }
}

fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Regressed => "REGRESSED",
        Verdict::Inconclusive => "inconclusive",
        Verdict::Improved => "improved",
        Verdict::Unchanged => "unchanged",
    }
}

/// The smallest change the bad way the comparison could have detected, or why there is none.
fn detectable_text(c: &Change) -> String {
    match c.detectable {
        Some(d) if d.is_finite() => signed_percent(d),
        _ if c.change.is_none() => "n/a".to_owned(),
        _ => "none".to_owned(),
    }
}

/// What a side is called: runs, or rounds when paired.
fn runs_word(c: &Change) -> &'static str {
    if c.baseline_cell.is_some() { "rounds" } else { "runs" }
}

/// Why the verdict is what it is, in a few words: which limit the interval passed or did not.
fn reason_text(c: &Change) -> String {
    let decider = c.judged_by.as_deref().unwrap_or(&c.metric);
    // The bound on the side the estimate moved to, in the decider's terms (run_s up is throughput down).
    let moved_up = match (c.change, c.judged_by.is_some()) {
        (Some(change), false) => change >= 0.0,
        (Some(change), true) => change <= 0.0,
        (None, _) => true,
    };
    let bound =
        if moved_up { format!("+{}", percent(c.limit.increase)) } else { format!("-{}", percent(c.limit.decrease)) };
    let confidence = crate::fmt::tick(c.confidence * 100.0);
    let mut why = match c.reason {
        Reason::Beyond => format!("CI beyond {bound}"),
        Reason::Within if c.change.is_none() => "no change".to_owned(),
        // A limit of 100% or more the good way cannot be passed: only the bad way's says something.
        Reason::Within if c.limit.decrease >= 1.0 => format!("CI under +{}", percent(c.limit.increase)),
        Reason::Within => {
            format!("CI within -{} and +{}", percent(c.limit.decrease), percent(c.limit.increase))
        }
        Reason::Straddles => {
            let edge = crossed_edges(c).unwrap_or(bound);
            match c.needed {
                Some(n) => format!("CI straddles {edge}: about {n} {} would decide", runs_word(c)),
                None => format!("CI straddles {edge}"),
            }
        }
        Reason::TooFewRuns => format!("too few {} for a {confidence}% interval", runs_word(c)),
        Reason::NotSignificant => format!("CI beyond {bound}, but not significant (p {:.3})", c.p_value),
        Reason::FromZero if c.verdict == Verdict::Inconclusive => {
            format!("from zero: not significant, or within {}", quantity(c, decider, c.floor))
        }
        Reason::FromZero => format!("from zero to {}", quantity(c, decider, c.current_median)),
        Reason::FastestWithin => format!(
            "fastest run {} is within {bound}: some runs slowed",
            c.fastest_change.map_or_else(String::new, signed_percent)
        ),
        Reason::MachineSpeed => format!(
            "{} relative to the speed anchor, which moved {} (p {:.3}): the machine's speed changed",
            c.anchored_change.map_or_else(String::new, signed_percent),
            c.anchors.map_or_else(String::new, |a| signed_percent(a.change)),
            c.anchors.map_or(1.0, |a| a.p_value),
        ),
    };
    if c.reason != Reason::MachineSpeed && c.verdict != Verdict::Unchanged {
        if let Some(anchors) = c.anchors {
            let _ = write!(why, "; anchors {} (p {:.3})", signed_percent(anchors.change), anchors.p_value);
        }
    }
    if let Some(share) = c.cpu_bound {
        let _ = write!(why, "; CPU-bound {}", percent(share));
    }
    match &c.judged_by {
        Some(by) => format!("as {by}: {why}"),
        None => why,
    }
}

/// The edges of the limit the interval reaches across, in the decider's terms: "+5%", "-5%", or both.
fn crossed_edges(c: &Change) -> Option<String> {
    let (mut low, mut high) = c.change_ci?;
    if c.judged_by.is_some() {
        // Throughput's interval in `run_s`'s terms: t = 1 / (1 + r) - 1 turns over.
        (low, high) = (1.0 / (1.0 + high) - 1.0, 1.0 / (1.0 + low) - 1.0);
    }
    let (up, down) = (c.limit.increase, -c.limit.decrease);
    let edges: Vec<String> = [(up, format!("+{}", percent(up))), (down, format!("-{}", percent(-down)))]
        .into_iter()
        .filter(|(edge, _)| low < *edge && *edge < high)
        .map(|(_, text)| text)
        .collect();
    (!edges.is_empty()).then(|| edges.join(" and "))
}

fn summary_line(c: &Comparison) -> String {
    let failed = match c.failed_in_current.len() {
        0 => String::new(),
        n => format!("; {n} cells with no ok run in the current result"),
    };
    let count = |v: Verdict| c.changes.iter().filter(|x| x.verdict == v).count();
    let (what, rounds) = match (&c.mode, c.rounds) {
        (Mode::Paired { .. }, Some(rounds)) if c.matched == 1 => ("pair", format!(" after {rounds} rounds")),
        (Mode::Paired { .. }, Some(rounds)) => ("pairs", format!(" after {rounds} rounds")),
        _ => ("matching cells", String::new()),
    };
    format!(
        "{} regressed, {} improved, {} unchanged, {} inconclusive in {} {what}{rounds}{failed}",
        count(Verdict::Regressed),
        count(Verdict::Improved),
        count(Verdict::Unchanged),
        count(Verdict::Inconclusive),
        c.matched
    )
}

/// What the paired comparison found, in words: every change of a time, and every other change not shown
/// to be unchanged.
fn sentences(c: &Comparison) -> Vec<String> {
    let Mode::Paired { axis, baseline, pair_by } = &c.mode else { return Vec::new() };
    c.changes
        .iter()
        .filter(|x| x.judged_by.is_none() && (x.metric == "run_s" || x.verdict != Verdict::Unchanged))
        .filter_map(|x| {
            let sentence = super::paired::sentence(x, axis, baseline)?;
            // The pair: the cell's values of the axes that pair cells.
            let group: Vec<&str> = x
                .cell
                .split(' ')
                .filter(|p| p.split_once('=').is_some_and(|(k, _)| pair_by.iter().any(|a| a == k)))
                .collect();
            Some(format!("{} {}: {sentence}", group.join(" "), x.metric).trim_start().to_owned())
        })
        .collect()
}

/// What a reader should know about inconclusive changes.
fn inconclusive_note(c: &Comparison) -> Option<String> {
    let n = c.inconclusive();
    (n > 0).then(|| {
        let effect = if c.inconclusive_fails {
            "they fail the gate (`[ci] inconclusive = \"fail\"`)"
        } else {
            "they do not fail the gate (`[ci] inconclusive = \"pass\"`, the default)"
        };
        let why = if c.changes.iter().all(|x| x.verdict != Verdict::Inconclusive || x.reason == Reason::TooFewRuns) {
            "the runs were too few for an interval"
        } else {
            "the interval reaches both within and beyond the limit"
        };
        let way = if c.ranged {
            "a larger `max` of repetitions (`why` says about how many), or a wider threshold, would decide more"
        } else {
            "more repetitions (`why` says about how many), or a range `repetitions = { min = 6, max = 60 }` that \
             runs until they are decided, would decide more"
        };
        format!("{n} inconclusive: {why}, so this comparison could not tell; {effect}; {way}")
    })
}

const HEADER: [&str; 9] = ["cell", "metric", "baseline", "current", "change [CI]", "p", "detectable", "verdict", "why"];

fn row(change: &Change) -> [String; 9] {
    [
        change.cell.clone(),
        change.metric.clone(),
        quantity(change, &change.metric, change.baseline_median),
        quantity(change, &change.metric, change.current_median),
        change_text(change),
        format!("{:.3}", change.p_value),
        detectable_text(change),
        verdict_text(change.verdict).to_owned(),
        reason_text(change),
    ]
}

/// The confidence of the intervals: one level, or the range of the looks the cells stopped at.
fn confidence_note(c: &Comparison) -> Option<String> {
    if c.changes.is_empty() {
        return None;
    }
    let low = c.changes.iter().map(|x| x.confidence).fold(f64::INFINITY, f64::min);
    let high = c.changes.iter().map(|x| x.confidence).fold(f64::NEG_INFINITY, f64::max);
    let level = |x: f64| crate::fmt::tick(x * 100.0);
    let intervals = if (high - low).abs() < 1e-12 && (low - 0.95).abs() < 1e-12 {
        "intervals at 95% confidence".to_owned()
    } else if (high - low).abs() < 1e-12 {
        format!("intervals at {}% confidence (a range of repetitions spends 5% over its looks)", level(low))
    } else {
        format!(
            "intervals at {}% to {}% confidence, each that of the look its cell stopped at (a range of \
             repetitions spends 5% over its looks)",
            level(low),
            level(high)
        )
    };
    Some(format!(
        "{intervals}; `detectable`: the smallest change the bad way this comparison would have caught 4 times in 5"
    ))
}

/// The rows of the percentiles over every task of each cell, with a header; none when no cell has them.
fn over_cell_rows(c: &Comparison) -> Vec<[String; 3]> {
    if c.over_cell.is_empty() {
        return Vec::new();
    }
    let d = |s: f64| crate::fmt::quantity(Dimension::Seconds, s, (s, s));
    let moved = |a: f64, b: f64| {
        let change = if a > 0.0 { signed_percent(b / a - 1.0) } else { "-".to_owned() };
        format!("{} -> {} ({change})", d(a), d(b))
    };
    let mut rows = vec![["cell".to_owned(), "p50 over the cell".to_owned(), "p99 over the cell".to_owned()]];
    rows.extend(c.over_cell.iter().map(|o| {
        let cell = if o.of == super::RESPONSE_TIME { format!("{} ({})", o.cell, o.of) } else { o.cell.clone() };
        [cell, moved(o.baseline_p50_s, o.current_p50_s), moved(o.baseline_p99_s, o.current_p99_s)]
    }));
    rows
}

/// The rows of the rates found by the searches of each cell, with a header; none when no cell searched.
fn rate_rows(c: &Comparison) -> Vec<[String; 3]> {
    if c.rates.is_empty() {
        return Vec::new();
    }
    let rate = |r: Option<f64>| r.map_or_else(|| "none".to_owned(), |r| format!("{}/s", crate::fmt::number(r)));
    let side = |found: Option<f64>, failed: Option<f64>| match failed {
        Some(_) => format!("{} (failed at {})", rate(found), rate(failed)),
        None => format!("{} (the highest probed)", rate(found)),
    };
    let mut rows = vec![["cell".to_owned(), "baseline".to_owned(), "current".to_owned()]];
    rows.extend(c.rates.iter().map(|r| {
        let change = match (r.baseline_found_per_s, r.current_found_per_s) {
            (Some(a), Some(b)) if a > 0.0 => format!(" ({})", signed_percent(b / a - 1.0)),
            _ => String::new(),
        };
        [
            r.cell.clone(),
            side(r.baseline_found_per_s, r.baseline_failed_per_s),
            format!("{}{change}", side(r.current_found_per_s, r.current_failed_per_s)),
        ]
    }));
    rows
}

/// What the rates found are, under their table.
const RATE_NOTE: &str = "Highest rate within the objective (higher is better), found by one search per side: the \
    rate found and the lowest rate that failed. One bracket per side is no sample of runs to test, so shown and not \
    judged; the verdicts above judge the runs at the rate found.";

/// What the percentiles over the cell are, under their table.
const OVER_CELL_NOTE: &str = "Latency over every task of the cell (each side's runs' histograms merged): one number \
    per side, without an interval, so shown and not judged; each run's percentiles (`latency_p99_s`) are judged where `[ci] metrics` names them.";

/// The comparison as a plain-text table for a terminal (its warnings are for standard error).
pub(crate) fn table(c: &Comparison) -> String {
    let mut rows = vec![HEADER.map(str::to_owned).to_vec()];
    rows.extend(c.changes.iter().map(|change| row(change).to_vec()));
    let mut out = crate::fmt::table(&rows);
    let _ = writeln!(out, "\n{}", summary_line(c));
    if let Some(note) = confidence_note(c) {
        let _ = writeln!(out, "{note}");
    }
    for sentence in sentences(c) {
        let _ = writeln!(out, "  {sentence}");
    }
    if let Some(note) = inconclusive_note(c) {
        let _ = writeln!(out, "{note}");
    }
    for (side, cells) in [("baseline", &c.only_in_baseline), ("current", &c.only_in_current)] {
        for cell in cells {
            let _ = writeln!(out, "only in the {side}: {cell}");
        }
    }
    for cell in &c.failed_in_current {
        let _ = writeln!(out, "REGRESSED: every current run failed: {cell}");
    }
    for (note, rows) in [(OVER_CELL_NOTE, over_cell_rows(c)), (RATE_NOTE, rate_rows(c))] {
        if !rows.is_empty() {
            let rows: Vec<Vec<String>> = rows.into_iter().map(|r| r.to_vec()).collect();
            let _ = write!(out, "\n{note}\n{}", crate::fmt::table(&rows));
        }
    }
    out
}

/// The comparison as Markdown, for a CI job summary.
pub(crate) fn markdown(c: &Comparison) -> String {
    let mut out = String::from("## Benchmark comparison\n\n");
    match &c.mode {
        Mode::Folders => {
            let _ = writeln!(
                out,
                "**{}** (baseline `{}`, current `{}`)\n",
                summary_line(c),
                c.baseline.display(),
                c.current.display()
            );
        }
        Mode::Paired { axis, baseline, .. } => {
            let _ = writeln!(
                out,
                "**{}** (paired: every value of `{axis}` against `{baseline}`, in `{}`)\n",
                summary_line(c),
                c.current.display()
            );
        }
    }
    for warning in &c.warnings {
        let _ = writeln!(out, "> **Warning:** {}\n", crate::fmt::markdown_message(warning));
    }
    let found = sentences(c);
    if !found.is_empty() {
        for sentence in found {
            let _ = writeln!(out, "- {}", crate::fmt::markdown_message(&sentence));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "| {} |", HEADER.join(" | "));
    out.push_str("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |\n");
    for change in &c.changes {
        let mut cells = row(change);
        cells[0] = crate::fmt::markdown(&cells[0]);
        cells[1] = format!("`{}`", cells[1]);
        let verdict = match change.verdict {
            Verdict::Regressed => "**regressed**",
            Verdict::Inconclusive => "*inconclusive*",
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
        };
        cells[7] = verdict.into();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    if let Some(note) = confidence_note(c) {
        let _ = writeln!(out, "\n{note}.");
    }
    if let Some(note) = inconclusive_note(c) {
        let _ = writeln!(out, "\n{note}.");
    }
    if !c.failed_in_current.is_empty() {
        out.push_str("\n**Every current run failed** (a regression):\n\n");
        for cell in &c.failed_in_current {
            let _ = writeln!(out, "- {}", crate::fmt::markdown(cell));
        }
    }
    for (side, cells) in [("baseline", &c.only_in_baseline), ("current", &c.only_in_current)] {
        if !cells.is_empty() {
            let _ = writeln!(out, "\nOnly in the {side}:\n");
            for cell in cells {
                let _ = writeln!(out, "- {}", crate::fmt::markdown(cell));
            }
        }
    }
    for (note, table) in [(OVER_CELL_NOTE, over_cell_rows(c)), (RATE_NOTE, rate_rows(c))] {
        if let Some((header, rows)) = table.split_first() {
            let _ = writeln!(out, "\n{note}\n\n| {} |\n| --- | ---: | ---: |", header.join(" | "));
            for row in rows {
                let _ = writeln!(out, "| {} | {} | {} |", crate::fmt::markdown(&row[0]), row[1], row[2]);
            }
        }
    }
    out
}
