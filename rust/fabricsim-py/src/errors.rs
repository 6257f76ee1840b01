//! Errors across the boundary: each core error kind raises one class of
//! `fabricsim.exceptions` (the hierarchy is defined in Python, once; these are its types,
//! imported on first use).

use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::import_exception;
use pyo3::prelude::*;

use fabricsim_core::CoreError;

import_exception!(fabricsim.exceptions, InvalidArgumentError);
import_exception!(fabricsim.exceptions, UnknownNameError);
import_exception!(fabricsim.exceptions, UnreachableError);
import_exception!(fabricsim.exceptions, DependencyCycleError);
import_exception!(fabricsim.exceptions, InternalError);
import_exception!(fabricsim.exceptions, ResourceError);

/// `err` with extra attributes on its exception (or the error setting them raised).
fn with_attrs(py: Python<'_>, err: PyErr, attrs: &[(&str, usize)]) -> PyErr {
    let value = err.value(py);
    for &(name, v) in attrs {
        if let Err(e) = value.setattr(name, v) {
            return e;
        }
    }
    err
}

/// The Python exception for a core error.
pub(crate) fn to_pyerr(py: Python<'_>, err: CoreError) -> PyErr {
    let msg = err.to_string();
    match err {
        CoreError::InvalidArgument { .. } => InvalidArgumentError::new_err(msg),
        CoreError::Unreachable { src, dst } => with_attrs(
            py,
            UnreachableError::new_err(msg),
            &[("src_index", src), ("dst_index", dst)],
        ),
        CoreError::DependencyCycle { flow } => with_attrs(
            py,
            DependencyCycleError::new_err(msg),
            &[("flow_index", flow)],
        ),
        CoreError::Interrupted => PyKeyboardInterrupt::new_err("fabricsim run interrupted"),
        CoreError::OutOfMemory { bytes, .. } => with_attrs(
            py,
            ResourceError::new_err(format!(
                "{msg}: the run needs more memory than the process can obtain (the estimate \
                 before the run did not foresee it); route with ECMP instead of spraying \
                 (routing='ecmp'), use fewer ranks, GPUs, samples or threads, or merge flows (a \
                 collective's max_flows=)"
            )),
            &[("estimate_bytes", bytes)],
        ),
        CoreError::WorkBudget => {
            InternalError::new_err("a work budget ran out outside a Monte Carlo sample")
        }
    }
}

/// A core result as a Python one.
pub(crate) fn parse<T>(py: Python<'_>, r: Result<T, CoreError>) -> PyResult<T> {
    r.map_err(|e| to_pyerr(py, e))
}

/// `fabricsim.InvalidArgumentError(msg)`.
pub(crate) fn invalid_argument(msg: String) -> PyErr {
    InvalidArgumentError::new_err(msg)
}

/// `fabricsim.UnknownNameError(msg)`.
pub(crate) fn unknown_name(msg: String) -> PyErr {
    UnknownNameError::new_err(msg)
}

/// `fabricsim.InternalError(msg)`: a bug in fabricsim (a Rust panic, a lost worker).
pub(crate) fn internal_error(msg: String) -> PyErr {
    InternalError::new_err(msg)
}
