//! One logging shim: with the `log` feature the macros forward to the `log` crate,
//! without it they compile to nothing (their arguments are still type-checked, so a
//! log line cannot rot unseen). Same idea as `fmt.rs` in the embassy crates.
#![allow(unused_macros)]

macro_rules! trace {
    ($($arg:tt)*) => {{
        #[cfg(feature = "log")]
        ::log::trace!($($arg)*);
        #[cfg(not(feature = "log"))]
        { let _ = || { let _ = ::core::format_args!($($arg)*); }; }
    }};
}

macro_rules! debug {
    ($($arg:tt)*) => {{
        #[cfg(feature = "log")]
        ::log::debug!($($arg)*);
        #[cfg(not(feature = "log"))]
        { let _ = || { let _ = ::core::format_args!($($arg)*); }; }
    }};
}

macro_rules! warning {
    ($($arg:tt)*) => {{
        #[cfg(feature = "log")]
        ::log::warn!($($arg)*);
        #[cfg(not(feature = "log"))]
        { let _ = || { let _ = ::core::format_args!($($arg)*); }; }
    }};
}

#[allow(unused_imports)]
pub(crate) use {debug, trace, warning};
