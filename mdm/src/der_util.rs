//! Bounded, order-tolerant walking of DER structures.
//!
//! The RustCrypto types decode `SET OF` strictly (elements in DER order). Peers do not all sort
//! their sets (Go's `encoding/asn1` writes certificate sets and CSR attributes in insertion
//! order), so the outer layers of CMS and CSRs are walked element by element here, with a limit
//! on every count, and the typed decoders are used for the leaves.

use crate::error::{der_err, malformed, MdmError, Result};
use der::asn1::{AnyRef, ObjectIdentifier};
use der::Tagged as _;
use der::{Decode, Encode, Reader, SliceReader, Tag, TagNumber};

/// Most attributes read from one attribute set.
pub(crate) const MAX_ATTRIBUTES: usize = 32;
/// Most values read from one attribute.
pub(crate) const MAX_ATTRIBUTE_VALUES: usize = 4;

/// The elements of a constructed value (`bytes` is its content), at most `max`.
pub(crate) fn elements<'a>(bytes: &'a [u8], what: &'static str, max: usize) -> Result<Vec<AnyRef<'a>>> {
    let mut reader = SliceReader::new(bytes).map_err(der_err(what))?;
    let mut out = Vec::new();
    while !reader.is_finished() {
        if out.len() == max {
            return Err(MdmError::TooMany { what, limit: max });
        }
        out.push(reader.decode::<AnyRef<'a>>().map_err(der_err(what))?);
    }
    Ok(out)
}

/// Exactly one TLV filling `bytes`.
pub(crate) fn single<'a>(bytes: &'a [u8], what: &'static str) -> Result<AnyRef<'a>> {
    AnyRef::from_der(bytes).map_err(der_err(what))
}

/// Checks the tag of an element.
pub(crate) fn expect_tag(any: &AnyRef<'_>, tag: Tag, what: &'static str) -> Result<()> {
    if any.tag() == tag {
        Ok(())
    } else {
        Err(malformed(what, "unexpected tag"))
    }
}

/// A context-specific tag `[n]`.
pub(crate) fn ctx(number: u8, constructed: bool) -> Tag {
    Tag::ContextSpecific {
        constructed,
        number: TagNumber::new(number),
    }
}

/// The DER bytes of one element (tag, length and content).
pub(crate) fn tlv(any: &AnyRef<'_>, what: &'static str) -> Result<Vec<u8>> {
    any.to_der().map_err(der_err(what))
}

/// Decodes an element as a typed value.
pub(crate) fn decode<'a, T: der::Choice<'a> + der::DecodeValue<'a>>(
    any: &AnyRef<'a>,
    what: &'static str,
) -> Result<T> {
    any.decode_as::<T>().map_err(der_err(what))
}

/// The bytes of an OCTET STRING, primitive or (one level of) constructed definite-length chunks,
/// whatever its tag (so `[0] IMPLICIT OCTET STRING` works too), at most `limit` bytes.
pub(crate) fn octets(any: &AnyRef<'_>, what: &'static str, limit: usize) -> Result<Vec<u8>> {
    let out = if any.tag().is_constructed() {
        let mut out = Vec::new();
        for chunk in elements(any.value(), what, 4096)? {
            expect_tag(&chunk, Tag::OctetString, what)?;
            if out.len() + chunk.value().len() > limit {
                return Err(MdmError::TooLarge { what, limit });
            }
            out.extend_from_slice(chunk.value());
        }
        out
    } else {
        any.value().to_vec()
    };
    if out.len() > limit {
        return Err(MdmError::TooLarge { what, limit });
    }
    Ok(out)
}

/// One attribute of a SET OF Attribute: its type and the DER of each value.
#[derive(Clone)]
pub(crate) struct RawAttribute<'a> {
    /// `attrType`.
    pub oid: ObjectIdentifier,
    /// `attrValues`, each one TLV.
    pub values: Vec<AnyRef<'a>>,
}

/// Parses the content of a SET OF Attribute (in any order), bounded.
pub(crate) fn attributes<'a>(content: &'a [u8], what: &'static str) -> Result<Vec<RawAttribute<'a>>> {
    let mut out = Vec::new();
    for attr in elements(content, what, MAX_ATTRIBUTES)? {
        expect_tag(&attr, Tag::Sequence, what)?;
        let parts = elements(attr.value(), what, 2)?;
        let [oid, values] = parts.as_slice() else {
            return Err(malformed(what, "attribute is not a type and a value set"));
        };
        let oid: ObjectIdentifier = decode(oid, what)?;
        expect_tag(values, Tag::Set, what)?;
        let values = elements(values.value(), what, MAX_ATTRIBUTE_VALUES)?;
        if values.is_empty() {
            return Err(malformed(what, "attribute without a value"));
        }
        if out.iter().any(|a: &RawAttribute<'_>| a.oid == oid) {
            return Err(malformed(what, "attribute repeated"));
        }
        out.push(RawAttribute { oid, values });
    }
    Ok(out)
}

/// The single value of attribute `oid`, if present.
pub(crate) fn attribute<'a, 'b>(
    attrs: &'b [RawAttribute<'a>],
    oid: ObjectIdentifier,
) -> Option<&'b AnyRef<'a>> {
    attrs.iter().find(|a| a.oid == oid).and_then(|a| a.values.first())
}
