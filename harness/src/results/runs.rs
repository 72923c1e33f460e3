//! Reading `runs.csv` back: one reader, typed rows, columns found by name.
//!
//! A row is what the harness wrote for one measured run: the axis values (the columns before `cell`), the
//! cell's number and the repetition (both 1-based as written), the status, and the metrics of
//! [`crate::metrics::COLUMNS`]. The last row of an interrupted run may be cut short (fewer fields, or no
//! line break at its end, which is what `kill -9` during an append leaves): it is skipped, and
//! [`Runs::cut_warning`] says so.

use std::io;
use std::path::{Path, PathBuf};

use crate::metrics;

/// The rows of a `runs.csv`.
#[derive(Debug, Clone)]
pub(crate) struct Runs {
    /// Where it was read from, to name it in errors.
    pub path: PathBuf,
    pub header: csv::StringRecord,
    /// The axis columns: those before `cell`.
    pub axes: Vec<String>,
    /// The custom metrics: the columns after `status` that are neither the harness's metrics, nor a service's, nor `error`.
    pub custom: std::sync::Arc<[String]>,
    pub rows: Vec<Row>,
    /// The line of a last row cut short, which was skipped.
    pub cut: Option<u64>,
}

/// One measured run.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    /// The row as written, for copying it whole.
    pub record: csv::StringRecord,
    /// The values of the axis columns.
    pub axes: Vec<String>,
    /// The cell's number, from 1; `None` when not a number.
    pub cell: Option<u64>,
    /// The repetition, from 1; `None` when not a number.
    pub repetition: Option<u64>,
    pub status: String,
    /// The value of each of [`metrics::COLUMNS`]; `None` when blank, not a number or not a column of the file.
    metrics: Vec<Option<f64>>,
    /// The names of the file's custom metrics, and the value of each.
    custom_names: std::sync::Arc<[String]>,
    custom: Vec<Option<f64>>,
    /// The experiment's services' metric columns (see [`metrics::is_member`]) and their values.
    pub extra: Vec<(std::sync::Arc<str>, Option<f64>)>,
}

impl Row {
    /// Whether the run ended ok: only those are measured.
    pub(crate) fn ok(&self) -> bool {
        self.status == "ok"
    }

    /// The values of the file's custom metrics, in the order of [`Runs::custom`].
    pub(crate) fn custom_values(&self) -> &[Option<f64>] {
        &self.custom
    }

    /// The value of the metric column `name`.
    pub(crate) fn metric(&self, name: &str) -> Option<f64> {
        match metrics::COLUMNS.iter().position(|m| *m == name) {
            Some(i) => self.metrics[i],
            None => match self.custom_names.iter().position(|m| m == name) {
                Some(i) => self.custom[i],
                None => self.extra.iter().find(|(n, _)| **n == *name).and_then(|(_, v)| *v),
            },
        }
    }

    /// For a probe of a rate search: its rate and verdict; `probe` is the place of the `probe` column
    /// ([`Runs::position`]).
    pub(crate) fn probe(&self, probe: Option<usize>) -> Option<crate::search::Probe> {
        let verdict = crate::search::Verdict::parse(self.record.get(probe?)?)?;
        Some(crate::search::Probe { rate: self.metric(metrics::OFFERED)?, verdict })
    }

    /// The cell as its axis values say, `axis=value` for each non-empty one: how cells of two result folders
    /// are matched.
    pub(crate) fn label(&self, axes: &[String]) -> String {
        axes.iter()
            .zip(&self.axes)
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

impl Runs {
    /// Reads the `runs.csv` at `path`.
    pub(crate) fn read(path: &Path) -> io::Result<Self> {
        Self::parse(&super::open::read_regular(path, super::open::MAX_RUNS_BYTES)?, path)
    }

    /// Parses the text of a `runs.csv`; `path` names it in errors.
    pub(crate) fn parse(text: &[u8], path: &Path) -> io::Result<Self> {
        // Flexible, so that a row cut short is seen here rather than as a CSV error.
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text);
        let header = reader.headers()?.clone();
        let column = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| invalid(format!("{} has no `{name}` column", path.display())))
        };
        let (cell, repetition, status) = (column("cell")?, column("repetition")?, column("status")?);
        let axes: Vec<String> = header.iter().take(cell).map(str::to_owned).collect();
        let metric_columns: Vec<Option<usize>> =
            metrics::COLUMNS.iter().map(|m| header.iter().position(|h| h == *m)).collect();
        // Custom metrics: the columns after `status` that are neither the catalog's, nor a service's, nor
        // `error`.
        let custom_columns: Vec<usize> = (status + 1..header.len())
            .filter(|&i| {
                !metrics::COLUMNS.contains(&&header[i])
                    && !metrics::is_member(&header[i])
                    && &header[i] != metrics::ERROR
            })
            .collect();
        let custom: std::sync::Arc<[String]> = custom_columns.iter().map(|&i| header[i].to_owned()).collect();
        let extra: Vec<(std::sync::Arc<str>, usize)> = header
            .iter()
            .enumerate()
            .filter(|(_, h)| metrics::is_member(h))
            .map(|(i, h)| (std::sync::Arc::from(h), i))
            .collect();
        let records = reader.records().collect::<Result<Vec<_>, _>>()?;
        let mut rows = Vec::with_capacity(records.len());
        let mut cut = None;
        // Every row the harness writes ends with a line break: a last row without one was cut short, even
        // when the cut left it all its fields (a number cut short is still a number).
        let unterminated = !text.is_empty() && !text.ends_with(b"\n") && !records.is_empty();
        for (i, record) in records.iter().enumerate() {
            let last = i + 1 == records.len();
            if last && (unterminated || record.len() < header.len()) {
                // The run was interrupted while its row was written.
                cut = Some(record.position().map_or(0, csv::Position::line));
                break;
            }
            if record.len() != header.len() {
                let line = record.position().map_or(0, csv::Position::line);
                return Err(invalid(format!(
                    "{} line {line} has {} fields, not the {} of its header",
                    path.display(),
                    record.len(),
                    header.len()
                )));
            }
            let field = |i: usize| record.get(i).unwrap_or_default();
            // The harness writes finite numbers only: NaN or infinity is a damaged file, never a measure.
            for (name, column) in metrics::COLUMNS.iter().zip(&metric_columns) {
                // A label is text, whatever it looks like: the checksum `9e55848835976246` reads as a float
                // too large to be finite.
                if metrics::get(name).is_some_and(|m| m.dimension == metrics::Dimension::Label) {
                    continue;
                }
                let text = column.map_or("", field);
                if text.parse::<f64>().is_ok_and(|x| !x.is_finite()) {
                    let line = record.position().map_or(0, csv::Position::line);
                    return Err(invalid(format!(
                        "{} line {line}: `{name}` is {text}, not a finite number",
                        path.display()
                    )));
                }
            }
            rows.push(Row {
                record: record.clone(),
                axes: (0..cell).map(|i| field(i).to_owned()).collect(),
                cell: field(cell).parse().ok(),
                repetition: field(repetition).parse().ok(),
                status: field(status).to_owned(),
                metrics: metric_columns.iter().map(|c| c.and_then(|c| field(c).parse().ok())).collect(),
                custom_names: std::sync::Arc::clone(&custom),
                custom: custom_columns.iter().map(|&c| field(c).parse().ok()).collect(),
                extra: extra.iter().map(|(name, c)| (std::sync::Arc::clone(name), field(*c).parse().ok())).collect(),
            });
        }
        Ok(Self { path: path.to_owned(), header, axes, custom, rows, cut })
    }

    /// What to say of a last row cut short, when there was one: it is left out.
    pub(crate) fn cut_warning(&self) -> Option<String> {
        let line = self.cut?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        Some(format!(
            "{} line {line} is a row cut short, as an interrupted run leaves it: it is left out; \
             `harness run FILE --resume {}` runs it again",
            self.path.display(),
            dir.display()
        ))
    }

    /// Checks that every one of `columns` is in the file.
    pub(crate) fn require<'a>(&self, columns: impl IntoIterator<Item = &'a str>) -> io::Result<()> {
        for name in columns {
            if !self.header.iter().any(|h| h == name) {
                return Err(invalid(format!("{} has no `{name}` column", self.path.display())));
            }
        }
        Ok(())
    }

    /// The position of column `name` in the header.
    pub(crate) fn position(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "executor,workers,cell,repetition,status,wall_s,run_s,throughput_per_s,error";

    fn parse(rows: &str) -> io::Result<Runs> {
        Runs::parse(format!("{HEADER}\n{rows}").as_bytes(), Path::new("r/runs.csv"))
    }

    #[test]
    fn rows_are_typed_and_columns_found_by_name() {
        let runs = parse("sync,1,1,1,ok,0.5,0.25,400.000,\nasync,,2,1,timeout,3.0,,,took too long\n").unwrap();
        assert_eq!(runs.axes, ["executor", "workers"]);
        assert_eq!(runs.rows.len(), 2);
        let (a, b) = (&runs.rows[0], &runs.rows[1]);
        assert_eq!((a.cell, a.repetition, a.ok()), (Some(1), Some(1), true));
        assert_eq!(a.metric("run_s"), Some(0.25));
        assert_eq!(a.metric("throughput_per_s"), Some(400.0));
        assert_eq!(a.metric("wall_s"), Some(0.5));
        // A column the file does not have, and a blank value, are both absent.
        assert_eq!(a.metric("latency_p99_s"), None);
        assert_eq!(b.metric("run_s"), None);
        assert!(!b.ok());
        assert_eq!(a.label(&runs.axes), "executor=sync workers=1");
        assert_eq!(b.label(&runs.axes), "executor=async");
        assert_eq!(&b.record[8], "took too long");
        assert!(runs.custom.is_empty());
    }

    #[test]
    fn custom_metrics_are_the_other_columns_after_status() {
        let text = "executor,cell,repetition,status,run_s,ratio,error\nsync,1,1,ok,0.5,2.25,\n";
        let runs = Runs::parse(text.as_bytes(), Path::new("runs.csv")).unwrap();
        assert_eq!(&*runs.custom, ["ratio".to_owned()]);
        assert_eq!(runs.rows[0].metric("ratio"), Some(2.25));
        assert_eq!(runs.rows[0].metric("run_s"), Some(0.5));
    }

    #[test]
    fn columns_may_come_in_any_order() {
        let text = "status,run_s,cell,x,repetition\nok,1.5,3,a,2\n";
        let runs = Runs::parse(text.as_bytes(), Path::new("runs.csv")).unwrap();
        // The axes are the columns before `cell`, whatever they are called.
        assert_eq!(runs.axes, ["status", "run_s"]);
        let row = &runs.rows[0];
        assert_eq!(
            (row.cell, row.repetition, row.status.as_str(), row.metric("run_s")),
            (Some(3), Some(2), "ok", Some(1.5))
        );
    }

    #[test]
    fn a_last_row_cut_short_is_skipped() {
        let runs = parse("sync,1,1,1,ok,0.5,0.25,400.000,\nsync,1,1,2,ok,0.5").unwrap();
        assert_eq!(runs.rows.len(), 1);
        assert_eq!(runs.rows[0].repetition, Some(1));
        assert_eq!(runs.cut, Some(3));
        assert!(runs.cut_warning().unwrap().contains("r/runs.csv line 3 is a row cut short"));
        assert!(runs.cut_warning().unwrap().contains("--resume r"));
    }

    #[test]
    fn a_last_row_without_its_line_break_is_cut_short_even_with_every_field() {
        let runs = parse("sync,1,1,1,ok,0.5,0.25,400.000,\nsync,1,1,2,ok,0.5,0.25,400.0,").unwrap();
        assert_eq!((runs.rows.len(), runs.cut), (1, Some(3)));
        let whole = parse("sync,1,1,1,ok,0.5,0.25,400.000,\n").unwrap();
        assert_eq!((whole.rows.len(), whole.cut), (1, None));
        assert_eq!(whole.cut_warning(), None);
    }

    #[test]
    fn a_row_cut_short_before_the_last_is_an_error() {
        let error = parse("sync,1,1,1,ok\nsync,1,1,2,ok,0.5,0.25,400.000,\n").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("r/runs.csv line 2 has 5 fields, not the 9 of its header"), "{error}");
    }

    #[test]
    fn a_value_that_is_not_finite_is_an_error() {
        for bad in ["NaN", "inf", "-inf", "infinity"] {
            let error = parse(&format!("sync,1,1,1,ok,0.5,{bad},400.000,\n")).unwrap_err();
            assert!(error.to_string().contains(&format!("line 2: `run_s` is {bad}, not a finite number")), "{error}");
        }
    }

    #[test]
    fn a_checksum_that_reads_as_a_huge_number_is_a_label() {
        let text = "executor,cell,repetition,status,run_s,checksum,error\nsync,1,1,ok,0.5,9e55848835976246,\n";
        let runs = Runs::parse(text.as_bytes(), Path::new("r/runs.csv")).unwrap();
        assert_eq!(runs.rows.len(), 1);
        assert_eq!(runs.rows[0].metric("run_s"), Some(0.5));
    }

    #[test]
    fn a_missing_column_is_a_clear_error() {
        for column in ["cell", "repetition", "status"] {
            let header: Vec<&str> = HEADER.split(',').filter(|c| *c != column).collect();
            let error = Runs::parse(header.join(",").as_bytes(), Path::new("r/runs.csv")).unwrap_err();
            assert_eq!(error.to_string(), format!("r/runs.csv has no `{column}` column"));
        }
        let runs = parse("").unwrap();
        let error = runs.require(["run_s", "latency_p99_s"]).unwrap_err();
        assert_eq!(error.to_string(), "r/runs.csv has no `latency_p99_s` column");
        assert!(runs.require(["run_s", "wall_s"]).is_ok());
    }
}
