//! Errors of the Windows wire formats. Messages name the part that failed and never carry the
//! input's secrets (a password or token is never echoed).

/// Why a message could not be read or built.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum WmdmError {
    /// The input is larger than the limit for its kind.
    #[error("{what} is larger than {limit} bytes")]
    TooLarge {
        /// What was read.
        what: &'static str,
        /// The limit, bytes.
        limit: usize,
    },
    /// The XML declares a document type (DTD) or entities, which these protocols never use.
    #[error("XML with a document type declaration (DTD) or entity declarations is refused")]
    Dtd,
    /// The text is not well-formed XML (or exceeds the node or depth limits).
    #[error("not well-formed XML: {0}")]
    Xml(String),
    /// Well-formed XML that is not the expected message.
    #[error("{what}: {reason}")]
    Malformed {
        /// Which message or element.
        what: &'static str,
        /// What is wrong, in words.
        reason: String,
    },
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, WmdmError>;

pub(crate) fn malformed(what: &'static str, reason: impl Into<String>) -> WmdmError {
    WmdmError::Malformed {
        what,
        reason: reason.into(),
    }
}
