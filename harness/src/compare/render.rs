//! How a comparison reads: a table for the terminal and `compare.md`, with units as the reports give them.

use std::fmt::Write as _;

use super::{Change, Comparison, Reason, Verdict};

/// A value of `metric` with its unit, as the reports show it: "12.3 ms", "1.11 MiB", "24.3k tasks/s".
pub(crate) fn quantity(metric: &str, value: f64) -> String {
    crate::report::quantity(metric, crate::report::Estimate { value, low: value, high: value, n: 0 })
}

/// "10%", "22.2%": a fraction as a percentage, three significant digits at most.
pub(super) fn plain_percent(x: f64) -> String {
    format!("{}%", crate::report::figure::tick(x * 100.0))
}

fn percent(x: f64) -> String {
    format!("{:+.1}%", x * 100.0)
}

fn change_text(c: &Change) -> String {
    match (c.change, c.change_ci) {
        (Some(change), Some((low, high))) if low.is_finite() => {
            format!("{} [{}, {}]", percent(change), percent(low), percent(high))
        }
        (Some(change), _) => percent(change),
        _ => "n/a".to_owned(),
    }
}

fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Regressed => "REGRESSED",
        Verdict::Improved => "improved",
        Verdict::Unchanged => "unchanged",
    }
}

/// Why the verdict is what it is, in a few words: which limit the interval passed or did not.
fn reason_text(c: &Change) -> String {
    let decider = c.judged_by.as_deref().unwrap_or(&c.metric);
    // The bound on the side the median moved to, in the decider's terms (run_s up is throughput down).
    let moved_up = match (c.change, c.judged_by.is_some()) {
        (Some(change), false) => change >= 0.0,
        (Some(change), true) => change <= 0.0,
        (None, _) => true,
    };
    let bound = if moved_up {
        format!("+{}", plain_percent(c.limit.increase))
    } else {
        format!("-{}", plain_percent(c.limit.decrease))
    };
    let why = match c.reason {
        Reason::Beyond => format!("CI beyond {bound}"),
        Reason::NotSignificant => "not significant".to_owned(),
        Reason::WithinThreshold => format!("CI not wholly beyond {bound}"),
        Reason::UnderFloor => format!("may be under {}", quantity(decider, c.floor)),
        Reason::NoBaseline => "baseline is zero".to_owned(),
        Reason::FastestWithin => format!(
            "fastest run {} is within {bound}: some runs slowed",
            c.fastest_change.map_or_else(String::new, percent)
        ),
        Reason::MachineSpeed => format!(
            "{} relative to the speed anchor: the machine's speed changed",
            c.anchored_change.map_or_else(String::new, percent)
        ),
    };
    match &c.judged_by {
        Some(by) => format!("as {by}: {why}"),
        None => why,
    }
}

fn summary_line(c: &Comparison) -> String {
    let regressed = c.changes.iter().filter(|x| x.verdict == Verdict::Regressed).count();
    let unchanged = c.changes.len() - regressed - c.improvements();
    let failed = match c.failed_in_current.len() {
        0 => String::new(),
        n => format!("; {n} cells with no ok run in the current result"),
    };
    format!(
        "{regressed} regressed, {} improved, {unchanged} unchanged in {} matching cells{failed}",
        c.improvements(),
        c.matched
    )
}

const HEADER: [&str; 8] = ["cell", "metric", "baseline", "current", "change [95% CI]", "p", "verdict", "why"];

fn row(change: &Change) -> [String; 8] {
    [
        change.cell.clone(),
        change.metric.clone(),
        quantity(&change.metric, change.baseline_median),
        quantity(&change.metric, change.current_median),
        change_text(change),
        format!("{:.3}", change.p_value),
        verdict_text(change.verdict).to_owned(),
        reason_text(change),
    ]
}

/// The comparison as a plain-text table for a terminal (its warnings are for standard error).
pub(crate) fn table(c: &Comparison) -> String {
    let mut rows = vec![HEADER.map(str::to_owned).to_vec()];
    rows.extend(c.changes.iter().map(|change| row(change).to_vec()));
    let mut out = crate::fmt::table(&rows);
    let _ = writeln!(out, "\n{}", summary_line(c));
    for (side, cells) in [("baseline", &c.only_in_baseline), ("current", &c.only_in_current)] {
        for cell in cells {
            let _ = writeln!(out, "only in the {side}: {cell}");
        }
    }
    for cell in &c.failed_in_current {
        let _ = writeln!(out, "REGRESSED: every current run failed: {cell}");
    }
    out
}

/// The comparison as Markdown, for a CI job summary.
pub(crate) fn markdown(c: &Comparison) -> String {
    let mut out = String::from("## Benchmark comparison\n\n");
    let _ = writeln!(
        out,
        "**{}** (baseline `{}`, current `{}`)\n",
        summary_line(c),
        c.baseline.display(),
        c.current.display()
    );
    for warning in &c.warnings {
        let _ = writeln!(out, "> **Warning:** {warning}\n");
    }
    let _ = writeln!(out, "| {} |", HEADER.join(" | "));
    out.push_str("| --- | --- | ---: | ---: | ---: | ---: | --- | --- |\n");
    for change in &c.changes {
        let mut cells = row(change);
        cells[0] = cells[0].replace('|', "\\|");
        cells[1] = format!("`{}`", cells[1]);
        let verdict = match change.verdict {
            Verdict::Regressed => "**regressed**",
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
        };
        cells[6] = verdict.into();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    if !c.failed_in_current.is_empty() {
        out.push_str("\n**Every current run failed** (a regression):\n\n");
        for cell in &c.failed_in_current {
            let _ = writeln!(out, "- {cell}");
        }
    }
    for (side, cells) in [("baseline", &c.only_in_baseline), ("current", &c.only_in_current)] {
        if !cells.is_empty() {
            let _ = writeln!(out, "\nOnly in the {side}:\n");
            for cell in cells {
                let _ = writeln!(out, "- {cell}");
            }
        }
    }
    out
}
