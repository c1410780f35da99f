//! Fuzz target `asn1_der`: the agent's own DER reader (`enroll_core::asn1`), on arbitrary
//! bytes, through every public entry point: `Certificate::parse` (and the RFC 4514 display of
//! its names), `name_to_string`, `oid_to_string`, and a bounded walk of nested elements with
//! `Reader::any`/`expect`/`optional`/`finish`, `single`, `algorithm`, `time` and
//! `bit_string_bytes` applied to whatever each element holds.
//!
//! Checks beyond "no panic": every element read is its own exact encoding (`raw` ends with
//! `value` and re-reads to the same element with `single`), and a parsed certificate's
//! borrowed fields lie inside the input.
#![no_main]

use enroll_core::asn1::{self, tag, Certificate, Reader};
use libfuzzer_sys::fuzz_target;

/// Deepest nesting walked (the agent's structures are at most ~8 deep).
const MAX_DEPTH: usize = 12;
/// Most elements visited per input (keeps each run short).
const MAX_ELEMENTS: usize = 4096;

fn inside(outer: &[u8], inner: &[u8]) -> bool {
    let (o, i) = (outer.as_ptr() as usize, inner.as_ptr() as usize);
    i >= o && i + inner.len() <= o + outer.len()
}

fn walk(data: &[u8]) {
    let mut stack: Vec<(Reader<'_>, usize)> = vec![(Reader::new(data), 0)];
    let mut visited = 0;
    while let Some((mut reader, depth)) = stack.pop() {
        while visited < MAX_ELEMENTS {
            let Ok(tlv) = reader.any("element") else { break };
            visited += 1;
            assert!(tlv.raw.ends_with(tlv.value));
            assert!(tlv.raw.len() > tlv.value.len() && tlv.raw[0] == tlv.tag);
            assert_eq!(asn1::single(tlv.raw, tlv.tag, "again"), Ok(tlv));
            let _ = asn1::time(&tlv, "time");
            let _ = asn1::bit_string_bytes(&tlv, "bits");
            let _ = asn1::oid_to_string(tlv.value);
            if tlv.tag == tag::SEQUENCE {
                let _ = asn1::name_to_string(tlv.raw);
                let _ = asn1::algorithm(&mut Reader::new(tlv.raw), "algorithm");
                if let Ok(cert) = Certificate::parse(tlv.raw) {
                    let _ = cert.subject_string();
                }
            }
            let mut probe = tlv.reader();
            let _ = probe.optional(tag::INTEGER, "optional");
            let _ = probe.expect(tag::OID, "expect");
            let _ = probe.peek_tag();
            let _ = probe.finish("finish");
            if tlv.tag & 0x20 != 0 && depth < MAX_DEPTH {
                stack.push((tlv.reader(), depth + 1));
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(cert) = Certificate::parse(data) {
        for part in [
            cert.tbs,
            cert.serial,
            cert.issuer,
            cert.subject,
            cert.spki,
            cert.public_key,
        ] {
            assert!(inside(data, part));
        }
        assert!(cert.raw == data);
        let _ = cert.subject_string();
        let _ = asn1::name_to_string(cert.issuer);
    }
    let _ = asn1::name_to_string(data);
    let _ = asn1::oid_to_string(data);
    walk(data);
});
