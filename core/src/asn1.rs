//! A small, strict DER reader for the parts of X.509 (RFC 5280) the agent reads: certificates
//! (names, validity, public key, basic constraints) and the building blocks of CMS (RFC 5652),
//! which [`crate::profile`] reads with it.
//!
//! Why not the `der` / `x509-cert` / `cms` crates: they are complete ASN.1 codecs (owned
//! types, encoders, every extension) and cost about 0.2 MiB of the mobile library, where the
//! agent only reads a handful of fields. This reader borrows slices of the input and:
//! - accepts definite lengths only (no BER indefinite form), in their minimal encoding, up to
//!   16 MiB, and single-byte tags; anything else is a [`DerError`];
//! - never recurses on input: every structure is read at a fixed depth;
//! - keeps the exact bytes of what is signed (`tbsCertificate`, names, the public key), so
//!   signatures are checked over the bytes received.
//!
//! The reference server still builds certificates and CMS with the full crates; the tests
//! compare both readers on the same (and on corrupted) certificates.

use std::fmt::Write as _;

/// Malformed or unsupported DER. Names the field being read, never any input bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DerError(pub &'static str);

impl std::fmt::Display for DerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed DER in {}", self.0)
    }
}

impl std::error::Error for DerError {}

/// DER tags (one byte: class, constructed bit, number).
pub mod tag {
    /// BOOLEAN.
    pub const BOOLEAN: u8 = 0x01;
    /// INTEGER.
    pub const INTEGER: u8 = 0x02;
    /// BIT STRING.
    pub const BIT_STRING: u8 = 0x03;
    /// OCTET STRING (primitive).
    pub const OCTET_STRING: u8 = 0x04;
    /// OBJECT IDENTIFIER.
    pub const OID: u8 = 0x06;
    /// UTF8String.
    pub const UTF8_STRING: u8 = 0x0c;
    /// PrintableString.
    pub const PRINTABLE_STRING: u8 = 0x13;
    /// TeletexString (T61), read as Latin-1.
    pub const TELETEX_STRING: u8 = 0x14;
    /// IA5String.
    pub const IA5_STRING: u8 = 0x16;
    /// UTCTime.
    pub const UTC_TIME: u8 = 0x17;
    /// GeneralizedTime.
    pub const GENERALIZED_TIME: u8 = 0x18;
    /// UniversalString (UTF-32BE).
    pub const UNIVERSAL_STRING: u8 = 0x1c;
    /// BMPString (UTF-16BE).
    pub const BMP_STRING: u8 = 0x1e;
    /// SEQUENCE / SEQUENCE OF.
    pub const SEQUENCE: u8 = 0x30;
    /// SET / SET OF.
    pub const SET: u8 = 0x31;

    /// `[n]` constructed context-specific tag (EXPLICIT, or IMPLICIT over a constructed type).
    pub const fn context(n: u8) -> u8 {
        0xa0 | n
    }

    /// `[n]` primitive context-specific tag (IMPLICIT over a primitive type).
    pub const fn context_primitive(n: u8) -> u8 {
        0x80 | n
    }
}

/// Object identifiers, as the content bytes of their DER encoding.
pub mod oid {
    /// `id-data` 1.2.840.113549.1.7.1.
    pub const DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
    /// `id-signedData` 1.2.840.113549.1.7.2.
    pub const SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
    /// `id-contentType` 1.2.840.113549.1.9.3.
    pub const CONTENT_TYPE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03];
    /// `id-messageDigest` 1.2.840.113549.1.9.4.
    pub const MESSAGE_DIGEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];
    /// `id-sha256` 2.16.840.1.101.3.4.2.1.
    pub const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    /// `id-sha384` 2.16.840.1.101.3.4.2.2.
    pub const SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
    /// `id-sha512` 2.16.840.1.101.3.4.2.3.
    pub const SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];
    /// `ecdsa-with-SHA256` 1.2.840.10045.4.3.2.
    pub const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    /// `ecdsa-with-SHA384` 1.2.840.10045.4.3.3.
    pub const ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
    /// `id-ecPublicKey` 1.2.840.10045.2.1.
    pub const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    /// `secp256r1` 1.2.840.10045.3.1.7.
    pub const SECP256R1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    /// `secp384r1` 1.3.132.0.34.
    pub const SECP384R1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
    /// `rsaEncryption` 1.2.840.113549.1.1.1.
    pub const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    /// `sha256WithRSAEncryption` 1.2.840.113549.1.1.11.
    pub const SHA256_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
    /// `sha384WithRSAEncryption` 1.2.840.113549.1.1.12.
    pub const SHA384_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
    /// `sha512WithRSAEncryption` 1.2.840.113549.1.1.13.
    pub const SHA512_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
    /// `id-ce-basicConstraints` 2.5.29.19.
    pub const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
}

/// One element: its tag, its content and its whole encoding (header included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag byte.
    pub tag: u8,
    /// The content octets.
    pub value: &'a [u8],
    /// Tag, length and content, exactly as received.
    pub raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// A reader over the content of a constructed element.
    pub fn reader(&self) -> Reader<'a> {
        Reader::new(self.value)
    }
}

/// Reads DER elements one after the other from a slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

/// Longest content accepted: lengths take at most three bytes.
const MAX_LENGTH_BYTES: usize = 3;

impl<'a> Reader<'a> {
    /// A reader over `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Self { rest: input }
    }

    /// True when everything was read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The tag of the next element, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads the next element, whatever its tag. `what` names it in errors.
    pub fn any(&mut self, what: &'static str) -> Result<Tlv<'a>, DerError> {
        let err = DerError(what);
        let (&tag, after_tag) = self.rest.split_first().ok_or(err)?;
        if tag & 0x1f == 0x1f {
            // High tag numbers do not occur in the structures read here.
            return Err(err);
        }
        let (&first, after_first) = after_tag.split_first().ok_or(err)?;
        let (len, after_len) = if first < 0x80 {
            (usize::from(first), after_first)
        } else {
            let n = usize::from(first & 0x7f);
            // 0: indefinite length (BER only); more than 3 bytes: over 16 MiB.
            if n == 0 || n > MAX_LENGTH_BYTES || after_first.len() < n {
                return Err(err);
            }
            let (bytes, after) = after_first.split_at(n);
            let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            // Minimal encoding: no leading zero byte, long form only from 128 on.
            if bytes.first() == Some(&0) || len < 0x80 {
                return Err(err);
            }
            (len, after)
        };
        if after_len.len() < len {
            return Err(err);
        }
        let header = self.rest.len() - after_len.len();
        let (raw, rest) = self.rest.split_at(header + len);
        self.rest = rest;
        Ok(Tlv {
            tag,
            value: &after_len[..len],
            raw,
        })
    }

    /// Reads the next element, which must have `tag`.
    pub fn expect(&mut self, tag: u8, what: &'static str) -> Result<Tlv<'a>, DerError> {
        let tlv = self.any(what)?;
        if tlv.tag == tag {
            Ok(tlv)
        } else {
            Err(DerError(what))
        }
    }

    /// Reads the next element if it has `tag`.
    pub fn optional(&mut self, tag: u8, what: &'static str) -> Result<Option<Tlv<'a>>, DerError> {
        if self.peek_tag() == Some(tag) {
            self.expect(tag, what).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fails unless everything was read (no trailing bytes after a structure).
    pub fn finish(&self, what: &'static str) -> Result<(), DerError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DerError(what))
        }
    }
}

/// Reads one element that must span all of `input`.
pub fn single<'a>(input: &'a [u8], tag: u8, what: &'static str) -> Result<Tlv<'a>, DerError> {
    let mut r = Reader::new(input);
    let tlv = r.expect(tag, what)?;
    r.finish(what)?;
    Ok(tlv)
}

/// The bits of a BIT STRING that holds whole bytes (keys and signatures).
pub fn bit_string_bytes<'a>(tlv: &Tlv<'a>, what: &'static str) -> Result<&'a [u8], DerError> {
    match tlv.value.split_first() {
        Some((0, bits)) if tlv.tag == tag::BIT_STRING => Ok(bits),
        _ => Err(DerError(what)),
    }
}

/// An `AlgorithmIdentifier`: the OID and its parameters, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlgorithmId<'a> {
    /// The algorithm (OID content bytes).
    pub oid: &'a [u8],
    /// The parameters element.
    pub params: Option<Tlv<'a>>,
}

/// Reads an `AlgorithmIdentifier` SEQUENCE.
pub fn algorithm<'a>(r: &mut Reader<'a>, what: &'static str) -> Result<AlgorithmId<'a>, DerError> {
    let mut seq = r.expect(tag::SEQUENCE, what)?.reader();
    let oid = seq.expect(tag::OID, what)?.value;
    let params = if seq.is_empty() {
        None
    } else {
        Some(seq.any(what)?)
    };
    seq.finish(what)?;
    Ok(AlgorithmId { oid, params })
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits(bytes: &[u8]) -> Option<i64> {
    bytes.iter().try_fold(0i64, |acc, b| {
        b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
    })
}

/// A UTCTime (`YYMMDDHHMMSSZ`, years 1950–2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as Unix
/// seconds, in the forms RFC 5280 allows (UTC, seconds, no fraction).
pub fn time(tlv: &Tlv<'_>, what: &'static str) -> Result<i64, DerError> {
    let err = DerError(what);
    let (year, rest) = match (tlv.tag, tlv.value.len()) {
        (tag::UTC_TIME, 13) => {
            let yy = digits(&tlv.value[..2]).ok_or(err)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &tlv.value[2..])
        }
        (tag::GENERALIZED_TIME, 15) => (digits(&tlv.value[..4]).ok_or(err)?, &tlv.value[4..]),
        _ => return Err(err),
    };
    if rest.last() != Some(&b'Z') {
        return Err(err);
    }
    let field = |i: usize| digits(&rest[i..i + 2]).ok_or(err);
    let (month, day, hour, minute, second) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(err),
    };
    if day < 1 || day > month_days || hour > 23 || minute > 59 || second > 59 {
        return Err(err);
    }
    Ok(days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// One attribute of a name: its type (OID content bytes) and its value element.
type NameAttribute<'a> = (&'a [u8], Tlv<'a>);

/// The attributes of a `Name` (SEQUENCE OF SET OF SEQUENCE { OID, value }), RDN by RDN.
fn name_attributes<'a>(name: &Tlv<'a>, what: &'static str) -> Result<Vec<Vec<NameAttribute<'a>>>, DerError> {
    let mut out = Vec::new();
    let mut rdns = name.reader();
    while !rdns.is_empty() {
        let mut set = rdns.expect(tag::SET, what)?.reader();
        if set.is_empty() {
            return Err(DerError(what));
        }
        let mut rdn = Vec::new();
        while !set.is_empty() {
            let mut atv = set.expect(tag::SEQUENCE, what)?.reader();
            let oid = atv.expect(tag::OID, what)?.value;
            let value = atv.any(what)?;
            atv.finish(what)?;
            rdn.push((oid, value));
        }
        out.push(rdn);
    }
    Ok(out)
}

/// Checks the shape of a `Name`.
fn check_name(name: &Tlv<'_>, what: &'static str) -> Result<(), DerError> {
    name_attributes(name, what).map(drop)
}

/// The dotted form of an OID's content bytes (`None` if malformed).
pub fn oid_to_string(bytes: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    let mut started = false;
    for &b in bytes {
        if !started && b == 0x80 {
            return None; // non-minimal arc
        }
        started = b & 0x80 != 0;
        acc = acc.checked_mul(128)?.checked_add(u64::from(b & 0x7f))?;
        if b & 0x80 == 0 {
            arcs.push(acc);
            acc = 0;
        }
    }
    if started || arcs.is_empty() {
        return None;
    }
    let first = arcs[0];
    let (a, b) = match first {
        0..=39 => (0, first),
        40..=79 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut out = format!("{a}.{b}");
    for arc in &arcs[1..] {
        let _ = write!(out, ".{arc}");
    }
    Some(out)
}

/// Short names of the usual name attributes (those of RFC 4514 plus a few common ones).
fn attribute_name(oid: &[u8]) -> Option<&'static str> {
    Some(match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x05] => "serialNumber",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x09] => "STREET",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress",
        _ => return None,
    })
}

/// The text of a directory string, if `tlv` is one of the string types.
fn directory_string(tlv: &Tlv<'_>) -> Option<String> {
    match tlv.tag {
        tag::UTF8_STRING | tag::PRINTABLE_STRING | tag::IA5_STRING => {
            std::str::from_utf8(tlv.value).ok().map(str::to_owned)
        }
        tag::TELETEX_STRING => Some(tlv.value.iter().map(|b| char::from(*b)).collect()),
        tag::BMP_STRING if tlv.value.len() % 2 == 0 => {
            let units = tlv
                .value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units).collect::<Result<String, _>>().ok()
        }
        tag::UNIVERSAL_STRING if tlv.value.len() % 4 == 0 => tlv
            .value
            .chunks_exact(4)
            .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        _ => None,
    }
}

/// Appends `value` escaped as RFC 4514 asks.
fn push_escaped(out: &mut String, value: &str) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        if c == '\0' {
            out.push_str("\\00");
        } else {
            out.push(c);
        }
    }
}

/// A `Name` in the RFC 4514 string form (`CN=…,O=…`: last RDN first), for display.
pub fn name_to_string(name: &[u8]) -> String {
    let Ok(rdns) = single(name, tag::SEQUENCE, "name").and_then(|seq| name_attributes(&seq, "name")) else {
        return String::from("(unreadable name)");
    };
    let mut parts: Vec<String> = rdns
        .iter()
        .map(|rdn| {
            let atvs: Vec<String> = rdn
                .iter()
                .map(|(oid, value)| attribute_to_string(oid, value))
                .collect();
            atvs.join("+")
        })
        .collect();
    parts.reverse();
    parts.join(",")
}

/// `type=value`: known attributes with a string value as text; anything else, as RFC 4514 2.4
/// asks, as the dotted OID and `#` with the hex of the value's encoding.
fn attribute_to_string(oid: &[u8], value: &Tlv<'_>) -> String {
    let short = attribute_name(oid);
    let mut part = short
        .map(str::to_owned)
        .or_else(|| oid_to_string(oid))
        .unwrap_or_else(|| String::from("?"));
    part.push('=');
    match directory_string(value).filter(|_| short.is_some()) {
        Some(text) => push_escaped(&mut part, &text),
        None => {
            part.push('#');
            part.push_str(&hex::encode(value.raw));
        }
    }
    part
}

/// The fields of an X.509 certificate the agent uses, borrowed from its DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate<'a> {
    /// The whole certificate.
    pub raw: &'a [u8],
    /// `tbsCertificate`, as signed by the issuer.
    pub tbs: &'a [u8],
    /// `serialNumber` (INTEGER content bytes).
    pub serial: &'a [u8],
    /// `issuer` (the whole Name element).
    pub issuer: &'a [u8],
    /// `subject` (the whole Name element).
    pub subject: &'a [u8],
    /// `notBefore`, Unix seconds.
    pub not_before: i64,
    /// `notAfter`, Unix seconds.
    pub not_after: i64,
    /// `subjectPublicKeyInfo` (the whole element, as pinned by SPKI pins).
    pub spki: &'a [u8],
    /// The key algorithm (OID content bytes).
    pub key_algorithm: &'a [u8],
    /// The named curve of an EC key (OID content bytes).
    pub key_curve: Option<&'a [u8]>,
    /// `subjectPublicKey` (the key bytes).
    pub public_key: &'a [u8],
    /// `signatureAlgorithm` (OID content bytes).
    pub signature_algorithm: &'a [u8],
    /// `signatureValue`.
    pub signature: &'a [u8],
    /// `basicConstraints` says this is a CA.
    pub is_ca: bool,
}

impl<'a> Certificate<'a> {
    /// Parses a DER certificate (nothing may follow it).
    pub fn parse(der: &'a [u8]) -> Result<Self, DerError> {
        let cert = single(der, tag::SEQUENCE, "Certificate")?;
        let mut c = cert.reader();
        let tbs = c.expect(tag::SEQUENCE, "tbsCertificate")?;
        let signature_algorithm = algorithm(&mut c, "signatureAlgorithm")?;
        let signature = bit_string_bytes(&c.any("signatureValue")?, "signatureValue")?;
        c.finish("Certificate")?;

        let mut t = tbs.reader();
        if let Some(version) = t.optional(tag::context(0), "version")? {
            let v = single(version.value, tag::INTEGER, "version")?;
            if !matches!(v.value, [0..=2]) {
                return Err(DerError("version"));
            }
        }
        let serial = t.expect(tag::INTEGER, "serialNumber")?.value;
        if serial.is_empty() || serial.len() > 20 + 1 {
            return Err(DerError("serialNumber"));
        }
        // RFC 5280 4.1.1.2: the inner algorithm must be the outer one.
        if algorithm(&mut t, "signature")? != signature_algorithm {
            return Err(DerError("signature"));
        }
        let issuer = t.expect(tag::SEQUENCE, "issuer")?;
        check_name(&issuer, "issuer")?;
        let mut validity = t.expect(tag::SEQUENCE, "validity")?.reader();
        let not_before = time(&validity.any("notBefore")?, "notBefore")?;
        let not_after = time(&validity.any("notAfter")?, "notAfter")?;
        validity.finish("validity")?;
        let subject = t.expect(tag::SEQUENCE, "subject")?;
        check_name(&subject, "subject")?;
        let spki = t.expect(tag::SEQUENCE, "subjectPublicKeyInfo")?;
        let mut s = spki.reader();
        let key_algorithm = algorithm(&mut s, "subjectPublicKeyInfo")?;
        let public_key = bit_string_bytes(&s.any("subjectPublicKey")?, "subjectPublicKey")?;
        s.finish("subjectPublicKeyInfo")?;
        let key_curve = match key_algorithm.params {
            Some(p) if key_algorithm.oid == oid::EC_PUBLIC_KEY && p.tag == tag::OID => Some(p.value),
            _ => None,
        };
        t.optional(tag::context_primitive(1), "issuerUniqueID")?;
        t.optional(tag::context_primitive(2), "subjectUniqueID")?;
        let is_ca = match t.optional(tag::context(3), "extensions")? {
            Some(ext) => basic_constraints_ca(&ext)?,
            None => false,
        };
        t.finish("tbsCertificate")?;
        Ok(Self {
            raw: cert.raw,
            tbs: tbs.raw,
            serial,
            issuer: issuer.raw,
            subject: subject.raw,
            not_before,
            not_after,
            spki: spki.raw,
            key_algorithm: key_algorithm.oid,
            key_curve,
            public_key,
            signature_algorithm: signature_algorithm.oid,
            signature,
            is_ca,
        })
    }

    /// The subject in RFC 4514 form, for display.
    pub fn subject_string(&self) -> String {
        name_to_string(self.subject)
    }
}

/// Reads the `[3]` extensions of a certificate; true when `basicConstraints` has `cA` set.
fn basic_constraints_ca(ext: &Tlv<'_>) -> Result<bool, DerError> {
    let list = single(ext.value, tag::SEQUENCE, "extensions")?;
    let mut extensions = list.reader();
    let mut is_ca = None;
    while !extensions.is_empty() {
        let mut e = extensions.expect(tag::SEQUENCE, "extension")?.reader();
        let id = e.expect(tag::OID, "extension")?.value;
        e.optional(tag::BOOLEAN, "extension")?;
        let value = e.expect(tag::OCTET_STRING, "extension")?.value;
        e.finish("extension")?;
        if id == oid::BASIC_CONSTRAINTS {
            if is_ca.is_some() {
                return Err(DerError("basicConstraints")); // RFC 5280: once at most
            }
            let mut bc = single(value, tag::SEQUENCE, "basicConstraints")?.reader();
            let ca = bc.optional(tag::BOOLEAN, "basicConstraints")?;
            bc.optional(tag::INTEGER, "basicConstraints")?;
            bc.finish("basicConstraints")?;
            is_ca = Some(matches!(ca.map(|b| b.value), Some([0xff])));
        }
    }
    Ok(is_ca.unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tlv(input: &[u8]) -> Result<Tlv<'_>, DerError> {
        Reader::new(input).any("test")
    }

    #[test]
    fn lengths_are_strict_and_bounded() {
        assert_eq!(tlv(&[0x04, 0x01, 0xaa]).unwrap().value, &[0xaa]);
        // Truncated header, truncated content.
        assert!(tlv(&[]).is_err());
        assert!(tlv(&[0x04]).is_err());
        assert!(tlv(&[0x04, 0x02, 0xaa]).is_err());
        // Indefinite length (BER), non-minimal forms, lengths over 16 MiB or past the input.
        assert!(tlv(&[0x30, 0x80, 0x00, 0x00]).is_err());
        assert!(tlv(&[0x04, 0x81, 0x01, 0xaa]).is_err());
        assert!(tlv(&[0x04, 0x82, 0x00, 0x81]).is_err());
        assert!(tlv(&[0x04, 0x84, 0x01, 0x00, 0x00, 0x00]).is_err());
        assert!(tlv(&[0x04, 0x83, 0xff, 0xff, 0xff]).is_err());
        assert!(tlv(&[0x04, 0x8f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        // Multi-byte tags.
        assert!(tlv(&[0x1f, 0x81, 0x01, 0x00]).is_err());
        // A long-form length that is right.
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([7u8; 128]);
        assert_eq!(tlv(&long).unwrap().value.len(), 128);
        // Trailing bytes are refused by `single`.
        assert!(single(&[0x05, 0x00, 0x00], 0x05, "null").is_err());
    }

    #[test]
    fn times_follow_rfc_5280() {
        let t = |tag, s: &str| {
            time(
                &Tlv {
                    tag,
                    value: s.as_bytes(),
                    raw: &[],
                },
                "t",
            )
        };
        assert_eq!(t(tag::UTC_TIME, "700101000000Z"), Ok(0));
        assert_eq!(t(tag::UTC_TIME, "491231235959Z"), Ok(2_524_607_999));
        assert_eq!(t(tag::UTC_TIME, "500101000000Z"), Ok(-631_152_000));
        assert_eq!(t(tag::GENERALIZED_TIME, "20300101000000Z"), Ok(1_893_456_000));
        assert_eq!(t(tag::GENERALIZED_TIME, "20240229120000Z"), Ok(1_709_208_000));
        for bad in [
            "20230229120000Z",
            "20301301000000Z",
            "20300100000000Z",
            "20300101240000Z",
        ] {
            assert!(t(tag::GENERALIZED_TIME, bad).is_err(), "{bad}");
        }
        for bad in [
            "7001010000Z",
            "700101000000",
            "700101000000+0100",
            "70010100000aZ",
            "-70101000000Z",
        ] {
            assert!(t(tag::UTC_TIME, bad).is_err(), "{bad}");
        }
        assert!(t(tag::GENERALIZED_TIME, "20300101000000.5Z").is_err());
        assert!(t(tag::OCTET_STRING, "700101000000Z").is_err());
    }

    #[test]
    fn oids_print_in_dotted_form() {
        assert_eq!(
            oid_to_string(oid::SHA256).as_deref(),
            Some("2.16.840.1.101.3.4.2.1")
        );
        assert_eq!(oid_to_string(oid::SECP384R1).as_deref(), Some("1.3.132.0.34"));
        assert_eq!(oid_to_string(oid::DATA).as_deref(), Some("1.2.840.113549.1.7.1"));
        assert_eq!(oid_to_string(&[0x55, 0x04, 0x03]).as_deref(), Some("2.5.4.3"));
        // Unterminated arc, non-minimal arc, overflow, empty.
        assert_eq!(oid_to_string(&[0x2a, 0x86]), None);
        assert_eq!(oid_to_string(&[0x2a, 0x80, 0x01]), None);
        assert_eq!(oid_to_string(&[0xff; 12]), None);
        assert_eq!(oid_to_string(&[]), None);
    }

    /// A Name with the given (OID, tag, value) attributes, one per RDN.
    fn name(atvs: &[(&[u8], u8, &[u8])]) -> Vec<u8> {
        fn wrap(tag: u8, content: &[u8]) -> Vec<u8> {
            assert!(content.len() < 128);
            let mut out = vec![tag, content.len() as u8];
            out.extend_from_slice(content);
            out
        }
        let mut rdns = Vec::new();
        for (oid, tag, value) in atvs {
            let mut atv = wrap(tag::OID, oid);
            atv.extend(wrap(*tag, value));
            rdns.extend(wrap(tag::SET, &wrap(tag::SEQUENCE, &atv)));
        }
        wrap(tag::SEQUENCE, &rdns)
    }

    #[test]
    fn names_print_as_rfc_4514() {
        let n = name(&[
            (&[0x55, 0x04, 0x06], tag::PRINTABLE_STRING, b"FR"),
            (
                &[0x55, 0x04, 0x0a],
                tag::UTF8_STRING,
                "Soci\u{e9}t\u{e9}, SA".as_bytes(),
            ),
            (&[0x55, 0x04, 0x03], tag::UTF8_STRING, b" #lead"),
            (&[0x2a, 0x03], tag::OCTET_STRING, &[0x01, 0x02]),
            (&[0x2a, 0x04], tag::UTF8_STRING, b"x"),
            (&[0x55, 0x04, 0x0b], tag::BMP_STRING, &[0x00, 0x49, 0x00, 0x54]),
        ]);
        assert_eq!(
            name_to_string(&n),
            "OU=IT,1.2.4=#0c0178,1.2.3=#04020102,CN=\\ #lead,O=Soci\u{e9}t\u{e9}\\, SA,C=FR"
        );
        assert_eq!(name_to_string(&[0x30, 0x05]), "(unreadable name)");
        let mut bad_shape = Tlv {
            tag: tag::SEQUENCE,
            value: &[0x31, 0x00],
            raw: &[],
        };
        assert!(check_name(&bad_shape, "n").is_err());
        bad_shape.value = &[0x31, 0x02, 0x30, 0x00];
        assert!(check_name(&bad_shape, "n").is_err());
    }

    /// Certificates of every shape the agent meets: a CA, an intermediate, leaves with P-256
    /// and P-384 keys, extensions, and names that need escaping.
    fn sample_certificates() -> Vec<Vec<u8>> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
            KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384,
        };
        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut ca = CertificateParams::default();
        ca.distinguished_name
            .push(DnType::CommonName, "Test CA, \"root\"");
        ca.distinguished_name
            .push(DnType::OrganizationName, "enroll+tests");
        ca.distinguished_name.push(DnType::CountryName, "FR");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::from_params(&ca, &ca_key);

        let mid_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        let mut mid = CertificateParams::default();
        mid.distinguished_name.push(DnType::CommonName, "Intermediate");
        mid.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        let mid_cert = mid.signed_by(&mid_key, &issuer).unwrap();

        let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        let mut leaf = CertificateParams::new(vec!["mdm.example.com".into(), "127.0.0.1".into()]).unwrap();
        leaf.distinguished_name.push(DnType::CommonName, " signer #1 ");
        leaf.distinguished_name
            .push(DnType::OrganizationalUnitName, "Soci\u{e9}t\u{e9}");
        leaf.is_ca = IsCa::ExplicitNoCa;
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf.use_authority_key_identifier_extension = true;
        let leaf_cert = leaf
            .signed_by(&leaf_key, &Issuer::from_params(&mid, &mid_key))
            .unwrap();

        let plain_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let plain = CertificateParams::default().self_signed(&plain_key).unwrap();
        [ca_cert, mid_cert, leaf_cert, plain]
            .iter()
            .map(|c| c.der().to_vec())
            .collect()
    }

    /// The fields both readers are compared on.
    type Fields = (
        Vec<u8>,
        Vec<u8>,
        Vec<u8>,
        i64,
        i64,
        Vec<u8>,
        Vec<u8>,
        bool,
        String,
    );

    /// What `x509-cert` reads from the same bytes, in this module's terms.
    fn reference(der_bytes: &[u8]) -> Option<Fields> {
        use der::{Decode, Encode};
        let cert = x509_cert::Certificate::from_der(der_bytes).ok()?;
        let tbs = &cert.tbs_certificate;
        let secs = |t: &x509_cert::time::Time| t.to_unix_duration().as_secs() as i64;
        let is_ca = tbs
            .get::<x509_cert::ext::pkix::BasicConstraints>()
            .ok()?
            .is_some_and(|(_, bc)| bc.ca);
        Some((
            tbs.serial_number.as_bytes().to_vec(),
            tbs.issuer.to_der().ok()?,
            tbs.subject.to_der().ok()?,
            secs(&tbs.validity.not_before),
            secs(&tbs.validity.not_after),
            tbs.subject_public_key_info.to_der().ok()?,
            cert.signature.raw_bytes().to_vec(),
            is_ca,
            tbs.subject.to_string(),
        ))
    }

    fn ours(der_bytes: &[u8]) -> Option<Fields> {
        let c = Certificate::parse(der_bytes).ok()?;
        Some((
            c.serial.to_vec(),
            c.issuer.to_vec(),
            c.subject.to_vec(),
            c.not_before,
            c.not_after,
            c.spki.to_vec(),
            c.signature.to_vec(),
            c.is_ca,
            c.subject_string(),
        ))
    }

    #[test]
    fn certificates_read_like_x509_cert() {
        let certs = sample_certificates();
        for der_bytes in &certs {
            let expected = reference(der_bytes).expect("x509-cert reads the sample");
            assert_eq!(ours(der_bytes), Some(expected));
        }
        let [ca, mid, leaf, plain] = certs.as_slice() else {
            unreachable!()
        };
        let (ca, mid, leaf, plain) = (
            Certificate::parse(ca).unwrap(),
            Certificate::parse(mid).unwrap(),
            Certificate::parse(leaf).unwrap(),
            Certificate::parse(plain).unwrap(),
        );
        assert!(ca.is_ca && mid.is_ca && !leaf.is_ca && !plain.is_ca);
        assert_eq!(ca.key_curve, Some(oid::SECP256R1));
        assert_eq!(leaf.key_curve, Some(oid::SECP384R1));
        assert_eq!(leaf.issuer, mid.subject);
        assert_eq!(mid.signature_algorithm, oid::ECDSA_SHA256);
        assert_eq!(leaf.signature_algorithm, oid::ECDSA_SHA384);
        assert_eq!(
            ca.subject_string(),
            "C=FR,O=enroll\\+tests,CN=Test CA\\, \\\"root\\\""
        );
        assert_eq!(leaf.subject_string(), "OU=Soci\u{e9}t\u{e9},CN=\\ signer #1\\ ");
    }

    #[test]
    fn corrupted_certificates_never_panic_and_never_disagree() {
        let mut both = 0;
        let mut checked = 0;
        for der_bytes in sample_certificates() {
            let mut variants: Vec<Vec<u8>> = (0..der_bytes.len()).map(|n| der_bytes[..n].to_vec()).collect();
            for i in 0..der_bytes.len() {
                for flip in [0x01u8, 0x80, 0xff] {
                    let mut v = der_bytes.clone();
                    v[i] ^= flip;
                    variants.push(v);
                }
            }
            let mut trailing = der_bytes.clone();
            trailing.push(0);
            variants.push(trailing);
            for v in &variants {
                checked += 1;
                let mine = ours(v);
                if let (Some(mine), Some(theirs)) = (&mine, reference(v)) {
                    both += 1;
                    // Names are compared as bytes; their display differs for attribute types
                    // only x509-cert knows a short name for (a flipped OID byte makes one).
                    let (mut mine, mut theirs) = (mine.clone(), theirs);
                    (mine.8, theirs.8) = (String::new(), String::new());
                    assert_eq!(mine, theirs);
                }
                // Every truncation is refused.
                if v.len() < der_bytes.len() && der_bytes.starts_with(v) {
                    assert!(mine.is_none());
                }
            }
        }
        // Flips inside names, keys and signatures still parse: the comparison ran on them.
        assert!(both > 100, "{both} of {checked}");
    }

    #[test]
    fn oid_constants_match_their_dotted_names() {
        for (bytes, dotted) in [
            (oid::DATA, "1.2.840.113549.1.7.1"),
            (oid::SIGNED_DATA, "1.2.840.113549.1.7.2"),
            (oid::CONTENT_TYPE, "1.2.840.113549.1.9.3"),
            (oid::MESSAGE_DIGEST, "1.2.840.113549.1.9.4"),
            (oid::SHA256, "2.16.840.1.101.3.4.2.1"),
            (oid::SHA384, "2.16.840.1.101.3.4.2.2"),
            (oid::SHA512, "2.16.840.1.101.3.4.2.3"),
            (oid::ECDSA_SHA256, "1.2.840.10045.4.3.2"),
            (oid::ECDSA_SHA384, "1.2.840.10045.4.3.3"),
            (oid::EC_PUBLIC_KEY, "1.2.840.10045.2.1"),
            (oid::SECP256R1, "1.2.840.10045.3.1.7"),
            (oid::SECP384R1, "1.3.132.0.34"),
            (oid::RSA_ENCRYPTION, "1.2.840.113549.1.1.1"),
            (oid::SHA256_RSA, "1.2.840.113549.1.1.11"),
            (oid::SHA384_RSA, "1.2.840.113549.1.1.12"),
            (oid::SHA512_RSA, "1.2.840.113549.1.1.13"),
            (oid::BASIC_CONSTRAINTS, "2.5.29.19"),
        ] {
            let reference = der::oid::ObjectIdentifier::new(dotted).unwrap();
            assert_eq!(bytes, reference.as_bytes(), "{dotted}");
        }
    }
}
