//! One client-initiated OMA-DM session (MS-MDM, SyncML 1.2) over mutual TLS with the issued
//! certificate: Alert 1201 with DevInfo, then the server's Get/Replace/Add/Exec/Delete answered
//! from the [`DeviceTree`] until the server sends no more commands, at most 32 messages.

use crate::state::{self, State};
use crate::{http, invalid, DeviceInfo, DeviceTree, Result};
use enroll_wmdm::syncml::{self, Command, Item, Kind, Message, SyncHdr};

/// One OMA-DM session (client-initiated) with the enrolled `state`: the number of server
/// commands answered. Every message the server sent is appended to `transcript`.
pub(crate) async fn session<T: DeviceTree>(
    info: &DeviceInfo,
    trust: &[Vec<u8>],
    tree: &mut T,
    transcript: &mut Vec<String>,
    state: &State,
) -> Result<usize> {
    let step = "oma-dm";
    let cert = state::b64d(
        state
            .cert_der
            .as_deref()
            .ok_or_else(|| invalid(step, "not enrolled"))?,
    )?;
    let key = state::b64d(
        state
            .key_pkcs8
            .as_deref()
            .ok_or_else(|| invalid(step, "no key"))?,
    )?;
    let url = state
        .management_url
        .clone()
        .ok_or_else(|| invalid(step, "no management URL"))?;
    let client = http::client(trust, Some((cert, key)))?;
    // A fresh hex SessionID per session (Windows counts in hex): a session repeated after a
    // crash is a new session, never the one the server already closed.
    let session_id = format!("{:X}", uuid::Uuid::new_v4().as_u128() as u32);
    let hdr = |msg_id: u32| SyncHdr {
        session_id: session_id.clone(),
        msg_id,
        target: url.clone(),
        source: info.device_id.clone(),
    };
    let devinfo = [
        "./DevInfo/DevId",
        "./DevInfo/Man",
        "./DevInfo/Mod",
        "./DevInfo/DmV",
        "./DevInfo/Lang",
    ]
    .iter()
    .filter_map(|u| tree.get(u).map(|v| Item::source(u, &v)))
    .collect();
    let mut msg = Message {
        hdr: hdr(1),
        commands: vec![
            Command::alert(1, syncml::ALERT_CLIENT_INITIATED),
            Command::new(Kind::Replace, 2, devinfo),
        ],
        is_final: true,
    };
    let mut answered = 0;
    for n in 1..=32u32 {
        let text = http::post_syncml(&client, &url, msg.to_xml(), step).await?;
        transcript.push(text.clone());
        let reply = Message::parse(&text).map_err(|e| invalid(step, e))?;
        if reply.header_status().and_then(|s| s.data.as_deref()) != Some("200") {
            return Err(invalid(step, "the server did not accept the message header"));
        }
        let ops: Vec<Command> = reply.operations().cloned().collect();
        if ops.is_empty() {
            return Ok(answered);
        }
        let mut out = vec![Command::status(1, reply.hdr.msg_id, 0, "SyncHdr", 200)];
        let mut id = 2;
        for c in ops {
            answered += 1;
            let uri = c.items.first().and_then(|i| i.target.clone()).unwrap_or_default();
            let data = c.items.first().and_then(|i| i.data.clone());
            let code = match c.kind {
                Kind::Get => match tree.get(&uri) {
                    Some(v) => {
                        out.push(Command {
                            msg_ref: Some(reply.hdr.msg_id),
                            cmd_ref: Some(c.cmd_id),
                            ..Command::new(Kind::Results, id + 1, vec![Item::source(&uri, &v)])
                        });
                        200
                    }
                    None => 404,
                },
                Kind::Replace | Kind::Add => tree.replace(&uri, data.as_deref().unwrap_or("")),
                Kind::Exec => tree.exec(&uri, data.as_deref()),
                Kind::Delete => tree.delete(&uri),
                _ => 406,
            };
            // The status goes before its Results.
            let at = out.len() - usize::from(c.kind == Kind::Get && code == 200);
            out.insert(
                at,
                Command::status(id, reply.hdr.msg_id, c.cmd_id, c.kind.as_str(), code),
            );
            id += 2;
        }
        msg = Message {
            hdr: hdr(n + 1),
            commands: out,
            is_final: true,
        };
    }
    Err(invalid(step, "the session did not end within 32 messages"))
}
