//! Catching panics quietly at a boundary, for the host and for plugins alike.
//!
//! Every plugin `.so` and `libhepinfer.so` carry their own copy of Rust's standard library, so
//! each has its own panic hook; the default one prints the message (and, with `RUST_BACKTRACE`,
//! a backtrace) to stderr before `catch_unwind` sees it. A job that feeds 20,000 bad events to a
//! plugin would fill its log file that way. [`catch_quiet`] installs, once per copy of std, a hook
//! that stays silent for panics raised inside a `catch_quiet` region on the current thread (it
//! records where they happened instead) and hands every other panic to the hook that was there
//! before. The message and location then travel as an error to the caller, which logs it.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    // Depth of nested `catch_quiet` regions on this thread.
    static QUIET: Cell<u32> = const { Cell::new(0) };
    // Location of the last panic caught quietly on this thread.
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

fn install_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) > 0 {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                LOCATION.with(|l| *l.borrow_mut() = at);
            } else {
                previous(info);
            }
        }));
    });
}

/// The text of a panic payload (`panic!("...")` gives a `&str` or a `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Runs `f`, catching a panic without printing it: `Err` holds the panic's message and, when
/// known, its location (`"index out of bounds ... (at src/lib.rs:42)"`).
pub fn catch_quiet<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    install_hook();
    QUIET.with(|q| q.set(q.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(q.get() - 1));
    result.map_err(|payload| {
        let message = panic_message(payload.as_ref());
        match LOCATION.with(|l| l.borrow_mut().take()) {
            Some(at) => format!("{message} (at {at})"),
            None => message,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catches_with_message_and_location() {
        let e = catch_quiet(|| -> u32 { panic!("boom {}", 7) }).unwrap_err();
        assert!(e.starts_with("boom 7 (at "), "{e}");
        assert!(e.contains("panic.rs:"), "{e}");
        assert_eq!(catch_quiet(|| 5).unwrap(), 5);
        let nested = catch_quiet(|| catch_quiet(|| panic!("inner")).unwrap_err()).unwrap();
        assert!(nested.starts_with("inner"), "{nested}");
    }

    #[test]
    fn payloads() {
        assert_eq!(panic_message(&"a"), "a");
        assert_eq!(panic_message(&String::from("b")), "b");
        assert_eq!(panic_message(&3u8), "non-string panic payload");
    }
}
