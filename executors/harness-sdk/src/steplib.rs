//! Step libraries: functions of yours as `call` steps.
//!
//! A step library is a `cdylib` that lists its functions with [`export_steps!`](crate::export_steps). Each
//! function takes a [`Context`] (the task's index, the worker's, the seed, the worker's state, a way to
//! record custom metrics) and the step's `arg`, and returns the value folded into the task's checksum:
//!
//! ```
//! use harness_sdk::steplib::Context;
//!
//! fn double(cx: &mut Context<'_>, arg: &str) -> harness_sdk::Result<u64> {
//!     let n: u64 = arg.parse()?;
//!     cx.record("doubled", (2 * n) as f64);
//!     Ok(2 * n + cx.task)
//! }
//!
//! harness_sdk::export_steps!(functions = [double]);
//! ```
//!
//! The library crosses the same kind of boundary as an executor: one entry point ([`ENTRY_SYMBOL`]) returns a
//! static [`Descriptor`] whose magic, ABI version and size the caller checks first; strings cross as bytes,
//! panics are caught inside the library and come back as errors. It is loaded only in a run's process (by
//! the SDK, for the executor: [`Loaded::call`]) and in the harness's probe child, never in the harness itself, and
//! never unloaded. Each worker thread gets its own state from the library's `init`, made on its first call.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CString, c_void};
use std::io;
use std::sync::Mutex;

use crate::abi::{Buffer, STATUS_OK, STATUS_PANIC};

/// Identifies a step library's descriptor ("HRNSSTEP" in ASCII).
pub const MAGIC: u64 = u64::from_be_bytes(*b"HRNSSTEP");
/// The version of this ABI.
pub const ABI_VERSION: u32 = 1;
/// The name of the one function a step library exports, NUL-terminated.
pub const ENTRY_SYMBOL: &[u8] = b"harness_steps_entry\0";

/// A step function: the task's context and the step's `arg`; the value for the checksum, or an error.
pub type StepFn = fn(&mut Context<'_>, &str) -> crate::Result<u64>;

/// The state a worker keeps between calls, made by [`StepLibrary::init`].
pub type State = Box<dyn Any + Send>;

/// What a step function knows of its task, and what it can do besides returning a value.
pub struct Context<'a> {
    /// The task's index, from 0.
    pub task: u64,
    /// The index of the worker (thread or process) running the task, from 0.
    pub worker: u32,
    /// The experiment's seed.
    pub seed: u64,
    state: &'a mut State,
    metrics: &'a mut Vec<(String, f64)>,
}

impl Context<'_> {
    /// The worker's state, when `init` made one of type `T`.
    pub fn state<T: 'static>(&mut self) -> Option<&mut T> {
        self.state.downcast_mut::<T>()
    }

    /// Records `value` for the custom metric `name`, which the workload declares with `from = "call"`.
    pub fn record(&mut self, name: &str, value: f64) {
        self.metrics.push((name.to_owned(), value));
    }
}

/// A step library: its functions and how a worker's state is made. [`export_steps!`](crate::export_steps)
/// implements it.
pub trait StepLibrary {
    /// The functions, by the names experiment files call them.
    const FUNCTIONS: &'static [(&'static str, StepFn)];

    /// Makes the state of worker `worker`, before its first call.
    fn init(_worker: u32, _seed: u64) -> crate::Result<State> {
        Ok(Box::new(()))
    }
}

/// What a step library's entry point returns. The first three fields never move.
#[repr(C)]
#[derive(Debug)]
pub struct Descriptor {
    pub magic: u64,
    pub abi_version: u32,
    /// `size_of::<Descriptor>()` in the library.
    pub size: u32,
    /// Fills `out` with the JSON list of the function names.
    pub functions: unsafe extern "C" fn(out: *mut Buffer) -> i32,
    /// Makes worker `worker`'s state into `state`; an error message into `out`.
    pub init: unsafe extern "C" fn(worker: u32, seed: u64, state: *mut *mut c_void, out: *mut Buffer) -> i32,
    /// Calls function number `function`; on success its value is in `value` and `out` holds the JSON of the
    /// metrics it recorded, else `out` holds the error.
    pub call: unsafe extern "C" fn(
        state: *mut c_void,
        function: u32,
        task: u64,
        worker: u32,
        seed: u64,
        arg: *const u8,
        len: usize,
        value: *mut u64,
        out: *mut Buffer,
    ) -> i32,
    /// Frees a buffer this library filled.
    pub free: unsafe extern "C" fn(buffer: Buffer),
    /// Reserved; always null.
    pub reserved: *const c_void,
}

// SAFETY: a descriptor is immutable static data and plain function pointers.
unsafe impl Sync for Descriptor {}

impl Descriptor {
    /// The descriptor of `L`. Used by [`export_steps!`](crate::export_steps).
    pub const fn new<L: StepLibrary>() -> Self {
        Self {
            magic: MAGIC,
            abi_version: ABI_VERSION,
            size: size_of::<Descriptor>() as u32,
            functions: functions_trampoline::<L>,
            init: init_trampoline::<L>,
            call: call_trampoline::<L>,
            free: crate::abi::free_buffer,
            reserved: std::ptr::null(),
        }
    }
}

unsafe extern "C" fn functions_trampoline<L: StepLibrary>(out: *mut Buffer) -> i32 {
    crate::abi::guarded(out, || {
        let names: Vec<&str> = L::FUNCTIONS.iter().map(|(name, _)| *name).collect();
        serde_json::to_vec(&names).map_err(|e| e.to_string())
    })
}

unsafe extern "C" fn init_trampoline<L: StepLibrary>(
    worker: u32,
    seed: u64,
    state: *mut *mut c_void,
    out: *mut Buffer,
) -> i32 {
    crate::abi::guarded(out, || {
        let made: State = L::init(worker, seed).map_err(|e| e.to_string())?;
        // SAFETY: the caller passes a writable pointer; the box is given back to this library in `call`.
        unsafe { state.write(Box::into_raw(Box::new(made)).cast()) };
        Ok(Vec::new())
    })
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn call_trampoline<L: StepLibrary>(
    state: *mut c_void,
    function: u32,
    task: u64,
    worker: u32,
    seed: u64,
    arg: *const u8,
    len: usize,
    value: *mut u64,
    out: *mut Buffer,
) -> i32 {
    crate::abi::guarded(out, || {
        let (_, f) = L::FUNCTIONS.get(function as usize).ok_or_else(|| format!("no function number {function}"))?;
        // SAFETY: the caller passes `len` readable bytes that outlive the call.
        let bytes = if arg.is_null() { &[][..] } else { unsafe { std::slice::from_raw_parts(arg, len) } };
        let arg = std::str::from_utf8(bytes).map_err(|e| format!("the argument is not UTF-8: {e}"))?;
        // SAFETY: `state` is the box `init` made for this worker, used by one thread at a time.
        let state = unsafe { &mut *state.cast::<State>() };
        let mut metrics = Vec::new();
        let mut cx = Context { task, worker, seed, state, metrics: &mut metrics };
        let result = f(&mut cx, arg).map_err(|e| e.to_string())?;
        // JSON has no NaN nor infinity: said here, with the number, rather than as a `null` the host reads.
        for (name, number) in &metrics {
            crate::metrics::finite(name, *number, &number.to_string())?;
        }
        // SAFETY: the caller passes a writable pointer.
        unsafe { value.write(result) };
        serde_json::to_vec(&metrics).map_err(|e| e.to_string())
    })
}

/// Exports a step library: `export_steps!(functions = [parse, sort])`, or with a state per worker
/// `export_steps!(init = make_state, functions = [parse])`, where `make_state(worker: u32, seed: u64) ->
/// harness_sdk::Result<harness_sdk::steplib::State>`.
#[macro_export]
macro_rules! export_steps {
    ($(init = $init:path,)? functions = [$($function:ident),* $(,)?]) => {
        #[doc(hidden)]
        pub struct __HarnessSteps;

        impl $crate::steplib::StepLibrary for __HarnessSteps {
            const FUNCTIONS: &'static [(&'static str, $crate::steplib::StepFn)] =
                &[$((stringify!($function), $function as $crate::steplib::StepFn)),*];
            $(
                fn init(worker: u32, seed: u64) -> $crate::Result<$crate::steplib::State> {
                    $init(worker, seed)
                }
            )?
        }

        /// The step library's entry point looked up by the harness.
        #[unsafe(no_mangle)]
        pub extern "C" fn harness_steps_entry() -> *const $crate::steplib::Descriptor {
            static DESCRIPTOR: $crate::steplib::Descriptor = $crate::steplib::Descriptor::new::<__HarnessSteps>();
            &raw const DESCRIPTOR
        }
    };
}

/// A step library loaded into this process, checked, never unloaded.
#[derive(Debug, Clone, Copy)]
pub struct Loaded {
    descriptor: &'static Descriptor,
}

/// Copies and frees a buffer the library filled.
fn take(descriptor: &Descriptor, buffer: Buffer) -> Vec<u8> {
    // SAFETY: the library filled the buffer in the call that returned it, and it is freed right after.
    let bytes = unsafe { buffer.as_slice() }.to_vec();
    // SAFETY: given back to the library that made it, once.
    unsafe { (descriptor.free)(buffer) };
    bytes
}

impl Loaded {
    /// Loads the step library at `path` (once per process) and checks its descriptor.
    pub fn open(path: &str) -> io::Result<Self> {
        static OPEN: Mutex<Vec<(String, Loaded)>> = Mutex::new(Vec::new());
        let mut open = crate::workload::lock(&OPEN);
        if let Some((_, loaded)) = open.iter().find(|(p, _)| p == path) {
            return Ok(*loaded);
        }
        let refused = |why: String| io::Error::new(io::ErrorKind::InvalidData, format!("step library {path}: {why}"));
        let c_path = CString::new(path).map_err(|_| refused("the path holds a NUL byte".to_owned()))?;
        // SAFETY: dlopen with a valid C string; a library's initializers run, as for any plugin.
        let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            // SAFETY: dlerror returns a C string describing the last dlopen error, or null.
            let message = unsafe { libc::dlerror() };
            let message = if message.is_null() {
                "cannot be loaded".to_owned()
            } else {
                // SAFETY: a valid C string from dlerror, copied at once.
                unsafe { std::ffi::CStr::from_ptr(message) }.to_string_lossy().into_owned()
            };
            return Err(refused(message));
        }
        // SAFETY: looking up a symbol in a library just opened (and never closed).
        let symbol = unsafe { libc::dlsym(handle, ENTRY_SYMBOL.as_ptr().cast()) };
        if symbol.is_null() {
            return Err(refused(
                "it has no entry point `harness_steps_entry`: is it a step library made with harness_sdk::export_steps!?"
                    .to_owned(),
            ));
        }
        // SAFETY: the entry point of a step library has this signature.
        let entry: extern "C" fn() -> *const Descriptor = unsafe { std::mem::transmute(symbol) };
        let pointer = entry();
        if pointer.is_null() {
            return Err(refused("its entry point returned no descriptor".to_owned()));
        }
        // The fields before `size` never move: read them before trusting the rest.
        // SAFETY: the entry point returned a pointer to its static descriptor.
        let (magic, version, size) = unsafe { ((*pointer).magic, (*pointer).abi_version, (*pointer).size) };
        if magic != MAGIC {
            return Err(refused("its descriptor has the wrong magic number".to_owned()));
        }
        if version != ABI_VERSION {
            return Err(refused(format!(
                "it was built for step ABI version {version}, this harness speaks {ABI_VERSION}: rebuild it against this SDK"
            )));
        }
        if size as usize != size_of::<Descriptor>() {
            return Err(refused(format!("its descriptor is {size} bytes, expected {}", size_of::<Descriptor>())));
        }
        // SAFETY: checked above; static data of a library that is never unloaded.
        let loaded = Loaded { descriptor: unsafe { &*pointer } };
        open.push((path.to_owned(), loaded));
        Ok(loaded)
    }

    /// The names of the library's functions, in order.
    pub fn functions(self) -> io::Result<Vec<String>> {
        let mut out = Buffer::empty();
        // SAFETY: a checked descriptor's function, with a writable buffer.
        let status = unsafe { (self.descriptor.functions)(&raw mut out) };
        let bytes = take(self.descriptor, out);
        if status != STATUS_OK {
            return Err(io::Error::other(String::from_utf8_lossy(&bytes).into_owned()));
        }
        serde_json::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// This thread's state for the library, made by its `init` on the first call.
    fn state(self, seed: u64) -> io::Result<*mut c_void> {
        thread_local! {
            static STATES: RefCell<HashMap<usize, usize>> = RefCell::new(HashMap::new());
        }
        let key = std::ptr::from_ref(self.descriptor) as usize;
        if let Some(state) = STATES.with(|s| s.borrow().get(&key).copied()) {
            return Ok(state as *mut c_void);
        }
        let mut state = std::ptr::null_mut();
        let mut out = Buffer::empty();
        // SAFETY: a checked descriptor's function, with writable out-parameters.
        let status = unsafe { (self.descriptor.init)(crate::worker::index(), seed, &raw mut state, &raw mut out) };
        let bytes = take(self.descriptor, out);
        if status != STATUS_OK {
            let what = if status == STATUS_PANIC { "panicked" } else { "failed" };
            return Err(io::Error::other(format!("the library's init {what}: {}", String::from_utf8_lossy(&bytes))));
        }
        STATES.with(|s| s.borrow_mut().insert(key, state as usize));
        Ok(state)
    }

    /// Calls function number `function` (`name` in messages) for task `task`; adds the metrics it
    /// recorded to `metrics`.
    pub fn call(
        self,
        function: u32,
        name: &str,
        task: u64,
        seed: u64,
        arg: &str,
        metrics: &mut Vec<(String, f64)>,
    ) -> io::Result<u64> {
        let state = self.state(seed)?;
        let mut value = 0u64;
        let mut out = Buffer::empty();
        let worker = crate::worker::index();
        // SAFETY: a checked descriptor's function; `state` is this thread's, `arg` outlives the call.
        let status = unsafe {
            (self.descriptor.call)(
                state,
                function,
                task,
                worker,
                seed,
                arg.as_ptr(),
                arg.len(),
                &raw mut value,
                &raw mut out,
            )
        };
        let bytes = take(self.descriptor, out);
        match status {
            STATUS_OK => {
                // `null` is a number JSON cannot carry, from a library built with an SDK that let it through.
                let recorded: Vec<(String, Option<f64>)> =
                    serde_json::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                for (metric, number) in recorded {
                    let number = number.ok_or_else(|| {
                        io::Error::other(format!(
                            "task {task}: `{name}` recorded for metric `{metric}` a number that is not finite (NaN or infinite)"
                        ))
                    })?;
                    metrics.push((metric, number));
                }
                Ok(value)
            }
            STATUS_PANIC => {
                Err(io::Error::other(format!("task {task}: `{name}` panicked: {}", String::from_utf8_lossy(&bytes))))
            }
            _ => Err(io::Error::other(format!("task {task}: `{name}` failed: {}", String::from_utf8_lossy(&bytes)))),
        }
    }
}
