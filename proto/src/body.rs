//! Decoding a JSON request body the way the reference server does, with error messages that
//! never quote the body.
//!
//! serde_json's own messages quote input (`invalid type: string "…"`, `unknown field `…``):
//! a body holds passwords, PINs and tokens, and a refusal ends up in logs and replies. So the
//! decoder keeps only a fixed phrase, the name of a field the *type* declares (a missing
//! field, or the fields an unknown one could have been), and the position.

use serde::de::DeserializeOwned;

/// Why a JSON request body was refused. `Display` is the message for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Empty or only whitespace.
    #[error("a JSON body is required")]
    Empty,
    /// Not JSON, or JSON of another shape; `detail` is a fixed phrase or a field name of the
    /// expected type, never a piece of the body.
    #[error("{detail} (line {line}, column {column})")]
    Invalid {
        /// What is wrong.
        detail: String,
        /// Line of the fault, from 1.
        line: usize,
        /// Column of the fault, from 1.
        column: usize,
    },
}

/// The phrases an [`BodyError::Invalid`] detail starts with.
pub const BODY_ERROR_PHRASES: [&str; 4] = [
    "malformed JSON",
    "JSON does not match the expected shape",
    "missing field",
    "unknown field",
];

/// Keeps the backquoted names after "expected …" in serde's unknown-field message (the type's
/// own field names), drops the quoted input name. The input name may itself contain
/// ", expected …" (it is any JSON string), so the split is at the *last* one, and the kept
/// text is used only if every backquoted name in it is a field name of ours.
fn unknown_field_detail(msg: &str) -> String {
    let Some((_, expected)) = msg.rsplit_once(", expected ") else {
        return "unknown field".into();
    };
    let expected = match expected.rsplit_once(" at line ") {
        Some((names, _)) => names,
        None => expected,
    };
    let names_ok = expected == "there are no fields"
        || expected
            .trim_start_matches("one of ")
            .split(", ")
            .flat_map(|p| p.split(" or "))
            .all(|part| {
                part.strip_prefix('`')
                    .and_then(|p| p.strip_suffix('`'))
                    .is_some_and(is_field_name)
            });
    if names_ok {
        format!("unknown field, expected {expected}")
    } else {
        "unknown field".into()
    }
}

/// Decodes `bytes` as the JSON of `T` (the caller bounds the size, see
/// [`crate::MAX_BODY_BYTES`]).
pub fn decode_json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BodyError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::Empty);
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let msg = e.to_string();
        let detail = if let Some(rest) = msg.strip_prefix("missing field `") {
            // The name is one the type declares (serde passes a `&'static str`).
            match rest.split_once('`') {
                Some((name, _)) if is_field_name(name) => format!("missing field `{name}`"),
                _ => "missing field".into(),
            }
        } else if msg.starts_with("unknown field") {
            unknown_field_detail(&msg)
        } else {
            match e.classify() {
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                    "malformed JSON".into()
                }
                _ => "JSON does not match the expected shape".into(),
            }
        };
        BodyError::Invalid {
            detail,
            line: e.line(),
            column: e.column(),
        }
    })
}

/// Whether `s` looks like a field name of ours (snake case ASCII, at most 64 bytes).
pub fn is_field_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CheckinRequest, EnrollRequest};

    #[test]
    fn an_unknown_field_named_like_the_message_is_not_quoted() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Strict {
            request_type: String,
            queries: Option<Vec<String>>,
        }
        // Found by the `request_json` fuzz target: the unknown name holds ", expected one of `…".
        let body = br#"{"cunknown field, expected one of `Planted-Secret-77":1}"#;
        let e = decode_json_body::<Strict>(body).unwrap_err();
        let BodyError::Invalid { detail, .. } = &e else {
            panic!("{e:?}");
        };
        assert!(!detail.contains("Planted"), "{detail}");
        assert!(!detail.contains("cunknown"), "{detail}");
        assert_eq!(detail, "unknown field, expected `request_type` or `queries`");
        let body = br#"{"x`, expected one of `Planted-Secret-77`, `a":1}"#;
        let detail = decode_json_body::<Strict>(body).unwrap_err().to_string();
        assert!(!detail.contains("Planted"), "{detail}");
        // An ordinary unknown field names the type's fields, not the input's.
        let e = decode_json_body::<Strict>(br#"{"bogus":1}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`request_type`"), "{e}");
        assert!(!e.contains("bogus"), "{e}");
    }

    #[test]
    fn refusals_name_the_fault_never_the_body() {
        assert_eq!(decode_json_body::<CheckinRequest>(b" \n"), Err(BodyError::Empty));
        let secret = "Planted-Secret-0451";
        for body in [
            format!("{{\"credential\":\"{secret}\""),
            format!("{{\"credential\":{{\"kind\":\"{secret}\"}}}}"),
            format!("{{\"{secret}\":1}}"),
            format!("[\"{secret}\"]"),
            format!("\"{secret}\""),
            secret.to_owned(),
        ] {
            let e = decode_json_body::<EnrollRequest>(body.as_bytes()).unwrap_err();
            let text = e.to_string();
            assert!(!text.contains(secret), "{text}");
            let BodyError::Invalid { detail, .. } = &e else {
                panic!("{e:?}")
            };
            assert!(
                BODY_ERROR_PHRASES.iter().any(|p| detail.starts_with(p)),
                "{detail}"
            );
        }
    }

    #[test]
    fn missing_fields_are_named() {
        let e = decode_json_body::<EnrollRequest>(b"{}").unwrap_err();
        assert!(e.to_string().starts_with("missing field `"), "{e}");
    }
}
