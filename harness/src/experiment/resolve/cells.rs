//! Each cell of the matrix into a `CellPlan`, and the axes, values and workloads no cell uses.
use std::collections::HashMap;
use std::sync::Arc;

use harness_sdk::protocol::{Connect, Exec, Step, Workload};
use indexmap::IndexMap;
use toml::Spanned;

use super::expand::{Places, Seen, describe};
use super::workload::redis_urls;
use super::{MAX_WORKERS, Resolver};
use crate::diagnostic::Diagnostic;
use crate::experiment::matrix::{Cell, Value, ValueKey};
use crate::experiment::plan::{Agreement, CellPlan, EXECUTOR, WORKERS, WORKLOAD};
use crate::experiment::raw::{RawFile, RawWorkload};
use crate::experiment::substitute::collect_references;
use crate::experiment::{quote_list, services};
use crate::plugin::PluginInfo;

impl Resolver<'_> {
    pub(super) fn resolve_cell(
        &self,
        cell: Cell,
        file: &RawFile,
        defaults: &IndexMap<String, serde_json::Map<String, serde_json::Value>>,
        places: &Places,
        shared: &mut Shared,
        earlier: &[CellPlan],
    ) -> Result<CellPlan, Diagnostic> {
        let executor_name = match cell.get(EXECUTOR) {
            Some(Value::String(name)) => name.to_string(),
            Some(other) => {
                return Err(self
                    .error(format!("executor `{other}` is not a name"), places.of(EXECUTOR, Some(other)))
                    .expected("a string"));
            }
            None => {
                return Err(self
                    .error(format!("a cell has no executor: {}", describe(&cell)), places.matrix.clone())
                    .help("add an `executor` axis to [matrix], or an `executor` key to each `include` entry"));
            }
        };
        let executor = if let Some(info) = shared.executors.get(&executor_name) {
            Arc::clone(info)
        } else {
            let info = self
                .registry
                .get(&executor_name)
                .ok_or_else(|| self.unknown_executor(&executor_name, places.of(EXECUTOR, cell.get(EXECUTOR))))?;
            let info = Arc::new(info.clone());
            shared.executors.insert(executor_name.clone(), Arc::clone(&info));
            info
        };

        let workers = match cell.get(WORKERS) {
            None => 1,
            Some(Value::Integer(n)) if (1..=i64::from(MAX_WORKERS)).contains(n) => *n as u32,
            Some(Value::Integer(n)) if *n > i64::from(MAX_WORKERS) => {
                return Err(self
                    .error(format!("`workers` is {n}"), places.of(WORKERS, cell.get(WORKERS)))
                    .expected(format!("an integer from 1 to {MAX_WORKERS}"))
                    .help("each worker is a thread or a process of the run: too many of them are a fork bomb"));
            }
            Some(other) => {
                return Err(self
                    .error(format!("`workers` is {other}"), places.of(WORKERS, Some(other)))
                    .expected("an integer, at least 1"));
            }
        };

        let workload_names: Vec<&str> = file.workloads.keys().map(|k| k.get_ref().as_str()).collect();
        let (workload_name, raw) = match cell.get(WORKLOAD) {
            Some(Value::String(name)) => {
                let found = file.workloads.iter().find(|(k, _)| k.get_ref().as_str() == &**name);
                let (k, w) = found.ok_or_else(|| {
                    self.error(format!("unknown workload `{name}`"), places.of(WORKLOAD, cell.get(WORKLOAD)))
                        .expected(if workload_names.is_empty() {
                            "a workload, but the file defines none: add a [workloads.NAME] table".to_owned()
                        } else {
                            format!("one of {}", quote_list(&workload_names))
                        })
                        .did_you_mean(name, workload_names.iter().copied())
                })?;
                (k.get_ref().clone(), w)
            }
            Some(other) => {
                return Err(self.error(format!("workload `{other}` is not a name"), places.of(WORKLOAD, Some(other))));
            }
            None if file.workloads.len() == 1 => {
                let (k, w) = file.workloads.first().expect("one workload");
                (k.get_ref().clone(), w)
            }
            None => {
                return Err(self
                    .error(format!("a cell has no workload: {}", describe(&cell)), places.matrix.clone())
                    .help(
                        "add a `workload` axis to [matrix]; it may be left out only when the file defines one workload",
                    ));
            }
        };
        let Resolved { workload, prepare, conclude, checksum, search } =
            shared.workload(&workload_name, raw, (&cell, earlier.len()), earlier, |cell| {
                self.resolve_workload(&workload_name, raw, cell)
            })?;
        self.check_shared_connections(&executor, &workload_name, raw, &workload.steps)?;

        // The options are a function of the executor and the cell's values of its options: made and checked
        // once for each.
        let chosen: Vec<(Arc<str>, ValueKey)> = cell
            .iter()
            .filter(|(key, _)| ![EXECUTOR, WORKLOAD, WORKERS].contains(&&***key) && executor.option(key).is_some())
            .map(|(key, value)| (Arc::clone(key), value.key()))
            .collect();
        let known = shared.options.get(&executor_name).and_then(|by_values| by_values.get(&chosen));
        let options = if let Some(options) = known {
            Arc::clone(options)
        } else {
            let mut options = serde_json::Map::new();
            for spec in &executor.options {
                if !spec.default.is_null() {
                    options.insert(spec.name.clone(), spec.default.clone());
                }
            }
            if let Some(table) = defaults.get(&executor_name) {
                options.extend(table.clone());
            }
            for (key, value) in &cell {
                if [EXECUTOR, WORKLOAD, WORKERS].contains(&&**key) || executor.option(key).is_none() {
                    continue;
                }
                let json = value.to_json();
                let span = places.of(key, Some(value));
                self.check_option(&executor, key, &json, span.clone(), span)?;
                options.insert(key.to_string(), json);
            }
            let options = Arc::new(options);
            shared.options.entry(executor_name.clone()).or_default().insert(chosen, Arc::clone(&options));
            options
        };
        Ok(CellPlan {
            values: cell,
            executor,
            workers,
            options,
            workload,
            prepare,
            conclude,
            services: Vec::new(),
            checksum,
            search,
        })
    }

    /// The workload `name` of `cell`, with its hooks and how its checksums agree.
    fn resolve_workload(&self, name: &str, raw: &Spanned<RawWorkload>, cell: &Cell) -> Result<Resolved, Diagnostic> {
        let (workload, search) = self.workload(name, raw, cell)?;
        // The services are up when the hooks run (before `prepare`, until after `conclude`).
        let with_ports = self.with_ports(cell);
        let prepare = self.hook("prepare", raw.get_ref().prepare.as_ref(), &with_ports, Some(name))?;
        let conclude = self.hook("conclude", raw.get_ref().conclude.as_ref(), &with_ports, Some(name))?;
        let checksum = match &raw.get_ref().checksum {
            None => Agreement::Warn,
            Some(checksum) => Agreement::parse(checksum.get_ref()).ok_or_else(|| {
                self.error(format!("workload `{name}`: `checksum` is \"{}\"", checksum.get_ref()), Some(checksum.span()))
                    .expected(format!("one of {}", quote_list(&Agreement::NAMES)))
                    .help("\"must-agree\" fails a run whose checksum differs from the workload's first; \"ignore\" compares none")
            })?,
        };
        Ok(Resolved {
            workload: Arc::new(workload),
            prepare: prepare.map(Arc::new),
            conclude: conclude.map(Arc::new),
            checksum,
            search: search.map(Arc::new),
        })
    }

    /// A step that shares one connection among the tasks in flight (`connect = "shared"`) needs an executor
    /// that multiplexes: a worker blocked on its request cannot send another task's over the same connection.
    fn check_shared_connections(
        &self,
        executor: &PluginInfo,
        workload: &str,
        raw: &toml::Spanned<crate::experiment::raw::RawWorkload>,
        steps: &[Step],
    ) -> Result<(), Diagnostic> {
        if executor.multiplexes {
            return Ok(());
        }
        let shared = steps.iter().position(|s| matches!(s, Step::Redis { connect: Connect::Shared, .. }));
        let Some(i) = shared else { return Ok(()) };
        let span = raw.get_ref().steps.get_ref().get(i).map(toml::Spanned::span);
        Err(self
            .error(
                format!(
                    "workload `{workload}`, step {}: `connect = \"shared\"` under executor `{}`, which keeps a connection per worker",
                    i + 1,
                    executor.name
                ),
                span,
            )
            .expected("`connect = \"reuse\"` (a connection per worker) or `\"per_request\"` under this executor")
            .help("one connection shared by every task in flight needs an executor that multiplexes, such as `async`; leave this executor's cells out with `exclude` in [matrix], or give them a workload without `connect = \"shared\"`"))
    }

    /// Every axis must mean something: a built-in axis, a `${name}` some workload uses, or an option of
    /// some executor of the experiment. Anything else is most likely a typo.
    pub(super) fn check_unused_axes(
        &self,
        columns: &[String],
        plans: &[CellPlan],
        file: &RawFile,
        places: &Places,
    ) -> Result<(), Diagnostic> {
        let mut referenced = Vec::new();
        for workload in file.workloads.values() {
            collect_references(workload.get_ref(), &mut referenced);
        }
        let mut option_names: indexmap::IndexSet<&str> = indexmap::IndexSet::new();
        let mut executors: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for plan in plans {
            if executors.insert(plan.executor.name.as_str()) {
                option_names.extend(plan.executor.options.iter().map(|o| o.name.as_str()));
            }
        }
        for column in columns {
            let used = [EXECUTOR, WORKLOAD, WORKERS].contains(&column.as_str())
                || baseline_axis(file).as_deref() == Some(column.as_str())
                || referenced.contains(column)
                || option_names.contains(&column.as_str());
            if !used {
                let mut candidates: Vec<&str> = vec![EXECUTOR, WORKLOAD, WORKERS];
                candidates.extend(referenced.iter().map(String::as_str));
                candidates.extend(option_names.iter().copied());
                let error = self
                    .error(format!("axis `{column}` is not used"), places.of(column, None))
                    .expected("`executor`, `workload`, `workers`, a variable a workload uses as `${name}`, an option of an executor in the matrix, or the axis of `[ci] baseline`");
                // A baseline that names this axis misspelt is the likelier mistake.
                if let Some(named) = baseline_axis(file).filter(|b| !columns.contains(b)) {
                    if crate::diagnostic::closest(&named, [column.as_str()]).is_some() {
                        return Err(error.help(format!("`[ci] baseline` names `{named}`: did you mean `{column}`?")));
                    }
                }
                return Err(error.did_you_mean(column, candidates));
            }
        }
        Ok(())
    }

    /// A workload no cell uses is still checked, as far as it can be without a cell: one that refers to
    /// no axis must parse.
    pub(super) fn check_unused_workloads(&self, plans: &[CellPlan], file: &RawFile) -> Result<(), Diagnostic> {
        for (name, raw) in &file.workloads {
            let name = name.get_ref();
            let mut references = Vec::new();
            collect_references(raw.get_ref(), &mut references);
            if references.is_empty() && !plans.iter().any(|p| &p.workload.name == name) {
                self.workload(name, raw, &Cell::new())?;
            }
        }
        Ok(())
    }
}

/// What cells have in common, resolved once: each executor's description, and each workload for each set of
/// the values it refers to. A workload is a function of those values alone, so the cells that agree on them
/// share one, and a matrix of a million cells that vary `workers` substitutes and holds one workload.
#[derive(Default)]
pub(super) struct Shared {
    executors: HashMap<String, Arc<PluginInfo>>,
    /// Per workload: the axes it refers to, and per hash of their values in a cell, the first such cell
    /// (an index into the cells resolved so far) and its workload. Only a hash is kept per cell, so that a
    /// million cells that share nothing cost no copy of their values.
    workloads: HashMap<String, ByValues>,
    /// The options of cells, each once: by executor, then by the cell's values of its options, in order.
    options: HashMap<String, OptionsByValues>,
}

/// Cells' options, shared, by the cells' values of them.
type OptionsByValues = HashMap<Vec<(Arc<str>, ValueKey)>, Arc<serde_json::Map<String, serde_json::Value>>>;

/// A workload's references (the axes it refers to), and per hash of their values, the first cell with them and
/// its workload.
type ByValues = (Vec<String>, HashMap<u64, (usize, Resolved)>);

/// A cell's workload as resolved: shared by every cell with the same values of the axes it refers to.
#[derive(Clone)]
pub(super) struct Resolved {
    workload: Arc<Workload>,
    prepare: Option<Arc<Exec>>,
    conclude: Option<Arc<Exec>>,
    checksum: Agreement,
    search: Option<Arc<crate::search::Search>>,
}

impl Shared {
    /// Workload `name` of `cell`, the cell of index `index`: resolved by `resolve` unless an `earlier` cell
    /// has the same values of the axes it refers to.
    fn workload(
        &mut self,
        name: &str,
        raw: &Spanned<RawWorkload>,
        (cell, index): (&Cell, usize),
        earlier: &[CellPlan],
        resolve: impl FnOnce(&Cell) -> Result<Resolved, Diagnostic>,
    ) -> Result<Resolved, Diagnostic> {
        use std::hash::BuildHasher;
        if !self.workloads.contains_key(name) {
            let mut references = Vec::new();
            collect_references(raw.get_ref(), &mut references);
            references.sort();
            references.dedup();
            self.workloads.insert(name.to_owned(), (references, HashMap::new()));
        }
        let (references, resolved) = self.workloads.get_mut(name).expect("inserted above");
        let values = |cell: &Cell| references.iter().map(|r| cell.get(r.as_str()).map(Value::key)).collect::<Vec<_>>();
        let mine = values(cell);
        let hash = resolved.hasher().hash_one(&mine);
        match resolved.get(&hash) {
            Some((j, found)) if values(&earlier[*j].values) == mine => Ok(found.clone()),
            // Another cell's values with the same hash: resolved for this cell alone.
            Some(_) => resolve(cell),
            None => {
                let found = resolve(cell)?;
                resolved.insert(hash, (index, found.clone()));
                Ok(found)
            }
        }
    }
}

/// Drops from each cell the values that mean nothing to it, then the cells that became copies of earlier
/// ones. A value means something to a cell when it is the executor, the workload or `workers`, when the
/// cell's workload refers to it as `${name}`, or when it is an option of the cell's executor: with
/// `executor = ["sync", "threaded"]` and `pool = ["rayon", "std"]`, `sync` runs once, not once per pool,
/// and its results and chart series carry no `pool`.
pub(super) fn drop_meaningless_values(mut plans: Vec<CellPlan>, file: &RawFile) -> Vec<CellPlan> {
    // The axis of a paired comparison means the version under test, whether or not a workload names it.
    let paired = baseline_axis(file);
    // The references of each workload, found once: the cells are many, the workloads few.
    let by_workload: HashMap<&str, Vec<String>> = file
        .workloads
        .iter()
        .map(|(name, raw)| {
            let mut referenced = Vec::new();
            collect_references(raw.get_ref(), &mut referenced);
            (name.get_ref().as_str(), referenced)
        })
        .collect();
    let mut seen = Seen::default();
    let mut copies = vec![false; plans.len()];
    for i in 0..plans.len() {
        let plan = &mut plans[i];
        let referenced = by_workload.get(plan.workload.name.as_str()).map_or(&[][..], Vec::as_slice);
        let executor = Arc::clone(&plan.executor);
        plan.values.retain(|key, _| {
            [EXECUTOR, WORKLOAD, WORKERS].contains(&&**key)
                || paired.as_deref() == Some(&**key)
                || referenced.iter().any(|r| **r == **key)
                || executor.option(key).is_some()
        });
        plan.values.shrink_to_fit();
        copies[i] = seen.earlier(&plans[i].values, i, |j| &plans[j].values).is_some();
    }
    let mut copy = copies.into_iter();
    plans.retain(|_| !copy.next().expect("one flag per plan"));
    plans
}

/// The axis `[ci] baseline` names, as written: it counts as used, and every cell keeps its value.
pub(super) fn baseline_axis(file: &RawFile) -> Option<String> {
    let ci = file.ci.as_ref()?.get_ref();
    let table = ci.baseline.as_ref()?.get_ref();
    table.keys().next().map(|k| k.get_ref().clone())
}

/// The services each cell's runs need: those its workload refers to (`${services.NAME.port}`), and every
/// service that no workload refers to (the harness cannot tell who uses it, so every run gets it).
pub(super) fn needed_services(plans: &mut [CellPlan], file: &RawFile, services: &[services::Service]) {
    let references = |name: &str| {
        let mut found = Vec::new();
        if let Some((_, raw)) = file.workloads.iter().find(|(n, _)| n.get_ref() == name) {
            collect_references(raw.get_ref(), &mut found);
        }
        found
    };
    let all: Vec<String> = file.workloads.keys().flat_map(|n| references(n.get_ref())).collect();
    let all_urls: Vec<String> = plans.iter().flat_map(|p| redis_urls(&p.workload.steps)).collect();
    for plan in plans {
        let own = references(&plan.workload.name);
        let own_urls = redis_urls(&plan.workload.steps);
        plan.services = services
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                if s.loopback.is_some() {
                    return services::uses_loopback(plan, s.port);
                }
                let reference = services::port_reference(&s.name);
                let url = services::redis_url(s.port);
                own.contains(&reference)
                    || own_urls.contains(&url)
                    || !(all.contains(&reference) || all_urls.contains(&url))
            })
            .map(|(i, _)| i)
            .collect();
    }
}
