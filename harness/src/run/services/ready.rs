//! Whether a service is ready: its probe, tried every few milliseconds until it succeeds.
//!
//! - A `log` probe reads the service's log as bytes, from where the last try stopped: a byte that is not
//!   UTF-8 changes nothing, and a long log is read once, not at every try.
//! - A `tcp` or `http` probe must reach the service itself: a connection to the port counts only when a
//!   process of the service's group holds the listening socket, so that a port another process holds does
//!   not pass for the service (which then fails to bind, and whose runs would go to the other process).

use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::experiment::Probe;
use crate::sys::pid_t;

/// The most of a log one try reads: a service that prints faster than this is read on the next tries.
const READ_PER_TRY: u64 = 1 << 20;

/// The most of a log's end a message quotes.
const TAIL: u64 = 64 * 1024;

/// The state of a probe between tries.
#[derive(Debug)]
pub(super) struct Watch {
    log: PathBuf,
    /// How much of the log was searched.
    scanned: u64,
    /// The end of what was searched, which a match may continue.
    carry: Vec<u8>,
    /// The process that held the probed port instead of the service, when one did.
    pub(super) squatter: Option<String>,
}

impl Watch {
    pub(super) fn new(log: &Path) -> Self {
        Self { log: log.to_owned(), scanned: 0, carry: Vec::new(), squatter: None }
    }

    /// Whether `probe` succeeds now; `service` lists the processes of the service.
    pub(super) fn ready(&mut self, probe: &Probe, service: &dyn Fn() -> Vec<pid_t>) -> bool {
        match probe {
            Probe::Tcp(address) => connect(address).is_some() && self.owns(address, service),
            Probe::Http { address, path, .. } => {
                let Some(mut stream) = connect(address) else { return false };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
                let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
                // The whole answer is read (up to a limit), so the server sees a client that hung up politely.
                let mut answer = Vec::new();
                if stream.write_all(request.as_bytes()).is_err() {
                    return false;
                }
                // A read that times out after part of the answer still got its status line.
                let _ = (&mut stream).take(1 << 20).read_to_end(&mut answer);
                answer.starts_with(b"HTTP/") && self.owns(address, service)
            }
            Probe::Log(text) => self.logged(text.as_bytes()),
        }
    }

    /// Whether the log holds `needle`, reading what it gained since the last try.
    fn logged(&mut self, needle: &[u8]) -> bool {
        let Ok(mut file) = std::fs::File::open(&self.log) else { return false };
        if file.seek(SeekFrom::Start(self.scanned)).is_err() {
            return false;
        }
        let mut new = Vec::new();
        if file.take(READ_PER_TRY).read_to_end(&mut new).is_err() {
            return false;
        }
        self.scanned += new.len() as u64;
        let mut window = std::mem::take(&mut self.carry);
        window.extend_from_slice(&new);
        if !needle.is_empty() && window.windows(needle.len()).any(|w| w == needle) {
            return true;
        }
        let keep = needle.len().saturating_sub(1).min(window.len());
        self.carry = window.split_off(window.len() - keep);
        false
    }

    /// Whether a process of the service holds the socket listening on the port of `address`; when another
    /// does, says which in `squatter`.
    fn owns(&mut self, address: &str, service: &dyn Fn() -> Vec<pid_t>) -> bool {
        let Some(port) = address.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok()) else { return true };
        let sockets = listening(port);
        if sockets.is_empty() {
            // Not listed (another network namespace, or no /proc/net): nothing to tell them apart by.
            return true;
        }
        if service().into_iter().any(|pid| holds(pid, &sockets)) {
            self.squatter = None;
            return true;
        }
        self.squatter = Some(holder(&sockets).map_or_else(
            || format!("port {port} is held by a process that is not the service's"),
            |(pid, name)| format!("port {port} is held by another process, {name} (pid {pid}), not the service"),
        ));
        false
    }
}

fn connect(address: &str) -> Option<TcpStream> {
    let addresses = address.to_socket_addrs().ok()?;
    addresses.into_iter().find_map(|a| TcpStream::connect_timeout(&a, Duration::from_millis(500)).ok())
}

/// The inodes of the sockets listening on TCP `port`, IPv4 and IPv6.
fn listening(port: u16) -> Vec<String> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl, local_address, rem_address, st, ..., inode (the tenth).
            let (Some(local), Some(state), Some(inode)) = (fields.get(1), fields.get(3), fields.get(9)) else {
                continue;
            };
            let listens = *state == "0A";
            let on_port = local.rsplit_once(':').and_then(|(_, p)| u16::from_str_radix(p, 16).ok()) == Some(port);
            if listens && on_port {
                inodes.push((*inode).to_owned());
            }
        }
    }
    inodes
}

/// Whether process `pid` has one of `sockets` open.
fn holds(pid: pid_t, sockets: &[String]) -> bool {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    entries.flatten().any(|entry| {
        std::fs::read_link(entry.path()).is_ok_and(|target| {
            let target = target.to_string_lossy();
            target
                .strip_prefix("socket:[")
                .and_then(|r| r.strip_suffix(']'))
                .is_some_and(|i| sockets.iter().any(|s| s == i))
        })
    })
}

/// A process holding one of `sockets`, with its name, when one can be seen.
fn holder(sockets: &[String]) -> Option<(pid_t, String)> {
    let entries = std::fs::read_dir("/proc").ok()?;
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<pid_t>().ok())
        .find(|&pid| holds(pid, sockets))
        .map(|pid| {
            let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            (pid, format!("`{}`", name.trim()))
        })
}

/// The last lines of a log, for a message: of its last 64 KiB, read as bytes.
pub(super) fn tail(log: &Path) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut file) = std::fs::File::open(log) {
        let length = file.metadata().map_or(0, |m| m.len());
        let _ = file.seek(SeekFrom::Start(length.saturating_sub(TAIL)));
        let _ = file.take(TAIL).read_to_end(&mut bytes);
    }
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim();
    if text.is_empty() { " (empty)".to_owned() } else { format!(", ending: {}", crate::process::last_lines(text, 5)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_probe_reads_the_log_as_bytes_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("s.log");
        let mut watch = Watch::new(&log);
        let probe = Probe::Log("Ready to".into());
        let none = || Vec::new();
        assert!(!watch.ready(&probe, &none));
        // A byte that is not UTF-8 before the text, and the text split between two tries.
        std::fs::write(&log, b"starting \xff\xfe\nReady").unwrap();
        assert!(!watch.ready(&probe, &none));
        let scanned = watch.scanned;
        std::fs::OpenOptions::new().append(true).open(&log).unwrap().write_all(b" to accept\n").unwrap();
        assert!(watch.ready(&probe, &none));
        assert_eq!(watch.scanned, scanned + 11);
        assert!(tail(&log).starts_with(", ending: starting"), "{}", tail(&log));
        assert_eq!(tail(&dir.path().join("none.log")), " (empty)");
    }

    #[test]
    fn tcp_and_http_probes_succeed_only_against_a_listener_of_the_service() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut stream = stream;
                let mut request = [0u8; 1024];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(b"HTTP/1.0 404 Not Found\r\n\r\n");
            }
        });
        // The listener is this process's: ready for a service of which it is a process...
        let this = || vec![std::process::id() as pid_t];
        let mut ours = Watch::new(Path::new("/nonexistent"));
        assert!(ours.ready(&Probe::Tcp(address.clone()), &this));
        let http = Probe::Http { url: String::new(), address: address.clone(), path: "/".into() };
        assert!(ours.ready(&http, &this), "any status counts");
        // ...but not for a service of other processes: another process holds the port.
        let mut theirs = Watch::new(Path::new("/nonexistent"));
        assert!(!theirs.ready(&Probe::Tcp(address.clone()), &|| Vec::new()));
        let squatter = theirs.squatter.clone().unwrap_or_default();
        assert!(
            squatter.contains("held by another process") && squatter.contains(&std::process::id().to_string()),
            "{squatter}"
        );
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
        assert!(!ours.ready(&Probe::Tcp(closed), &this));
    }
}
