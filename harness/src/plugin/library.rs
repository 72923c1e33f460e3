//! An executor library, opened and called through the C ABI of `harness-sdk`: the checks of its
//! descriptor before anything else is called, and the calls, each returning its buffer to the library.

use std::path::{Path, PathBuf};

use harness_sdk::abi::{self, Buffer, Descriptor, EntryFn};
use harness_sdk::protocol::ExecutorInfo;

use super::{LoadError, PluginInfo, check_options};

/// An opened plugin library. Only child processes of the harness open one.
pub(crate) struct Library {
    path: PathBuf,
    descriptor: &'static Descriptor,
}

/// The outcome of one call into a plugin.
pub(crate) enum CallOutcome {
    Ok(Vec<u8>),
    Error(String),
    Panic(String),
}

impl Library {
    /// Opens `path` and checks its descriptor (magic, ABI version, size) before calling anything else.
    pub(crate) fn open(path: &Path) -> Result<Self, LoadError> {
        match std::fs::metadata(path) {
            Err(_) => return Err(LoadError::NotFound(path.to_owned())),
            // dlopen would block on a FIFO, or read a device for ever.
            Ok(m) if !m.is_file() => return Err(LoadError::NotAFile(path.to_owned())),
            Ok(_) => {}
        }
        // dlopen searches the library path for a name without a `/`; this is a file.
        let file = if path.parent() == Some(Path::new("")) { Path::new(".").join(path) } else { path.to_owned() };
        // SAFETY: loading a library runs its initialisers; the harness only does this in a child process
        // made for it, so a misbehaving library cannot take the harness down.
        let library = unsafe { libloading::Library::new(&file) }.map_err(|e| {
            let detail = std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default();
            LoadError::NotALibrary { path: path.to_owned(), message: format!("{e}{detail}") }
        })?;
        // Never unloaded: see the module documentation.
        let library: &'static libloading::Library = Box::leak(Box::new(library));
        // SAFETY: the symbol's type is fixed by the ABI; a library exporting it under that name promises it.
        let entry = unsafe { library.get::<EntryFn>(abi::ENTRY_SYMBOL) }
            .map_err(|_| LoadError::NoEntryPoint(path.to_owned()))?;
        // SAFETY: calling the plugin's entry point, which takes no arguments.
        let descriptor = unsafe { entry() };
        if descriptor.is_null() {
            return Err(LoadError::BadMagic(path.to_owned()));
        }
        // SAFETY: the first three fields of every ABI version's descriptor are laid out the same; read them
        // before trusting anything else.
        let (magic, abi_version, size) = unsafe {
            let d = descriptor.cast::<u8>();
            (
                d.cast::<u64>().read_unaligned(),
                d.add(8).cast::<u32>().read_unaligned(),
                d.add(12).cast::<u32>().read_unaligned(),
            )
        };
        if magic != abi::MAGIC {
            return Err(LoadError::BadMagic(path.to_owned()));
        }
        if abi_version != abi::ABI_VERSION {
            return Err(LoadError::AbiMismatch {
                path: path.to_owned(),
                found: abi_version,
                expected: abi::ABI_VERSION,
            });
        }
        let expected = size_of::<Descriptor>() as u32;
        if size != expected {
            return Err(LoadError::SizeMismatch { path: path.to_owned(), found: size, expected });
        }
        // SAFETY: magic, version and size match this ABI, so the pointer is a `Descriptor` in static storage
        // of a library that is never unloaded.
        let descriptor: &'static Descriptor = unsafe { &*descriptor };
        Ok(Self { path: path.to_owned(), descriptor })
    }

    /// The file it was opened from.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the plugin's name, version and options.
    pub(crate) fn info(&self) -> Result<PluginInfo, LoadError> {
        let d = self.descriptor;
        let failed = |message: String| LoadError::Info { path: self.path.clone(), message };
        let bytes = match self.call(|out| {
            // SAFETY: `info` fills `out`, which `call` hands back to the plugin's `free`.
            unsafe { (d.info)(out) }
        }) {
            CallOutcome::Ok(bytes) => bytes,
            CallOutcome::Error(message) | CallOutcome::Panic(message) => return Err(failed(message)),
        };
        let info: ExecutorInfo = serde_json::from_slice(&bytes).map_err(|e| failed(e.to_string()))?;
        check_options(&info.options).map_err(|message| LoadError::BadOption { path: self.path.clone(), message })?;
        // SAFETY: name and version point into the library, which stays loaded.
        let (name, version) = unsafe { (d.name.to_string_lossy(), d.version.to_string_lossy()) };
        Ok(PluginInfo {
            name,
            version,
            abi_version: d.abi_version,
            path: self.path.clone(),
            description: info.description,
            options: info.options,
            model: info.model,
            multiplexes: info.multiplexes,
        })
    }

    /// Runs one request (JSON bytes of a `RunRequest`).
    pub(crate) fn run(&self, request: &[u8]) -> CallOutcome {
        let d = self.descriptor;
        self.call(|out| {
            // SAFETY: `request` is readable for its length during the call; `out` is filled by the plugin.
            unsafe { (d.run)(request.as_ptr(), request.len(), out) }
        })
    }

    fn call(&self, f: impl FnOnce(*mut Buffer) -> i32) -> CallOutcome {
        let mut out = Buffer::empty();
        let status = f(&raw mut out);
        // SAFETY: the plugin filled `out`; copy it before giving it back.
        let bytes = unsafe { out.as_slice() }.to_vec();
        // SAFETY: returning the buffer to the library that allocated it, once.
        unsafe { (self.descriptor.free)(out) };
        let text = || String::from_utf8_lossy(&bytes).into_owned();
        match status {
            abi::STATUS_OK => CallOutcome::Ok(bytes),
            abi::STATUS_PANIC => CallOutcome::Panic(text()),
            abi::STATUS_ERROR => CallOutcome::Error(text()),
            other => CallOutcome::Error(format!("plugin returned unknown status {other}: {}", text())),
        }
    }
}
