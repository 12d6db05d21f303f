//! Build errors: one line, naming the Dockerfile line when there is one
//! (`Dockerfile:7: unknown instruction "RUNN"`).

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A problem with one instruction (parse or execution).
    #[error("{file}:{line}: {reason}")]
    Line {
        file: String,
        line: usize,
        reason: String,
    },
    /// A problem not tied to a line (context, options, output).
    #[error("{0}")]
    Other(String),
    #[error(transparent)]
    Image(#[from] crate::Error),
}

pub type Result<T, E = BuildError> = std::result::Result<T, E>;

impl BuildError {
    pub fn at(file: &str, line: usize, reason: impl std::fmt::Display) -> Self {
        BuildError::Line {
            file: file.to_string(),
            line,
            reason: reason.to_string(),
        }
    }
    pub fn other(reason: impl std::fmt::Display) -> Self {
        BuildError::Other(reason.to_string())
    }
}

/// Attach a Dockerfile line to any displayable error.
pub(crate) trait AtLine<T> {
    fn line(self, file: &str, line: usize) -> Result<T>;
}

impl<T, E: std::fmt::Display> AtLine<T> for std::result::Result<T, E> {
    fn line(self, file: &str, line: usize) -> Result<T> {
        self.map_err(|e| BuildError::at(file, line, e))
    }
}
