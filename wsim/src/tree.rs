//! The device's OMA-DM tree: what answers the server's Get, Replace, Exec and Delete.
//! [`MemoryTree`] holds DevInfo/DevDetail nodes and records what the server did (wiped,
//! unenrolled, every URI touched).

use crate::DeviceInfo;
use std::collections::BTreeMap;

/// The nodes of a device, as OMA-DM sees them. Return values are OMA-DM status codes.
pub trait DeviceTree: Send {
    /// A node's value.
    fn get(&self, uri: &str) -> Option<String>;
    /// Sets a node.
    fn replace(&mut self, uri: &str, value: &str) -> u16;
    /// Runs a node.
    fn exec(&mut self, uri: &str, data: Option<&str>) -> u16;
    /// Deletes a node.
    fn delete(&mut self, uri: &str) -> u16;
}

/// A tree in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    /// Node values.
    pub nodes: BTreeMap<String, String>,
    /// Every URI the server touched, with the verb.
    pub touched: Vec<(String, String)>,
    /// RemoteWipe/doWipe ran.
    pub wiped: bool,
    /// DMClient unenroll ran.
    pub unenrolled: bool,
}

impl MemoryTree {
    /// The nodes of `info`.
    pub fn for_device(info: &DeviceInfo) -> Self {
        let mut nodes = BTreeMap::new();
        for (k, v) in [
            ("./DevInfo/DevId", info.device_id.as_str()),
            ("./DevInfo/Man", info.manufacturer.as_str()),
            ("./DevInfo/Mod", info.model.as_str()),
            ("./DevInfo/DmV", "1.3"),
            ("./DevInfo/Lang", "en-US"),
            ("./DevDetail/SwV", info.os_version.as_str()),
            ("./DevDetail/Ext/Microsoft/DeviceName", info.device_name.as_str()),
        ] {
            nodes.insert(k.to_owned(), v.to_owned());
        }
        Self {
            nodes,
            ..Self::default()
        }
    }
}

impl DeviceTree for MemoryTree {
    fn get(&self, uri: &str) -> Option<String> {
        self.nodes.get(uri).cloned()
    }

    fn replace(&mut self, uri: &str, value: &str) -> u16 {
        self.touched.push(("Replace".into(), uri.into()));
        self.nodes.insert(uri.into(), value.into());
        200
    }

    fn exec(&mut self, uri: &str, _data: Option<&str>) -> u16 {
        self.touched.push(("Exec".into(), uri.into()));
        if uri.ends_with("/RemoteWipe/doWipe") {
            self.wiped = true;
            200
        } else if uri.contains("/DMClient/Provider/") && uri.ends_with("/Unenroll") {
            self.unenrolled = true;
            200
        } else {
            405
        }
    }

    fn delete(&mut self, uri: &str) -> u16 {
        self.touched.push(("Delete".into(), uri.into()));
        if self.nodes.remove(uri).is_some() {
            200
        } else {
            404
        }
    }
}
