//! Status codes, the thread's last error message, and the guard that keeps
//! panics from crossing the C boundary.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{self, AssertUnwindSafe};

/// What a call did. Zero and positive: it worked; negative: an error, whose
/// message `mica_error_message()` gives.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
// The C names are MICA_OK, MICA_ERROR_...: C enumerators share one namespace.
#[allow(clippy::enum_variant_names)]
pub enum MicaStatus {
    /// Done.
    MicaOk = 0,
    /// Nothing to give now: send more input, or flush.
    MicaAgain = 1,
    /// Flushed and drained: nothing more will come.
    MicaEnd = 2,
    /// A pointer that must not be null was null.
    MicaErrorNull = -1,
    /// An unknown setting, a value it does not accept, or settings that
    /// do not go together.
    MicaErrorSetting = -2,
    /// A frame that does not match the settings: its size, bit depth,
    /// strides or sample values.
    MicaErrorFrame = -3,
    /// The data is not a valid Mica stream (malformed, truncated, or using
    /// something this decoder does not support).
    MicaErrorStream = -4,
    /// A call out of order: sending after a flush, or after an error that
    /// ended the object's work.
    MicaErrorState = -5,
    /// A bug in Mica was caught (a panic); the encoder or decoder it
    /// happened in refuses further work.
    MicaErrorInternal = -6,
}

/// An error on its way to the caller.
#[derive(Debug)]
pub(crate) struct CError {
    pub status: MicaStatus,
    pub message: String,
}

impl CError {
    pub fn new(status: MicaStatus, message: impl Into<String>) -> CError {
        CError {
            status,
            message: message.into(),
        }
    }

    pub fn null(what: &str) -> CError {
        CError::new(MicaStatus::MicaErrorNull, format!("{what} is null"))
    }
}

/// How an error of the codec maps to a status: settings problems are
/// `setting` (or `frame`, for the frames sent), stream problems `stream`.
pub(crate) fn codec_error(e: mica::Error, config_status: MicaStatus) -> CError {
    let status = match e {
        mica::Error::Config(_) => config_status,
        mica::Error::Bitstream(_) => MicaStatus::MicaErrorStream,
        // Errors added later: the stream is the likeliest culprit.
        _ => MicaStatus::MicaErrorStream,
    };
    CError::new(status, e.to_string())
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    // A message never holds a NUL of its own; should one, cut it there
    // rather than lose the message.
    let message = message.split('\0').next().unwrap_or_default();
    let message = CString::new(message).unwrap_or_default();
    // (During thread teardown the message is lost rather than panic.)
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = message);
}

/// The message of the latest call on this thread that returned an error
/// (empty if none did): a NUL-terminated string owned by the library,
/// valid until the next call on this thread that returns an error.
#[no_mangle]
pub extern "C" fn mica_error_message() -> *const c_char {
    LAST_ERROR
        .try_with(|e| e.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// The error a caught panic becomes; the payload is dropped inside a guard
/// of its own (a payload whose drop panics must not unwind into C).
pub(crate) fn internal_error(payload: Box<dyn std::any::Any + Send>) -> CError {
    let message = panic_message(payload.as_ref());
    // A second panic, from the payload's drop, is caught and ignored.
    let _ = panic::catch_unwind(AssertUnwindSafe(|| drop(payload)));
    CError::new(
        MicaStatus::MicaErrorInternal,
        format!("internal error (a bug in Mica; please report it): {message}"),
    )
}

/// Runs `f`, turning its error or a panic into a status and the thread's
/// message.
pub(crate) fn guard(f: impl FnOnce() -> Result<MicaStatus, CError>) -> MicaStatus {
    let result = panic::catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|payload| Err(internal_error(payload)));
    match result {
        Ok(status) => status,
        Err(e) => {
            set_last_error(&e.message);
            e.status
        }
    }
}

/// An encoder or decoder that a caught panic may have left half-changed.
pub(crate) trait Poisonable {
    /// Set once a panic was caught in the object.
    fn poisoned(&mut self) -> &mut bool;
}

/// Runs `f` on the object behind `ptr`: null is an error, a poisoned object
/// refuses, and a panic inside `f` poisons it.
///
/// # Safety
/// `ptr` is null or points to a live `T` that nothing else uses meanwhile.
pub(crate) unsafe fn with_object<T: Poisonable>(
    ptr: *mut T,
    what: &str,
    f: impl FnOnce(&mut T) -> Result<MicaStatus, CError>,
) -> MicaStatus {
    guard(|| {
        // SAFETY: the caller promises `ptr` is null or a live, unshared `T`.
        let object = unsafe { ptr.as_mut() }.ok_or_else(|| CError::null(what))?;
        if *object.poisoned() {
            return Err(CError::new(
                MicaStatus::MicaErrorInternal,
                format!("{what} stopped working after an internal error: free it"),
            ));
        }
        match panic::catch_unwind(AssertUnwindSafe(|| f(object))) {
            Ok(result) => result,
            Err(payload) => {
                *object.poisoned() = true;
                Err(internal_error(payload))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Object {
        poisoned: bool,
        calls: u32,
    }

    impl Poisonable for Object {
        fn poisoned(&mut self) -> &mut bool {
            &mut self.poisoned
        }
    }

    fn message() -> String {
        // SAFETY: the thread's message is a NUL-terminated string.
        unsafe { std::ffi::CStr::from_ptr(mica_error_message()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_an_error_and_the_object_refuses_afterwards() {
        let mut object = Object {
            poisoned: false,
            calls: 0,
        };
        let ptr: *mut Object = &mut object;
        let call = |f: &dyn Fn(&mut Object) -> Result<MicaStatus, CError>| {
            // SAFETY: `ptr` points to `object`, used by nothing else meanwhile.
            unsafe { with_object(ptr, "the object", |o| f(o)) }
        };
        let count = |o: &mut Object| {
            o.calls += 1;
            Ok(MicaStatus::MicaOk)
        };
        assert_eq!(call(&count), MicaStatus::MicaOk);
        let status = call(&|_| panic!("index out of bounds in a kernel"));
        assert_eq!(status, MicaStatus::MicaErrorInternal);
        assert!(
            message().contains("index out of bounds in a kernel"),
            "{}",
            message()
        );
        assert_eq!(call(&count), MicaStatus::MicaErrorInternal);
        assert!(message().contains("stopped working after an internal error"));
        // SAFETY: nothing uses `object` any more.
        assert_eq!(
            unsafe { (*ptr).calls },
            1,
            "the poisoned object was not called"
        );
        // Errors set the message; a null object is named.
        // SAFETY: a null pointer is what is tested.
        let null = unsafe {
            with_object(std::ptr::null_mut::<Object>(), "the thing", |_| {
                Ok(MicaStatus::MicaOk)
            })
        };
        assert_eq!(null, MicaStatus::MicaErrorNull);
        assert_eq!(message(), "the thing is null");
        // A plain panic in a guard.
        assert_eq!(guard(|| panic!("boom")), MicaStatus::MicaErrorInternal);
    }
}
