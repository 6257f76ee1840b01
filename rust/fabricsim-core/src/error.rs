use std::fmt;

/// Every failure the core reports. The binding maps each kind to one Python exception class.
#[derive(Debug, Clone, PartialEq)]
pub enum CoreError {
    /// An argument is malformed; `what` names it.
    InvalidArgument { what: String, why: String },
    /// No path between two nodes (indices into the network's nodes).
    Unreachable { src: usize, dst: usize },
    /// Flow dependencies contain a cycle; `flow` is a flow on it.
    DependencyCycle { flow: usize },
    /// The caller asked to stop (Ctrl-C).
    Interrupted,
    /// An allocation failed: `bytes` more were needed for `what`.
    OutOfMemory { what: String, bytes: usize },
    /// A run used up its work budget (re-rated flows); the Monte Carlo reports such a sample
    /// as saturated, it does not leave the core.
    WorkBudget,
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreError::InvalidArgument { what, why } => write!(f, "{what}: {why}"),
            CoreError::Unreachable { src, dst } => {
                write!(f, "no path from node {src} to node {dst}")
            }
            CoreError::DependencyCycle { flow } => {
                write!(f, "flow dependencies contain a cycle through flow {flow}")
            }
            CoreError::Interrupted => write!(f, "interrupted"),
            CoreError::OutOfMemory { what, bytes } => write!(
                f,
                "out of memory: allocating {bytes} more bytes for {what} failed"
            ),
            CoreError::WorkBudget => write!(f, "the run used up its work budget"),
        }
    }
}

impl std::error::Error for CoreError {}

pub type Result<T> = std::result::Result<T, CoreError>;

pub(crate) fn invalid(what: impl Into<String>, why: impl Into<String>) -> CoreError {
    CoreError::InvalidArgument {
        what: what.into(),
        why: why.into(),
    }
}

/// `CoreError::OutOfMemory` for `n` more elements of `T` in `what`.
fn oom<T>(what: &str, n: usize) -> CoreError {
    CoreError::OutOfMemory {
        what: what.to_string(),
        bytes: n.saturating_mul(std::mem::size_of::<T>()),
    }
}

/// Reserve room for `additional` more elements of `v` (named `what` in the error), failing
/// with [`CoreError::OutOfMemory`] instead of aborting the process.
pub(crate) fn reserve<T>(v: &mut Vec<T>, additional: usize, what: &str) -> Result<()> {
    v.try_reserve(additional)
        .map_err(|_| oom::<T>(what, additional))
}

/// Like [`reserve`], for exactly `additional` more elements.
pub(crate) fn reserve_exact<T>(v: &mut Vec<T>, additional: usize, what: &str) -> Result<()> {
    v.try_reserve_exact(additional)
        .map_err(|_| oom::<T>(what, additional))
}

/// An empty vector with room for `n` elements, or [`CoreError::OutOfMemory`].
pub(crate) fn with_capacity<T>(n: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    reserve_exact(&mut v, n, what)?;
    Ok(v)
}

/// `n` copies of `x`, or [`CoreError::OutOfMemory`].
pub(crate) fn filled<T: Clone>(n: usize, x: T, what: &str) -> Result<Vec<T>> {
    let mut v = with_capacity(n, what)?;
    v.resize(n, x);
    Ok(v)
}

/// The concatenation of `parts`, or [`CoreError::OutOfMemory`].
pub(crate) fn concat<T: Copy>(parts: &[&[T]], what: &str) -> Result<Vec<T>> {
    let mut v = with_capacity(parts.iter().map(|p| p.len()).sum(), what)?;
    for p in parts {
        v.extend_from_slice(p);
    }
    Ok(v)
}
