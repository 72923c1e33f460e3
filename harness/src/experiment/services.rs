//! `[services.NAME]`: programs the harness starts for an experiment's runs (an HTTP server, Redis), each on
//! a free loopback port the harness picks (`${port}` in its own table, `${services.NAME.port}` in steps),
//! ready when its probe succeeds, and kept for its scope (the experiment, a cell, a run); and the harness's
//! own loopback server, the service `loopback`, for the `net` steps and the `http` steps that go to it.

use std::fmt;
use std::time::Duration;

use harness_sdk::protocol::{HttpBody, Step};
use indexmap::IndexMap;
use toml::Spanned;

use super::command::{CommandLine, Problem, Text, parse_command};
use super::plan::CellPlan;
use super::raw::RawService;
use super::substitute::references;
use super::{quote_list, units};
use crate::diagnostic::Diagnostic;

/// A service of the experiment, checked.
#[derive(Debug, Clone)]
pub(crate) struct Service {
    pub name: String,
    pub command: CommandLine,
    /// The loopback port the harness picked for it.
    pub port: u16,
    pub ready: Probe,
    pub ready_timeout: Duration,
    pub scope: Scope,
    /// What may be asked of it, when it is the harness's own loopback server ([`LOOPBACK`]).
    pub loopback: Option<LoopbackBounds>,
    /// The files written into its folder before its command starts, in the order of the file.
    pub files: Vec<ServiceFile>,
}

/// A file of a service's `files`: written into the service's own folder before its command starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceFile {
    /// Its path in the service's folder: relative, without `.` or `..`.
    pub name: String,
    /// What it holds, the ports in place; `${dir}` and `${file.NAME}` stay until the folder is made
    /// ([`place`]).
    pub content: String,
}

/// The reference to a service's own folder, made afresh at each start.
const DIR: &str = "dir";
/// The prefix of a reference to a file of a service's `files`: `${file.NAME}`.
const FILE: &str = "file.";

const FILE_EXPECTED: &str = "{ template = \"a file, relative to the experiment file\" } or { text = \"its content\" }";

/// `text` with `${dir}` replaced by `dir`, the folder made for one start of the service, and `${file.NAME}`
/// by the path of that file in it: the references that [`resolve`] leaves for the start.
pub(crate) fn place(text: &str, dir: &std::path::Path) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (range, reference) in references(text) {
        let value = if reference == DIR {
            dir.to_owned()
        } else if let Some(name) = reference.strip_prefix(FILE) {
            dir.join(name)
        } else {
            continue;
        };
        out.push_str(&text[last..range.start]);
        out.push_str(&value.to_string_lossy());
        last = range.end;
    }
    out.push_str(&text[last..]);
    out
}

/// How the harness knows a service is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Probe {
    /// A TCP connection to `host:port` succeeds.
    Tcp(String),
    /// An HTTP GET of `path` at `host:port` gets an answer, whatever its status.
    Http { url: String, address: String, path: String },
    /// The service's log holds this text.
    Log(String),
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Probe::Tcp(address) => write!(f, "{{ tcp = \"{address}\" }}"),
            Probe::Http { url, .. } => write!(f, "{{ http = \"{url}\" }}"),
            Probe::Log(text) => write!(f, "{{ log = \"{text}\" }}"),
        }
    }
}

/// How long one started service serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Started before the first run that needs it, stopped after the experiment's last run.
    Experiment,
    /// A fresh one for each cell: stopped before a run of another cell.
    Cell,
    /// A fresh one for each run.
    Run,
}

const SCOPES: [&str; 3] = ["experiment", "cell", "run"];

impl Scope {
    /// The scope as the file writes it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scope::Experiment => SCOPES[0],
            Scope::Cell => SCOPES[1],
            Scope::Run => SCOPES[2],
        }
    }
}
const PROBES_EXPECTED: &str = "{ tcp = \"127.0.0.1:${port}\" }, { http = \"http://127.0.0.1:${port}/\" } or { log = \"a text it prints when ready\" }";
const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The name of the harness's own loopback server among the services: `${services.loopback.port}`, and its
/// columns `service_loopback_cpu_s`, `service_loopback_peak_memory_bytes`. No `[services]` table may take it.
pub(crate) const LOOPBACK: &str = "loopback";

/// The path of an HTTP request to the loopback server, for messages.
pub(crate) const LOOPBACK_PATH: &str = "/wait/DURATION/bytes/SIZE";

/// What a request may ask of the loopback server: the most that the experiment's steps that go to it ask
/// (`net` steps, and `http` steps to `${services.loopback.port}`). The server listens on 127.0.0.1 only,
/// but any local process may connect to it: what it asks is bounded by the experiment's own steps, so no
/// request can make the server send, wait or read more than a run may.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LoopbackBounds {
    /// Bytes of a request's body.
    pub request: u64,
    /// Bytes of an answer's body.
    pub response: u64,
    /// How long it waits before it answers, in nanoseconds.
    pub delay_nanos: u64,
    /// The most connections a run can open at once (the largest task count of a cell that uses it): the
    /// length of its accept queue.
    pub connections: u64,
}

impl LoopbackBounds {
    /// Whether a request for these sizes and this wait is within the bounds.
    pub(crate) fn allow(self, request: u64, response: u64, delay_nanos: u64) -> bool {
        request <= self.request && response <= self.response && delay_nanos <= self.delay_nanos
    }
}

/// The wait (in nanoseconds) and the size of the answer that an HTTP request to the loopback server asks
/// for: `/wait/DURATION/bytes/SIZE`, durations and sizes as in the experiment file ("5ms", "1KiB"),
/// followed by any query (which the server ignores, so `?task=${task}` is allowed).
pub(crate) fn loopback_path(path_and_query: &str) -> Result<(u64, u64), String> {
    let path = path_and_query.split_once('?').map_or(path_and_query, |(p, _)| p);
    let bad = || format!("the loopback server answers `{LOOPBACK_PATH}`, not `{path}`");
    let parts: Vec<&str> = path.split('/').collect();
    let ["", "wait", wait, "bytes", bytes] = parts[..] else { return Err(bad()) };
    let wait = units::parse_duration(wait).map_err(|why| format!("{}: {why}", bad()))?;
    let bytes = units::parse_size(bytes).map_err(|why| format!("{}: {why}", bad()))?;
    Ok((wait.as_nanos() as u64, bytes))
}

/// The path (and query) of `url` when it names the loopback server's `port` on 127.0.0.1 or localhost.
pub(super) fn loopback_target(url: &str, port: u16) -> Option<&str> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = rest.find('/').map_or((rest, "/"), |at| (&rest[..at], &rest[at..]));
    let (host, named) = authority.rsplit_once(':')?;
    (["127.0.0.1", "localhost"].contains(&host) && named.parse::<u16>().ok() == Some(port)).then_some(path)
}

/// What `step` asks of the loopback server on `port`, when it goes to it: (request, response, delay).
fn loopback_demand(step: &Step, port: u16) -> Option<(u64, u64, u64)> {
    match step {
        Step::Net { request, response, delay_nanos, .. } => Some((*request, *response, *delay_nanos)),
        Step::Http(http) => {
            let (wait, bytes) = loopback_path(loopback_target(&http.url, port)?).ok()?;
            let request = match &http.body {
                HttpBody::Empty => 0,
                HttpBody::Seeded(size) => *size,
                HttpBody::Text(text) => text.len() as u64,
            };
            Some((request, bytes, wait))
        }
        _ => None,
    }
}

/// Whether the runs of `plan` need the loopback server on `port`.
pub(super) fn uses_loopback(plan: &CellPlan, port: u16) -> bool {
    plan.workload.steps.iter().any(|s| loopback_demand(s, port).is_some())
}

/// The loopback server on `port`, when some cell's steps go to it: the harness itself (`harness
/// __loopback`), bounded by what those steps ask. It is a service like the file's, started and measured the
/// same way.
pub(super) fn loopback(plans: &[CellPlan], port: u16) -> Result<Option<Service>, String> {
    let mut bounds = None::<LoopbackBounds>;
    for plan in plans {
        for (request, response, delay_nanos) in plan.workload.steps.iter().filter_map(|s| loopback_demand(s, port)) {
            let b = bounds.get_or_insert_with(LoopbackBounds::default);
            b.request = b.request.max(request);
            b.response = b.response.max(response);
            b.delay_nanos = b.delay_nanos.max(delay_nanos);
            // No run keeps more connections in flight than it has tasks: the accept queue holds them all.
            b.connections = b.connections.max(plan.workload.tasks);
        }
    }
    let Some(bounds) = bounds else { return Ok(None) };
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find the harness executable to start the loopback server: {e}"))?;
    let program = exe.into_os_string().into_string().map_err(|exe| {
        format!(
            "the harness executable's path {} is not UTF-8: it cannot start the loopback server",
            exe.to_string_lossy()
        )
    })?;
    let args = [
        ("--port", u64::from(port)),
        ("--request", bounds.request),
        ("--response", bounds.response),
        ("--delay-nanos", bounds.delay_nanos),
        ("--connections", bounds.connections),
    ];
    let command = CommandLine {
        program,
        args: std::iter::once("__loopback".to_owned())
            .chain(args.iter().flat_map(|(flag, value)| [(*flag).to_owned(), value.to_string()]))
            .collect(),
        env: Vec::new(),
        cwd: std::path::PathBuf::from("/"),
    };
    Ok(Some(Service {
        name: LOOPBACK.to_owned(),
        command,
        port,
        ready: Probe::Tcp(format!("127.0.0.1:{port}")),
        ready_timeout: DEFAULT_READY_TIMEOUT,
        scope: Scope::Experiment,
        loopback: Some(bounds),
        files: Vec::new(),
    }))
}

/// The address of a Redis service on loopback `port`.
pub(super) fn redis_url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}/")
}

/// The reference a step makes to a service's port.
pub(super) fn port_reference(service: &str) -> String {
    format!("services.{service}.port")
}

/// Checks the `[services]` tables and picks a free loopback port for each, and one for the loopback server
/// (the last of the ports returned, whether a step needs it or not). `error` places a message.
pub(super) fn resolve(
    raw: &IndexMap<Spanned<String>, Spanned<RawService>>,
    base: &std::path::Path,
    error: &dyn Fn(String, Option<std::ops::Range<usize>>) -> Diagnostic,
) -> Result<(Vec<Service>, u16), Diagnostic> {
    for name in raw.keys() {
        let text = name.get_ref();
        if text.is_empty() || !text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(error(format!("service name `{text}` cannot name a column"), Some(name.span()))
                .expected("letters, digits, `_` and `-`"));
        }
        if text == LOOPBACK {
            return Err(error(
                format!("service name `{LOOPBACK}` is the harness's own loopback server's"),
                Some(name.span()),
            )
            .expected("another name")
            .help(format!(
                "`${{services.{LOOPBACK}.port}}` is the built-in server of `net` steps, which also answers HTTP at `{LOOPBACK_PATH}`"
            )));
        }
    }
    // Picked together, so that the loopback server's port is none of the services'.
    let mut ports = free_ports(raw.len() + 1).map_err(|e| {
        error(format!("cannot pick a free loopback port for the services: {e}"), raw.keys().next().map(Spanned::span))
    })?;
    let loopback_port = ports.pop().expect("one more port than services");
    let names: Vec<&str> = raw.keys().map(|k| k.get_ref().as_str()).collect();
    let mut services = Vec::with_capacity(raw.len());
    for ((name, table), &port) in raw.iter().zip(&ports) {
        let (name, table) = (name.get_ref(), table.get_ref());
        let span = table_span(raw, name);
        let text = |s: &str| substitute(s, port, &names, &ports, &[]);
        let files = files(name, &table.files, base, &|s| substitute(s, port, &names, &ports, &[DIR]), error)?;
        // `${dir}` and `${file.NAME}` in the command and its environment wait for the start.
        let deferred: Vec<String> =
            std::iter::once(DIR.to_owned()).chain(files.iter().map(|f| format!("{FILE}{}", f.name))).collect();
        let deferred: Vec<&str> = deferred.iter().map(String::as_str).collect();
        let command_text = |s: &str| substitute(s, port, &names, &ports, &deferred);
        if let Some(cwd) = &table.cwd {
            text(cwd).map_err(|(m, e)| error(format!("service `{name}`: `cwd`: {m}"), span.clone()).expected(e))?;
        }
        let Some(command) = &table.command else {
            return Err(error(format!("service `{name}` has no `command`"), span)
                .expected(super::command::COMMAND_EXPECTED)
                .help("for example `command = [\"python3\", \"-m\", \"http.server\", \"${port}\", \"--bind\", \"127.0.0.1\"]`"));
        };
        let env: Vec<(String, String)> = table.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let span_of_command = command.span();
        let command = parse_command(command.get_ref(), &env, table.cwd.as_deref(), base, &command_text)
            .map_err(|(m, e)| error(format!("service `{name}`: {m}"), Some(span_of_command.clone())).expected(e))?;
        // A server that is not installed is said before any run, not as a failed start after some.
        let named_bare = !command.program.contains('/') && !command.program.contains("${");
        if named_bare && !super::exec::on_path(&command.program, &command.env) {
            return Err(error(
                format!("service `{name}`: program `{}` is not found on PATH", command.program),
                Some(span_of_command),
            )
            .expected("a program on PATH, or a path to one")
            .help(format!(
                "install `{}` (or give its full path), or run the experiments that do not need this service",
                command.program
            )));
        }
        let ready = match &table.ready {
            None => Probe::Tcp(format!("127.0.0.1:{port}")),
            Some(value) => probe(value.get_ref(), &text).map_err(|(m, e)| {
                let folder = m.starts_with("`${dir}`") || m.starts_with("`${file.");
                let problem = error(format!("service `{name}`: {m}"), Some(value.span())).expected(e);
                if folder {
                    // The folder of a start exists only once the service starts; a probe is checked before.
                    problem.help(
                        "`${dir}` is known in `command`, `env` and `files`, `${file.NAME}` in `command` and `env`; a \
                         `log` probe matches the service's output, an `http` or `tcp` one its port",
                    )
                } else {
                    problem
                }
            })?,
        };
        let ready_timeout = match &table.ready_timeout {
            None => DEFAULT_READY_TIMEOUT,
            Some(t) => units::parse_duration(t.get_ref()).ok().filter(|d| !d.is_zero()).ok_or_else(|| {
                error(format!("service `{name}`: `ready_timeout` is \"{}\"", t.get_ref()), Some(t.span()))
                    .expected(format!("{}, more than zero", units::DURATION_EXPECTED))
            })?,
        };
        let scope = match &table.scope {
            None => Scope::Experiment,
            Some(s) => match s.get_ref().as_str() {
                "experiment" => Scope::Experiment,
                "cell" => Scope::Cell,
                "run" => Scope::Run,
                other => {
                    return Err(error(format!("service `{name}`: `scope` is \"{other}\""), Some(s.span()))
                        .expected(format!("one of {}", quote_list(&SCOPES)))
                        .did_you_mean(other, SCOPES));
                }
            },
        };
        services.push(Service {
            name: name.clone(),
            command,
            port,
            ready,
            ready_timeout,
            scope,
            loopback: None,
            files,
        });
    }
    // The Kth start of a service of scope `cell` or `run` is `NAME-K` in the logs and the scratch folder: no
    // other service may be named so.
    for started in services.iter().filter(|s| s.scope != Scope::Experiment) {
        let prefix = format!("{}-", started.name);
        let clash = services.iter().find(|other| {
            other.name.strip_prefix(&prefix).is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
        });
        if let Some(other) = clash {
            return Err(error(
                format!(
                    "service name `{}` is also the name of a start of service `{}` (scope `{}`), in the logs and the \
                     scratch folder",
                    other.name,
                    started.name,
                    started.scope.name()
                ),
                table_span(raw, &other.name),
            )
            .expected(format!("a name other than `{}` followed by `-` and a number", started.name))
            .help(format!("rename `{}`, with `_` for `-` say", other.name)));
        }
    }
    Ok((services, loopback_port))
}

fn table_span(raw: &IndexMap<Spanned<String>, Spanned<RawService>>, name: &str) -> Option<std::ops::Range<usize>> {
    raw.keys().find(|k| k.get_ref() == name).map(Spanned::span)
}

/// `${port}` (this service's) and `${services.NAME.port}` (any service's) replaced in `text`; the
/// references of `deferred` (`${dir}`, `${file.NAME}`) left as they are, for [`place`].
fn substitute(text: &str, port: u16, names: &[&str], ports: &[u16], deferred: &[&str]) -> Result<String, Problem> {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (range, reference) in references(text) {
        let value = if reference == "port" {
            port
        } else if let Some(i) = names.iter().position(|n| port_reference(n) == reference) {
            ports[i]
        } else if deferred.contains(&reference) {
            continue;
        } else {
            let known: Vec<String> = std::iter::once("${port}".to_owned())
                .chain(names.iter().map(|n| format!("${{{}}}", port_reference(n))))
                .chain(deferred.iter().map(|d| format!("${{{d}}}")))
                .collect();
            let known: Vec<&str> = known.iter().map(String::as_str).collect();
            let written = format!("${{{reference}}}");
            let guess = crate::diagnostic::closest(&written, known.iter().copied())
                .map(|best| format!(" (did you mean `{best}`?)"))
                .unwrap_or_default();
            return Err((format!("`{written}` is not known{guess}"), format!("one of {}", quote_list(&known))));
        };
        out.push_str(&text[last..range.start]);
        out.push_str(&value.to_string());
        last = range.end;
    }
    out.push_str(&text[last..]);
    Ok(out)
}

/// The `files` of a service, checked, their templates read (relative to `base`) and their ports in place.
fn files(
    service: &str,
    raw: &IndexMap<Spanned<String>, Spanned<toml::Value>>,
    base: &std::path::Path,
    text: &Text<'_>,
    error: &dyn Fn(String, Option<std::ops::Range<usize>>) -> Diagnostic,
) -> Result<Vec<ServiceFile>, Diagnostic> {
    let mut files = Vec::with_capacity(raw.len());
    for (name, value) in raw {
        let (span, name) = (name.span(), name.get_ref());
        if let Err(why) = file_name(name) {
            return Err(error(format!("service `{service}`: `files` names \"{name}\", {why}"), Some(span))
                .expected("a path inside the service's folder, such as \"nginx.conf\" or \"conf/site.conf\"")
                .help("the files are written into a folder of the service's own: `${dir}` in `command` names it"));
        }
        let bad = || {
            error(format!("service `{service}`: `files.\"{name}\"` is {}", value.get_ref()), Some(value.span()))
                .expected(FILE_EXPECTED)
        };
        let table = value.get_ref().as_table().filter(|t| t.len() == 1).ok_or_else(|| {
            let several = value.get_ref().as_table().is_some_and(|t| t.len() > 1);
            if several { bad().help("give one of `template` and `text`, not both") } else { bad() }
        })?;
        let (kind, inner) = table.iter().next().expect("one key");
        let mut template = None;
        let content = match (kind.as_str(), inner) {
            ("text", toml::Value::String(content)) => content.clone(),
            ("template", toml::Value::String(path)) => {
                template = Some(path);
                // A FIFO or a device is refused without waiting on it, as is a template longer than 16 MiB.
                let read = crate::sys::read_regular(&base.join(path), super::load::MAX_INPUT_BYTES).and_then(|bytes| {
                    String::from_utf8(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
                });
                read.map_err(|e| {
                    error(
                        format!("service `{service}`: `files.\"{name}\"`: cannot read the template \"{path}\": {e}"),
                        Some(value.span()),
                    )
                    .expected("a UTF-8 text file of at most 16 MiB, relative to the experiment file's folder")
                    .help("check the path, relative to the experiment file's folder: a template is a regular file, read when the experiment is loaded")
                })?
            }
            _ => return Err(bad().did_you_mean(kind, ["template", "text"])),
        };
        let content = text(&content).map_err(|(m, e)| {
            // In a template, where: the error's place is the `files` entry of the experiment file.
            let place = template.and_then(|path| {
                let (range, _) =
                    references(&content).into_iter().find(|(range, _)| text(&content[range.clone()]).is_err())?;
                let (line, column) = crate::diagnostic::line_column(&content, range.start);
                Some(format!(", at line {line}, column {column} of the template \"{path}\""))
            });
            let m = format!("{m}{}", place.unwrap_or_default());
            error(format!("service `{service}`: `files.\"{name}\"`: {m}"), Some(value.span()))
                .expected(e)
                .help("a file's content may name `${port}`, `${services.NAME.port}` and `${dir}`")
        })?;
        files.push(ServiceFile { name: name.clone(), content });
    }
    Ok(files)
}

/// Why `name` cannot name a file of a service's folder.
fn file_name(name: &str) -> Result<(), &'static str> {
    use std::path::Component;
    let path = std::path::Path::new(name);
    if name.is_empty() {
        Err("which is empty")
    } else if path.is_absolute() {
        Err("which is absolute: it would be written outside the service's folder")
    } else if path.components().any(|c| !matches!(c, Component::Normal(_))) || name.ends_with('/') {
        Err("whose parts must be names, not `.`, `..` or empty")
    } else if name.contains(['$', '{', '}']) {
        Err("which holds `$`, `{` or `}`: `${file.NAME}` could not name it")
    } else {
        Ok(())
    }
}

fn probe(value: &toml::Value, text: &Text<'_>) -> Result<Probe, Problem> {
    let bad = || (format!("`ready` is {value}"), PROBES_EXPECTED.to_owned());
    let table = value.as_table().filter(|t| t.len() == 1).ok_or_else(bad)?;
    let (kind, arg) = table.iter().next().expect("one key");
    let arg = text(arg.as_str().ok_or_else(bad)?)?;
    match kind.as_str() {
        "tcp" if has_port(&arg) => Ok(Probe::Tcp(arg)),
        "http" => {
            let rest = arg.strip_prefix("http://").ok_or_else(bad)?;
            let (address, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
            let address = if has_port(address) { address.to_owned() } else { format!("{address}:80") };
            if address.starts_with(':') {
                return Err(bad());
            }
            Ok(Probe::Http { url: arg.clone(), address, path })
        }
        "log" if !arg.is_empty() => Ok(Probe::Log(arg)),
        _ => Err(bad()),
    }
}

/// Whether `address` is `host:port` with a host and a port number.
fn has_port(address: &str) -> bool {
    address.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
}

/// `count` distinct free loopback ports: each bound at once, then released for its service.
fn free_ports(count: usize) -> std::io::Result<Vec<u16>> {
    let listeners =
        (0..count).map(|_| std::net::TcpListener::bind("127.0.0.1:0")).collect::<std::io::Result<Vec<_>>>()?;
    listeners.iter().map(|l| l.local_addr().map(|a| a.port())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe_of(text: &str) -> Result<Probe, Problem> {
        let value: toml::Table = toml::from_str(&format!("r = {text}")).unwrap();
        probe(&value["r"], &|s| substitute(s, 4000, &["api", "db"], &[4000, 5000], &[]))
    }

    #[test]
    fn probes_parse_with_their_ports() {
        assert_eq!(probe_of(r#"{ tcp = "127.0.0.1:${port}" }"#), Ok(Probe::Tcp("127.0.0.1:4000".into())));
        assert_eq!(
            probe_of(r#"{ http = "http://127.0.0.1:${services.db.port}/health" }"#),
            Ok(Probe::Http {
                url: "http://127.0.0.1:5000/health".into(),
                address: "127.0.0.1:5000".into(),
                path: "/health".into()
            })
        );
        assert_eq!(probe_of(r#"{ log = "Ready" }"#), Ok(Probe::Log("Ready".into())));
        for bad in
            [r#"{ tcp = "127.0.0.1" }"#, r#"{ http = "ftp://x" }"#, r#"{ log = "" }"#, r#""x""#, r#"{ udp = "a:1" }"#]
        {
            assert!(probe_of(bad).is_err(), "{bad}");
        }
        assert!(probe_of(r#"{ tcp = "127.0.0.1:${services.x.port}" }"#).unwrap_err().0.contains("is not known"));
    }

    #[test]
    fn loopback_paths_say_the_wait_and_the_bytes() {
        assert_eq!(loopback_path("/wait/5ms/bytes/1KiB"), Ok((5_000_000, 1024)));
        assert_eq!(loopback_path("/wait/0s/bytes/0?task=${task}&x=1"), Ok((0, 0)));
        for bad in
            ["/", "/wait/5ms", "/wait/5/bytes/1", "/wait/1ms/bytes/1KiB/", "/bytes/1/wait/1ms", "/wait/2y/bytes/1"]
        {
            let why = loopback_path(bad).unwrap_err();
            assert!(why.starts_with("the loopback server answers `/wait/DURATION/bytes/SIZE`"), "{bad}: {why}");
        }
    }

    #[test]
    fn only_urls_to_the_loopback_port_on_this_machine_are_the_loopback_servers() {
        assert_eq!(loopback_target("http://127.0.0.1:4000/wait/1ms/bytes/1", 4000), Some("/wait/1ms/bytes/1"));
        assert_eq!(loopback_target("http://localhost:4000", 4000), Some("/"));
        for other in ["http://127.0.0.1:4001/wait/1ms/bytes/1", "http://10.0.0.1:4000/", "http://127.0.0.1/"] {
            assert_eq!(loopback_target(other, 4000), None, "{other}");
        }
    }

    #[test]
    fn free_ports_are_distinct() {
        let ports = free_ports(5).unwrap();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 5);
    }
}
