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
