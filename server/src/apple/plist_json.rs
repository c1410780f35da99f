//! Plist values as JSON for the admin API: dictionaries and arrays as they are, data as
//! standard base64 strings, dates as RFC 3339 strings. Input is already bounded (size, depth)
//! by `enroll_mdm`'s parser.

use base64::Engine as _;
use plist::Value;
use serde_json::{Map, Number, Value as Json};

/// The JSON form of a plist value.
pub(super) fn to_json(v: &Value) -> Json {
    match v {
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Dictionary(d) => Json::Object(
            d.iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect::<Map<String, Json>>(),
        ),
        Value::Boolean(b) => Json::Bool(*b),
        Value::Data(d) => Json::String(base64::engine::general_purpose::STANDARD.encode(d)),
        Value::Date(d) => Json::String(d.to_xml_format()),
        Value::Real(r) => Number::from_f64(*r).map_or(Json::Null, Json::Number),
        Value::Integer(i) => match (i.as_signed(), i.as_unsigned()) {
            (Some(n), _) => Json::Number(n.into()),
            (None, Some(n)) => Json::Number(n.into()),
            (None, None) => Json::Null,
        },
        Value::String(s) => Json::String(s.clone()),
        Value::Uid(u) => Json::Number(u.get().into()),
        _ => Json::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        let mut d = plist::Dictionary::new();
        d.insert("a".into(), Value::Data(vec![1, 2, 3]));
        d.insert("b".into(), Value::Integer(7.into()));
        d.insert(
            "c".into(),
            Value::Array(vec![Value::Boolean(true), Value::Real(0.5)]),
        );
        let j = to_json(&Value::Dictionary(d));
        assert_eq!(j, serde_json::json!({"a": "AQID", "b": 7, "c": [true, 0.5]}));
    }
}
