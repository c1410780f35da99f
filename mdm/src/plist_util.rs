//! Bounded property-list reading (XML or binary): a size limit, and a nesting limit checked on
//! the event stream before any value is built.

use crate::error::{malformed, MdmError, Result};
use plist::stream::Event;
use plist::{Dictionary, Value};
use std::io::Cursor;

/// Deepest nesting accepted (MDM messages use a handful of levels).
pub const MAX_PLIST_DEPTH: usize = 32;
/// Most events (values) in one plist.
pub const MAX_PLIST_EVENTS: usize = 100_000;

/// Parses a plist whose top level is a dictionary.
pub(crate) fn parse_dict(body: &[u8], what: &'static str, limit: usize) -> Result<Dictionary> {
    if body.len() > limit {
        return Err(MdmError::TooLarge { what, limit });
    }
    let mut depth = 0usize;
    for (n, event) in plist::stream::Reader::new(Cursor::new(body)).enumerate() {
        if n == MAX_PLIST_EVENTS {
            return Err(MdmError::TooMany {
                what,
                limit: MAX_PLIST_EVENTS,
            });
        }
        match event.map_err(|_| malformed(what, "invalid plist"))? {
            Event::StartArray(_) | Event::StartDictionary(_) => {
                depth += 1;
                if depth > MAX_PLIST_DEPTH {
                    return Err(MdmError::TooMany {
                        what,
                        limit: MAX_PLIST_DEPTH,
                    });
                }
            }
            Event::EndCollection => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    match Value::from_reader(Cursor::new(body)) {
        Ok(Value::Dictionary(d)) => Ok(d),
        Ok(_) => Err(malformed(what, "top level is not a dictionary")),
        Err(_) => Err(malformed(what, "invalid plist")),
    }
}

/// A string value of at most `max` bytes.
pub(crate) fn string(dict: &Dictionary, key: &'static str, max: usize) -> Result<Option<String>> {
    match dict.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if s.len() <= max => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(MdmError::TooLarge {
            what: key,
            limit: max,
        }),
        Some(_) => Err(malformed(key, "not a string")),
    }
}

/// A required string value of at most `max` bytes.
pub(crate) fn required_string(dict: &Dictionary, key: &'static str, max: usize) -> Result<String> {
    string(dict, key, max)?.ok_or(MdmError::Missing { what: key })
}

/// Serializes a value as an XML plist.
pub(crate) fn to_xml(value: &impl serde::Serialize, what: &'static str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    plist::to_writer_xml(&mut out, value).map_err(|_| malformed(what, "cannot be written as a plist"))?;
    Ok(out)
}
