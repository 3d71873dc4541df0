//! Why bytes are not a canonical encoding.

/// Bytes that do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended inside a field.
    #[error("truncated input: {field} needs {needed} bytes, {remaining} left")]
    UnexpectedEnd {
        /// The field being read.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// Bytes were left after the value.
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
    /// A tag byte names no variant.
    #[error("invalid {field} tag {tag}")]
    InvalidTag {
        /// The field being read.
        field: &'static str,
        /// The tag found.
        tag: u8,
    },
    /// A length prefix exceeds the field's bound.
    #[error("{field} length {len} exceeds the maximum {max}")]
    TooLong {
        /// The field being read.
        field: &'static str,
        /// The length found.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A field's value is out of its domain.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field being read.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}
