//! Benchmark: how long drawing 100 charts takes. Reads a result folder (by default the report test
//! fixture `harness/tests/fixtures/report/lines`), makes its figures, and renders them to SVG in turn
//! until 100 charts are drawn; prints the time. Not a test: timings depend on the machine.
//!
//! The executors' models come from the folder's `environment.json` (no library is loaded); a folder that
//! did not record them gets no efficiency charts, which cost what any other chart costs.
//!
//! ```text
//! cargo run --release -p harness --example render_charts [RESULT_DIR]
//! ```

use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report/lines"), PathBuf::from);
    let report = harness::read_report(&dir).unwrap_or_else(|e| panic!("{e}"));
    let start = Instant::now();
    let figures = report.figures();
    let mut bytes = 0;
    for figure in figures.iter().cycle().take(100) {
        bytes += harness::render_chart(figure).expect("the figure renders").len();
    }
    let elapsed = start.elapsed();
    println!(
        "100 charts ({} distinct, {} panels in all) in {:.3} s: {:.1} ms per chart, {} KiB of SVG",
        figures.len(),
        figures.iter().cycle().take(100).map(|f| f.panels.len()).sum::<usize>(),
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 10.0,
        bytes / 1024
    );
}
