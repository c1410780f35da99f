//! OMA-DM messages: SyncML 1.2 in XML (`SYNCML:SYNCML1.2`, media type
//! `application/vnd.syncml.dm+xml`), as MS-MDM uses them.
//!
//! A message is a header ([`SyncHdr`]: session, message number, target, source) and a body of
//! commands ([`Command`]: `Status`, `Alert`, `Get`, `Replace`, `Add`, `Delete`, `Exec`,
//! `Results`), ending with `Final` when the sender has nothing more for this package. One
//! [`Command`] type carries all of them: the fields a kind does not use stay empty.

use crate::error::{malformed, Result};
use crate::xml::{self, esc};

/// The SyncML 1.2 namespace (the default namespace of a message).
pub const NS_SYNCML: &str = "SYNCML:SYNCML1.2";
/// The meta-information namespace (`Meta/Format`, `Meta/Type`).
pub const NS_METINF: &str = "syncml:metinf";
/// The media type of OMA-DM over HTTP.
pub const CONTENT_TYPE: &str = "application/vnd.syncml.dm+xml";
/// Largest OMA-DM message either side accepts.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Most commands a message may carry.
pub const MAX_COMMANDS: usize = 500;

/// Alert 1201: a session the client starts.
pub const ALERT_CLIENT_INITIATED: &str = "1201";
/// Alert 1200: a session the server asked for.
pub const ALERT_SERVER_INITIATED: &str = "1200";

/// The message header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncHdr {
    /// `SessionID`.
    pub session_id: String,
    /// `MsgID` (1, 2, … within a session).
    pub msg_id: u32,
    /// `Target/LocURI`.
    pub target: String,
    /// `Source/LocURI`.
    pub source: String,
}

/// What a command is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The result of a command of the other side.
    Status,
    /// An alert (session start, generic alert).
    Alert,
    /// Read nodes.
    Get,
    /// Set nodes.
    Replace,
    /// Create nodes.
    Add,
    /// Remove nodes.
    Delete,
    /// Run a node.
    Exec,
    /// The values a `Get` asked for.
    Results,
}

impl Kind {
    /// The element name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Status => "Status",
            Self::Alert => "Alert",
            Self::Get => "Get",
            Self::Replace => "Replace",
            Self::Add => "Add",
            Self::Delete => "Delete",
            Self::Exec => "Exec",
            Self::Results => "Results",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::Status,
            Self::Alert,
            Self::Get,
            Self::Replace,
            Self::Add,
            Self::Delete,
            Self::Exec,
            Self::Results,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One item of a command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Item {
    /// `Target/LocURI`.
    pub target: Option<String>,
    /// `Source/LocURI`.
    pub source: Option<String>,
    /// `Meta/Format`.
    pub format: Option<String>,
    /// `Meta/Type`.
    pub meta_type: Option<String>,
    /// `Data`.
    pub data: Option<String>,
}

impl Item {
    /// An item addressed to `uri`.
    pub fn target(uri: &str) -> Self {
        Self {
            target: Some(uri.to_owned()),
            ..Self::default()
        }
    }

    /// An item reporting `value` from `uri`.
    pub fn source(uri: &str, value: &str) -> Self {
        Self {
            source: Some(uri.to_owned()),
            data: Some(value.to_owned()),
            ..Self::default()
        }
    }
}

/// A command (or a status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Which command.
    pub kind: Kind,
    /// `CmdID`.
    pub cmd_id: u32,
    /// `MsgRef` (Status, Results).
    pub msg_ref: Option<u32>,
    /// `CmdRef` (Status, Results): 0 is the header.
    pub cmd_ref: Option<u32>,
    /// `Cmd` (Status): the name of the command answered.
    pub cmd: Option<String>,
    /// `Data` directly under the command (Alert code, Status code).
    pub data: Option<String>,
    /// Items.
    pub items: Vec<Item>,
}

impl Command {
    /// A command of `kind` with items.
    pub fn new(kind: Kind, cmd_id: u32, items: Vec<Item>) -> Self {
        Self {
            kind,
            cmd_id,
            msg_ref: None,
            cmd_ref: None,
            cmd: None,
            data: None,
            items,
        }
    }

    /// A Status answering command `cmd_ref` (`cmd` named) of message `msg_ref` with `code`.
    pub fn status(cmd_id: u32, msg_ref: u32, cmd_ref: u32, cmd: &str, code: u16) -> Self {
        Self {
            kind: Kind::Status,
            cmd_id,
            msg_ref: Some(msg_ref),
            cmd_ref: Some(cmd_ref),
            cmd: Some(cmd.to_owned()),
            data: Some(code.to_string()),
            items: Vec::new(),
        }
    }

    /// An Alert with a code.
    pub fn alert(cmd_id: u32, code: &str) -> Self {
        Self {
            data: Some(code.to_owned()),
            ..Self::new(Kind::Alert, cmd_id, Vec::new())
        }
    }

    /// Every URI the command names (targets and sources).
    pub fn uris(&self) -> impl Iterator<Item = &str> {
        self.items
            .iter()
            .flat_map(|i| i.target.iter().chain(i.source.iter()))
            .map(String::as_str)
    }
}

/// A whole message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Header.
    pub hdr: SyncHdr,
    /// Commands in order.
    pub commands: Vec<Command>,
    /// Whether `Final` closes the body.
    pub is_final: bool,
}

fn num(s: Option<String>, what: &'static str, name: &str) -> Result<Option<u32>> {
    match s {
        None => Ok(None),
        Some(t) => t
            .parse()
            .map(Some)
            .map_err(|_| malformed(what, format!("<{name}> is not a number"))),
    }
}

impl Message {
    /// Reads a message (at most [`MAX_MESSAGE_BYTES`], [`MAX_COMMANDS`] commands).
    pub fn parse(text: &str) -> Result<Self> {
        let what = "SyncML message";
        let doc = xml::parse(text, MAX_MESSAGE_BYTES, what)?;
        let root = doc.root_element();
        if !xml::is(root, NS_SYNCML, "SyncML") {
            return Err(malformed(what, "the root is not <SyncML> of SyncML 1.2"));
        }
        let hdr = xml::need(root, NS_SYNCML, "SyncHdr", what)?;
        if xml::child_text(hdr, NS_SYNCML, "VerDTD").as_deref() != Some("1.2") {
            return Err(malformed(what, "VerDTD is not 1.2"));
        }
        let loc = |parent: &str| {
            xml::child(hdr, NS_SYNCML, parent)
                .and_then(|n| xml::child_text(n, NS_SYNCML, "LocURI"))
                .unwrap_or_default()
        };
        let hdr = SyncHdr {
            session_id: xml::child_text(hdr, NS_SYNCML, "SessionID")
                .ok_or_else(|| malformed(what, "missing <SessionID>"))?,
            msg_id: num(xml::child_text(hdr, NS_SYNCML, "MsgID"), what, "MsgID")?
                .ok_or_else(|| malformed(what, "missing <MsgID>"))?,
            target: loc("Target"),
            source: loc("Source"),
        };
        let body = xml::need(root, NS_SYNCML, "SyncBody", what)?;
        let mut commands = Vec::new();
        let mut is_final = false;
        for c in body.children().filter(roxmltree::Node::is_element) {
            if c.tag_name().namespace() != Some(NS_SYNCML) {
                return Err(malformed(what, "a command outside the SyncML namespace"));
            }
            let name = c.tag_name().name();
            if name == "Final" {
                is_final = true;
                continue;
            }
            let kind = Kind::parse(name).ok_or_else(|| malformed(what, "an unsupported command"))?;
            if commands.len() >= MAX_COMMANDS {
                return Err(malformed(what, "too many commands"));
            }
            let t = |n: &str| xml::child_text(c, NS_SYNCML, n);
            let items = xml::children(c, NS_SYNCML, "Item")
                .map(|i| {
                    let l = |p: &str| {
                        xml::child(i, NS_SYNCML, p).and_then(|n| xml::child_text(n, NS_SYNCML, "LocURI"))
                    };
                    let meta = xml::child(i, NS_SYNCML, "Meta");
                    let m = |n: &str| meta.and_then(|m| xml::child_text(m, NS_METINF, n));
                    Item {
                        target: l("Target"),
                        source: l("Source"),
                        format: m("Format"),
                        meta_type: m("Type"),
                        data: xml::child(i, NS_SYNCML, "Data").map(xml::text),
                    }
                })
                .collect();
            commands.push(Command {
                kind,
                cmd_id: num(t("CmdID"), what, "CmdID")?
                    .ok_or_else(|| malformed(what, "a command without <CmdID>"))?,
                msg_ref: num(t("MsgRef"), what, "MsgRef")?,
                cmd_ref: num(t("CmdRef"), what, "CmdRef")?,
                cmd: t("Cmd"),
                data: t("Data"),
                items,
            });
        }
        Ok(Self {
            hdr,
            commands,
            is_final,
        })
    }

    /// The message text.
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(1024);
        out.push_str(&format!(
            "<SyncML xmlns=\"{NS_SYNCML}\"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>\
<SessionID>{}</SessionID><MsgID>{}</MsgID><Target><LocURI>{}</LocURI></Target>\
<Source><LocURI>{}</LocURI></Source></SyncHdr><SyncBody>",
            esc(&self.hdr.session_id),
            self.hdr.msg_id,
            esc(&self.hdr.target),
            esc(&self.hdr.source)
        ));
        for c in &self.commands {
            let k = c.kind.as_str();
            out.push_str(&format!("<{k}><CmdID>{}</CmdID>", c.cmd_id));
            if let Some(m) = c.msg_ref {
                out.push_str(&format!("<MsgRef>{m}</MsgRef>"));
            }
            if let Some(r) = c.cmd_ref {
                out.push_str(&format!("<CmdRef>{r}</CmdRef>"));
            }
            if let Some(cmd) = &c.cmd {
                out.push_str(&format!("<Cmd>{}</Cmd>", esc(cmd)));
            }
            if let Some(d) = &c.data {
                out.push_str(&format!("<Data>{}</Data>", esc(d)));
            }
            for i in &c.items {
                out.push_str("<Item>");
                if let Some(t) = &i.target {
                    out.push_str(&format!("<Target><LocURI>{}</LocURI></Target>", esc(t)));
                }
                if let Some(s) = &i.source {
                    out.push_str(&format!("<Source><LocURI>{}</LocURI></Source>", esc(s)));
                }
                if i.format.is_some() || i.meta_type.is_some() {
                    out.push_str("<Meta>");
                    if let Some(f) = &i.format {
                        out.push_str(&format!("<Format xmlns=\"{NS_METINF}\">{}</Format>", esc(f)));
                    }
                    if let Some(t) = &i.meta_type {
                        out.push_str(&format!("<Type xmlns=\"{NS_METINF}\">{}</Type>", esc(t)));
                    }
                    out.push_str("</Meta>");
                }
                if let Some(d) = &i.data {
                    out.push_str(&format!("<Data>{}</Data>", esc(d)));
                }
                out.push_str("</Item>");
            }
            out.push_str(&format!("</{k}>"));
        }
        if self.is_final {
            out.push_str("<Final/>");
        }
        out.push_str("</SyncBody></SyncML>");
        out
    }

    /// The commands that are not `Status` (a message with none ends the session).
    pub fn operations(&self) -> impl Iterator<Item = &Command> {
        self.commands.iter().filter(|c| c.kind != Kind::Status)
    }

    /// The Status answering the header, if any.
    pub fn header_status(&self) -> Option<&Command> {
        self.commands
            .iter()
            .find(|c| c.kind == Kind::Status && c.cmd_ref == Some(0))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip_and_limits() {
        let m = Message {
            hdr: SyncHdr {
                session_id: "1".into(),
                msg_id: 1,
                target: "https://h/ManagementServer/MDM.svc".into(),
                source: "DEV1".into(),
            },
            commands: vec![
                Command::alert(1, ALERT_CLIENT_INITIATED),
                Command::new(
                    Kind::Replace,
                    2,
                    vec![
                        Item::source("./DevInfo/Man", "Contoso & Co"),
                        Item::source("./DevInfo/Mod", "PC"),
                    ],
                ),
                Command::status(3, 1, 0, "SyncHdr", 200),
                Command {
                    items: vec![Item {
                        meta_type: Some("com.microsoft/MDM/LoginStatus".into()),
                        data: Some("user".into()),
                        ..Item::default()
                    }],
                    ..Command::alert(4, "1224")
                },
            ],
            is_final: true,
        };
        let text = m.to_xml();
        assert_eq!(Message::parse(&text).unwrap(), m);
        assert_eq!(
            Message::parse(&text)
                .unwrap()
                .header_status()
                .unwrap()
                .data
                .as_deref(),
            Some("200")
        );
        let prefixed = text
            .replace(
                "<SyncML xmlns=\"SYNCML:SYNCML1.2\">",
                "<q:SyncML xmlns:q=\"SYNCML:SYNCML1.2\" xmlns=\"SYNCML:SYNCML1.2\">",
            )
            .replace("</SyncML>", "</q:SyncML>");
        assert_eq!(Message::parse(&prefixed).unwrap(), m);
        assert!(Message::parse(&text.replace("<Alert>", "<Sync>").replace("</Alert>", "</Sync>")).is_err());
        assert!(Message::parse(&text.replace("<MsgID>1</MsgID>", "<MsgID>x</MsgID>")).is_err());
        let many = format!(
            "<SyncML xmlns=\"{NS_SYNCML}\"><SyncHdr><VerDTD>1.2</VerDTD><SessionID>1</SessionID><MsgID>1</MsgID></SyncHdr><SyncBody>{}</SyncBody></SyncML>",
            "<Get><CmdID>1</CmdID></Get>".repeat(MAX_COMMANDS + 1)
        );
        assert!(Message::parse(&many).is_err());
    }
}
