//! Human output of the bulk commands: the profile and device tables and a profile's detail.

use enroll_proto::{self as protocol, BulkProfileKind};

/// An expiry time for humans (`never` for none).
pub(crate) fn expiry(e: Option<i64>) -> String {
    crate::out::date_or_never(e)
}

/// The table of bulk profiles.
pub(crate) fn table(list: &[protocol::BulkProfileView]) -> String {
    let mut s = format!(
        "{:<38} {:<28} {:<16} {:>8} {:<20} {:<24} {}\n",
        "ID", "NAME", "TYPE", "DEVICES", "MODIFIED", "USER", "DESCRIPTION"
    );
    for p in list {
        let kind = match (p.kind, p.default_kme) {
            (_, true) => "kme (default)",
            (BulkProfileKind::SamsungKme, _) => "samsung kme",
            (BulkProfileKind::SelfMaintained, _) => "self-maintained",
        };
        s.push_str(&format!(
            "{:<38} {:<28} {:<16} {:>8} {:<20} {:<24} {}\n",
            p.id,
            p.name,
            kind,
            p.device_count,
            crate::out::date(p.modified_at),
            p.user.as_deref().unwrap_or("-"),
            p.description
        ));
    }
    s.trim_end().to_owned()
}

/// The table of a profile's devices (also the KME uploads).
pub(crate) fn devices_table(list: &[protocol::BulkDeviceView]) -> String {
    let mut s = format!(
        "{:>8} {:<16} {:<20} {:<14} {:<9} {:<38} {}\n",
        "ID", "IMEI", "SERIAL", "MANUFACTURER", "APPROVED", "ENROLLED AS", "ATTRIBUTES"
    );
    for d in list {
        let attrs = d
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        s.push_str(&format!(
            "{:>8} {:<16} {:<20} {:<14} {:<9} {:<38} {}\n",
            d.id,
            d.imei.as_deref().unwrap_or("-"),
            d.serial.as_deref().unwrap_or("-"),
            d.manufacturer.as_deref().unwrap_or("-"),
            d.approved,
            d.enrolled_device_id.as_deref().unwrap_or("-"),
            attrs
        ));
    }
    s.trim_end().to_owned()
}

/// A profile's detail as JSON.
pub(crate) fn detail_json(d: &protocol::BulkProfileDetail) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::to_value(d)?)
}

/// A profile's detail for humans (it shows the token).
pub(crate) fn describe(d: &protocol::BulkProfileDetail) -> String {
    let p = &d.profile;
    let mut s = format!(
        "Profile {} ({})\n  type: {}{}\n  description: {}\n  user: {}\n  devices: {} ({} enrolled, {} pending)\n  modified: {}",
        p.name,
        p.id,
        match p.kind {
            BulkProfileKind::SelfMaintained => "self-maintained",
            BulkProfileKind::SamsungKme => "Samsung KME",
        },
        if p.default_kme { " (default: devices not assigned to a profile)" } else { "" },
        p.description,
        p.user.as_deref().unwrap_or("-"),
        p.device_count,
        d.enrolled_devices,
        d.pending_devices,
        crate::out::date(p.modified_at)
    );
    match &d.token {
        Some(t) => s.push_str(&format!(
            "\n  enrollment token: {}\n  token expires: {}",
            t.expose(),
            expiry(d.token_expires_at)
        )),
        None if p.tokenless => {
            s.push_str("\n  enrollment: without token (by IMEI, or serial number + manufacturer)")
        }
        None => {}
    }
    if let Some(sync) = &d.sync_status {
        s.push_str(&format!("\n  sync status: {sync}"));
    }
    s
}
