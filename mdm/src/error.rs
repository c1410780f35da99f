//! Typed errors of the wire formats.
//!
//! Messages name the structure and the kind of fault, never the input bytes: SCEP and MDM
//! messages carry challenges, keys and push secrets, and a parser error may end up in a log.

/// Why a message could not be built, parsed, verified or decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MdmError {
    /// The input is larger than the limit for this structure.
    #[error("{what} is larger than {limit} bytes")]
    TooLarge {
        /// The structure.
        what: &'static str,
        /// The limit, bytes.
        limit: usize,
    },
    /// The input holds more elements than the limit for this structure.
    #[error("{what} has more than {limit} entries")]
    TooMany {
        /// The structure.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The input is not a valid encoding of this structure.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// The structure.
        what: &'static str,
        /// The kind of fault.
        reason: &'static str,
    },
    /// An object identifier (content type, algorithm) is not the one expected here.
    #[error("unexpected object identifier in {what}")]
    UnexpectedOid {
        /// The structure.
        what: &'static str,
    },
    /// A valid feature this crate does not implement (or refuses, such as keys under 2048 bits).
    #[error("unsupported {what}")]
    Unsupported {
        /// The feature.
        what: &'static str,
    },
    /// A required element is absent.
    #[error("missing {what}")]
    Missing {
        /// The element.
        what: &'static str,
    },
    /// A signature does not verify.
    #[error("the signature does not verify")]
    BadSignature,
    /// The content does not match the signed `messageDigest`.
    #[error("the content does not match the signed message digest")]
    DigestMismatch,
    /// An envelope cannot be decrypted (wrong key, bad padding, corrupt ciphertext). One error
    /// for all causes, so that it is no padding oracle.
    #[error("the envelope cannot be decrypted")]
    Decrypt,
    /// An envelope names no recipient matching the given certificate.
    #[error("the envelope is not addressed to this certificate")]
    NotForUs,
    /// A cryptographic primitive failed (key generation, signing).
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
}

/// Result with [`MdmError`].
pub type Result<T, E = MdmError> = std::result::Result<T, E>;

/// A [`MdmError::Malformed`].
pub(crate) fn malformed(what: &'static str, reason: &'static str) -> MdmError {
    MdmError::Malformed { what, reason }
}

/// Maps a DER error to [`MdmError::Malformed`] with its kind only (no positions, no bytes).
pub(crate) fn der_err(what: &'static str) -> impl Fn(der::Error) -> MdmError {
    move |e| {
        use der::ErrorKind as K;
        let reason = match e.kind() {
            K::Incomplete { .. } => "truncated",
            K::TrailingData { .. } => "trailing data",
            K::TagUnexpected { .. } | K::TagUnknown { .. } | K::TagNumberInvalid => "unexpected tag",
            K::Length { .. } | K::Overlength | K::Overflow => "bad length",
            K::Noncanonical { .. } => "non-canonical encoding",
            K::SetOrdering | K::SetDuplicate => "set out of DER order",
            K::OidMalformed | K::OidUnknown { .. } => "malformed object identifier",
            K::DateTime => "invalid time",
            _ => "invalid value",
        };
        MdmError::Malformed { what, reason }
    }
}
