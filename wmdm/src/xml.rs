//! Safe XML reading and writing for every message of this crate.
//!
//! Reading ([`parse`]): a size limit first, then any `<!DOCTYPE` or `<!ENTITY` is refused with
//! [`WmdmError::Dtd`] before the parser runs (roxmltree also refuses DTDs by default), then
//! roxmltree with a node limit, then a depth limit. Elements are found by namespace and local
//! name, never by prefix: Windows, zeep and this crate all use different prefixes.
//!
//! Writing: [`esc`] escapes text and attribute values; documents are assembled as strings.

use crate::error::{malformed, Result, WmdmError};
use roxmltree::{Document, Node, ParsingOptions};

/// Most elements/attributes/text nodes a message may hold.
pub const MAX_NODES: u32 = 20_000;
/// Deepest element nesting a message may have.
pub const MAX_DEPTH: usize = 64;

/// Parses `text` (at most `limit` bytes) into a document, refusing DTDs and entities.
pub fn parse<'a>(text: &'a str, limit: usize, what: &'static str) -> Result<Document<'a>> {
    if text.len() > limit {
        return Err(WmdmError::TooLarge { what, limit });
    }
    if contains_ci(text, "<!DOCTYPE") || contains_ci(text, "<!ENTITY") {
        return Err(WmdmError::Dtd);
    }
    let opts = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, opts).map_err(|e| match e {
        roxmltree::Error::DtdDetected => WmdmError::Dtd,
        e => WmdmError::Xml(describe(&e)),
    })?;
    let deepest = doc
        .descendants()
        .filter(Node::is_element)
        .map(|n| n.ancestors().count())
        .max()
        .unwrap_or(0);
    if deepest > MAX_DEPTH {
        return Err(WmdmError::Xml(format!(
            "nesting deeper than {MAX_DEPTH} elements"
        )));
    }
    Ok(doc)
}

/// roxmltree's message without the names and characters it quotes from the input (a tag or
/// prefix name, an entity name, an unexpected character): the fault and its position only.
fn describe(e: &roxmltree::Error) -> String {
    use roxmltree::Error as E;
    let fault = match e {
        E::DuplicatedNamespace(..) => "a namespace prefix declared twice",
        E::UnknownNamespace(..) => "an undeclared namespace prefix",
        E::UnexpectedCloseTag(..) => "a close tag that does not match its open tag",
        E::UnknownEntityReference(..) => "a reference to an undeclared entity",
        E::DuplicatedAttribute(..) => "an attribute given twice",
        E::NonXmlChar(..) => "a character that XML 1.0 does not allow",
        E::InvalidChar(..) | E::InvalidChar2(..) => "an unexpected character",
        E::EntityResolver(..) => "an entity that cannot be resolved",
        E::NoRootNode => return "no root element".into(),
        E::UnclosedRootNode => return "the root element is not closed".into(),
        E::NodesLimitReached => return format!("more than {MAX_NODES} nodes"),
        E::AttributesLimitReached | E::NamespacesLimitReached => {
            return "too many attributes or namespaces".into()
        }
        // The other kinds carry nothing from the input but their position.
        e => return e.to_string(),
    };
    let pos = e.pos();
    format!("{fault} at {}:{}", pos.row, pos.col)
}

/// Parses bytes that must be UTF-8 XML.
pub fn parse_bytes<'a>(bytes: &'a [u8], limit: usize, what: &'static str) -> Result<Document<'a>> {
    if bytes.len() > limit {
        return Err(WmdmError::TooLarge { what, limit });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| malformed(what, "not UTF-8"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    parse(text, limit, what)
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Whether `n` is the element `{ns}local`.
pub fn is(n: Node<'_, '_>, ns: &str, local: &str) -> bool {
    n.is_element() && n.tag_name().name() == local && n.tag_name().namespace() == Some(ns)
}

/// The first child element `{ns}local` of `n`.
pub fn child<'a, 'i>(n: Node<'a, 'i>, ns: &str, local: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| is(*c, ns, local))
}

/// Every child element `{ns}local` of `n`.
pub fn children<'a, 'i: 'a>(
    n: Node<'a, 'i>,
    ns: &'a str,
    local: &'a str,
) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    n.children().filter(move |c| is(*c, ns, local))
}

/// The first child element `{ns}local`, or an error naming it.
pub fn need<'a, 'i>(n: Node<'a, 'i>, ns: &str, local: &str, what: &'static str) -> Result<Node<'a, 'i>> {
    child(n, ns, local).ok_or_else(|| malformed(what, format!("missing <{local}>")))
}

/// The first descendant element `{ns}local` of `n` (itself excluded).
pub fn find<'a, 'i>(n: Node<'a, 'i>, ns: &str, local: &str) -> Option<Node<'a, 'i>> {
    n.descendants().skip(1).find(|c| is(*c, ns, local))
}

/// The text of an element (all text children joined), trimmed.
pub fn text(n: Node<'_, '_>) -> String {
    n.children()
        .filter(Node::is_text)
        .filter_map(|t| t.text())
        .collect::<String>()
        .trim()
        .to_owned()
}

/// The text of the child `{ns}local`, if present.
pub fn child_text(n: Node<'_, '_>, ns: &str, local: &str) -> Option<String> {
    child(n, ns, local).map(text)
}

/// Escapes text for element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // As references: a parser normalises literal CR (and, in attribute values, tabs
            // and line feeds) away, so a value would not read back as written.
            '\r' => out.push_str("&#13;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn refuses_dtds_and_entities_clearly() {
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><a>&lol2;</a>"#;
        assert_eq!(parse(bomb, 10_000, "test").unwrap_err(), WmdmError::Dtd);
        let ext = r#"<?xml version="1.0"?><!doctype a SYSTEM "file:///etc/passwd"><a/>"#;
        assert_eq!(parse(ext, 10_000, "test").unwrap_err(), WmdmError::Dtd);
        assert!(WmdmError::Dtd.to_string().contains("DTD"));
    }

    #[test]
    fn limits_size_nodes_and_depth() {
        assert!(matches!(parse("<a/>", 3, "x"), Err(WmdmError::TooLarge { .. })));
        let deep = format!("{}{}", "<a>".repeat(200), "</a>".repeat(200));
        assert!(matches!(parse(&deep, 100_000, "x"), Err(WmdmError::Xml(_))));
        let wide = format!("<a>{}</a>", "<b/>".repeat(30_000));
        assert!(matches!(parse(&wide, 1_000_000, "x"), Err(WmdmError::Xml(_))));
        assert!(matches!(parse("<a><b></a>", 100, "x"), Err(WmdmError::Xml(_))));
        assert!(matches!(
            parse_bytes(&[0xff, 0xfe, 0x3c], 100, "x"),
            Err(WmdmError::Malformed { .. })
        ));
    }

    #[test]
    fn finds_by_namespace_not_prefix() {
        let doc = parse(
            r#"<x:a xmlns:x="urn:a" xmlns:y="urn:b"><y:b>1</y:b><z:b xmlns:z="urn:a"> 2 </z:b></x:a>"#,
            1000,
            "t",
        )
        .unwrap();
        let root = doc.root_element();
        assert_eq!(child_text(root, "urn:a", "b").as_deref(), Some("2"));
        assert_eq!(child_text(root, "urn:b", "b").as_deref(), Some("1"));
        assert_eq!(esc("<&\"'>"), "&lt;&amp;&quot;&apos;&gt;");
        // Whitespace a parser would normalise reads back as written.
        let v = "a\r\nb\tc";
        let doc_text = format!("<a b=\"{}\">{}</a>", esc(v), esc(v));
        let doc = parse(&doc_text, 1000, "t").unwrap();
        assert_eq!(doc.root_element().attribute("b"), Some(v));
        assert_eq!(doc.root_element().text(), Some(v));
    }

    #[test]
    fn xml_errors_quote_nothing_of_the_input() {
        for text in [
            "<a></Planted-Secret-17>",
            "<p:a xmlns:q=\"u\"><Planted-Secret-17:b/></p:a>",
            "<a>&PlantedSecret17;</a>",
            "<a PlantedSecret17=\"1\" PlantedSecret17=\"2\"/>",
            "<a>\u{1}PlantedSecret17</a>",
        ] {
            let e = parse(text, 1000, "t").unwrap_err();
            let WmdmError::Xml(msg) = &e else { panic!("{e:?}") };
            assert!(!msg.contains("Planted"), "{msg}");
            assert!(msg.contains(" at 1:"), "{msg}");
        }
    }
}
