//! JSON with limits: depth, number of values, duplicate keys, numeric range; typed accessors
//! that name the key, never its value.

use super::*;

/// A parsed JSON value (objects keep key order; duplicates are rejected while parsing).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// Shared parsing state: the first limit violation and the value budget.
pub(super) struct Limits {
    error: RefCell<Option<PayloadError>>,
    values: Cell<usize>,
}

impl Limits {
    fn fail<E: de::Error>(&self, error: PayloadError) -> E {
        let mut slot = self.error.borrow_mut();
        if slot.is_none() {
            *slot = Some(error);
        }
        E::custom("limit")
    }

    fn count<E: de::Error>(&self) -> Result<(), E> {
        let n = self.values.get() + 1;
        self.values.set(n);
        if n > MAX_JSON_ENTRIES {
            return Err(self.fail(PayloadError::JsonTooManyValues {
                max: MAX_JSON_ENTRIES,
            }));
        }
        Ok(())
    }
}

pub(super) struct JsonSeed<'l> {
    limits: &'l Limits,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for JsonSeed<'_> {
    type Value = Json;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for JsonSeed<'_> {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        match i64::try_from(v) {
            Ok(v) => Ok(Json::Int(v)),
            Err(_) => Err(self.limits.fail(PayloadError::NumberOutOfRange {
                key: "(number)".to_owned(),
            })),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        // Integers too large for i64 arrive here as lossy doubles; refuse them (and anything
        // of that magnitude) rather than silently change a value.
        if v.is_finite() && v.abs() < 9.2e18 {
            Ok(Json::Float(v))
        } else {
            Err(self.limits.fail(PayloadError::NumberOutOfRange {
                key: "(number)".to_owned(),
            }))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Text(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Json, E> {
        Ok(Json::Text(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        if self.depth >= MAX_JSON_DEPTH {
            return Err(self
                .limits
                .fail(PayloadError::JsonTooDeep { max: MAX_JSON_DEPTH }));
        }
        let mut items = Vec::new();
        loop {
            let seed = JsonSeed {
                limits: self.limits,
                depth: self.depth + 1,
            };
            match seq.next_element_seed(seed)? {
                Some(v) => {
                    self.limits.count()?;
                    items.push(v);
                }
                None => break,
            }
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        if self.depth >= MAX_JSON_DEPTH {
            return Err(self
                .limits
                .fail(PayloadError::JsonTooDeep { max: MAX_JSON_DEPTH }));
        }
        let mut entries: Vec<(String, Json)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            self.limits.count()?;
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(self
                    .limits
                    .fail(PayloadError::DuplicateKey { key: key_label(&key) }));
            }
            let value = map.next_value_seed(JsonSeed {
                limits: self.limits,
                depth: self.depth + 1,
            })?;
            entries.push((key, value));
        }
        Ok(Json::Object(entries))
    }
}

pub(super) fn parse_json(text: &str) -> Result<Json, PayloadError> {
    let limits = Limits {
        error: RefCell::new(None),
        values: Cell::new(0),
    };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let result = JsonSeed {
        limits: &limits,
        depth: 0,
    }
    .deserialize(&mut deserializer)
    .and_then(|v| deserializer.end().map(|()| v));
    match result {
        Ok(v) => Ok(v),
        Err(e) => Err(limits.error.into_inner().unwrap_or(PayloadError::InvalidJson {
            line: e.line(),
            column: e.column(),
        })),
    }
}

/// Converts a JSON value into an [`ExtraValue`], checking strings for control characters.
pub(super) fn to_extra(key: &str, value: Json) -> Result<ExtraValue, PayloadError> {
    Ok(match value {
        Json::Null => {
            return Err(PayloadError::WrongType {
                key: key_label(key),
                expected: "a non-null value",
            })
        }
        Json::Bool(b) => ExtraValue::Bool(b),
        Json::Int(i) => ExtraValue::Int(i),
        Json::Float(f) => ExtraValue::Float(f),
        Json::Text(s) => {
            if let Some(c) = s.chars().find(|c| c.is_control()) {
                return Err(control_error(c, key));
            }
            ExtraValue::Text(s)
        }
        Json::Array(items) => ExtraValue::List(
            items
                .into_iter()
                .map(|v| to_extra(key, v))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(entries) => {
            let mut map = BTreeMap::new();
            for (k, v) in entries {
                check_key(&k)?;
                let v = to_extra(&k, v)?;
                map.insert(k, v);
            }
            ExtraValue::Bundle(map)
        }
    })
}

pub(super) fn check_key(key: &str) -> Result<(), PayloadError> {
    if key.is_empty() {
        return Err(PayloadError::InvalidValue {
            key: "(empty key)".to_owned(),
            reason: "empty key",
        });
    }
    if key.len() > 256 {
        return Err(PayloadError::InvalidValue {
            key: key_label(key),
            reason: "key too long",
        });
    }
    if let Some(c) = key.chars().find(|c| c.is_control()) {
        return Err(control_error(c, "key"));
    }
    Ok(())
}

pub(super) fn expect_string(key: &str, value: Json, max: usize) -> Result<String, PayloadError> {
    match value {
        Json::Text(s) => {
            check_text(key, &s, max)?;
            Ok(s)
        }
        other => Err(wrong_type(key, &other, "a string")),
    }
}

pub(super) fn wrong_type(key: &str, _found: &Json, expected: &'static str) -> PayloadError {
    PayloadError::WrongType {
        key: key_label(key),
        expected,
    }
}

/// Booleans appear as JSON booleans or as "true"/"false" strings in real QR codes.
pub(super) fn expect_bool(key: &str, value: Json) -> Result<bool, PayloadError> {
    match value {
        Json::Bool(b) => Ok(b),
        Json::Text(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Json::Text(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(wrong_type(key, &other, "a boolean")),
    }
}

/// URL-safe base64 (padding optional) of a SHA-256: exactly 32 bytes.
pub(super) fn parse_checksum(key: &str, value: Json) -> Result<[u8; 32], PayloadError> {
    let text = expect_string(key, value, 64)?;
    let unpadded = text.trim_end_matches('=');
    if text.len() - unpadded.len() > 2 {
        return Err(PayloadError::InvalidValue {
            key: key_label(key),
            reason: "bad base64 padding",
        });
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(unpadded)
        .map_err(|_| PayloadError::InvalidValue {
            key: key_label(key),
            reason: "not URL-safe base64",
        })?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| PayloadError::InvalidValue {
        key: key_label(key),
        reason: "checksum must be a SHA-256 (32 bytes)",
    })
}
