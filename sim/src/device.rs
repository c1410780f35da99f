//! The identity of a simulated device: what `Authenticate` and `DeviceInformation` report.
//!
//! Built from core's [`DeviceInfo`] platform trait (so a desktop or fake device can be
//! described the same way the agent describes it), or made up per index for a fleet.

use enroll_core::platform::DeviceInfo;
use plist::Value;

/// Which Apple platform to pretend to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplePlatform {
    /// An iPhone (has an IMEI).
    Ios,
    /// A Mac.
    Macos,
}

/// What a device says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// `UDID`.
    pub udid: String,
    /// `SerialNumber`.
    pub serial_number: String,
    /// `IMEI` (iPhones).
    pub imei: Option<String>,
    /// `Model` (e.g. `MQ9T3LL/A`-like identifiers are `ModelNumber`; this is `iPhone15,2`).
    pub model: String,
    /// `ModelName` (`iPhone`, `MacBook Pro`).
    pub model_name: String,
    /// `ProductName` (`iPhone15,2`, `Mac14,7`).
    pub product_name: String,
    /// `OSVersion`.
    pub os_version: String,
    /// `BuildVersion`.
    pub build_version: String,
    /// `DeviceName`.
    pub device_name: String,
    /// Which platform.
    pub platform: ApplePlatform,
}

fn random_alnum(len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
    (0..len)
        .map(|_| char::from(CHARS[fastrand::usize(..CHARS.len())]))
        .collect()
}

/// A 15-digit IMEI with a valid Luhn check digit.
fn random_imei() -> String {
    let mut digits: Vec<u32> = (0..14).map(|_| fastrand::u32(0..10)).collect();
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                x / 10 + x % 10
            } else {
                d
            }
        })
        .sum();
    digits.push((10 - sum % 10) % 10);
    digits
        .iter()
        .map(|d| char::from(b'0' + u8::try_from(*d).unwrap_or(0)))
        .collect()
}

impl DeviceIdentity {
    /// A made-up device number `index` of a fleet, with random identifiers.
    pub fn simulated(index: usize, platform: ApplePlatform) -> Self {
        let udid = format!("{:08X}-{:016X}", fastrand::u32(..), fastrand::u64(..));
        match platform {
            ApplePlatform::Ios => Self {
                udid,
                serial_number: random_alnum(10),
                imei: Some(random_imei()),
                model: "iPhone15,2".into(),
                model_name: "iPhone".into(),
                product_name: "iPhone15,2".into(),
                os_version: "17.4.1".into(),
                build_version: "21E236".into(),
                device_name: format!("Simulated iPhone {index}"),
                platform,
            },
            ApplePlatform::Macos => Self {
                udid,
                serial_number: random_alnum(10),
                imei: None,
                model: "Mac14,7".into(),
                model_name: "MacBook Pro".into(),
                product_name: "Mac14,7".into(),
                os_version: "14.4.1".into(),
                build_version: "23E224".into(),
                device_name: format!("Simulated Mac {index}"),
                platform,
            },
        }
    }

    /// A device described by a platform implementation (missing identifiers are made up).
    pub fn from_device_info(
        info: &dyn DeviceInfo,
        platform: ApplePlatform,
    ) -> Result<Self, enroll_core::platform::PlatformError> {
        let d = info.describe()?;
        let mut out = Self::simulated(0, platform);
        if let Some(udid) = d.hardware_id {
            out.udid = udid;
        }
        if let Some(serial) = d.serial {
            out.serial_number = serial;
        }
        if platform == ApplePlatform::Ios {
            out.imei = d.imeis.first().cloned().or(out.imei);
        }
        out.os_version = d.os_version;
        out.model = d.model.clone();
        out.product_name = d.model;
        Ok(out)
    }

    /// The `DeviceInformation` value of query `key`, when this device knows it.
    pub fn query(&self, key: &str) -> Option<Value> {
        let s = |v: &str| Some(Value::String(v.to_owned()));
        match key {
            "UDID" => s(&self.udid),
            "SerialNumber" => s(&self.serial_number),
            "IMEI" => self.imei.as_deref().and_then(s),
            "Model" => s(&self.model),
            "ModelName" => s(&self.model_name),
            "ProductName" => s(&self.product_name),
            "OSVersion" => s(&self.os_version),
            "BuildVersion" => s(&self.build_version),
            "DeviceName" => s(&self.device_name),
            "IsSupervised" => Some(Value::Boolean(false)),
            "IsMultiUser" => Some(Value::Boolean(false)),
            "HasBattery" => Some(Value::Boolean(self.platform == ApplePlatform::Ios)),
            "BatteryLevel" if self.platform == ApplePlatform::Ios => Some(Value::Real(0.8)),
            "DeviceCapacity" => Some(Value::Real(128.0)),
            "AvailableDeviceCapacity" => Some(Value::Real(64.0)),
            "IsActivationLockEnabled" => Some(Value::Boolean(false)),
            "AwaitingConfiguration" => Some(Value::Boolean(false)),
            _ => None,
        }
    }

    /// The keys answered when `Queries` is empty.
    pub const ALL_QUERIES: &'static [&'static str] = &[
        "UDID",
        "SerialNumber",
        "IMEI",
        "Model",
        "ModelName",
        "ProductName",
        "OSVersion",
        "BuildVersion",
        "DeviceName",
        "IsSupervised",
        "IsMultiUser",
        "HasBattery",
        "BatteryLevel",
        "DeviceCapacity",
        "AvailableDeviceCapacity",
        "IsActivationLockEnabled",
        "AwaitingConfiguration",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities() {
        let d = DeviceIdentity::simulated(3, ApplePlatform::Ios);
        let imei = d.imei.clone().unwrap();
        assert_eq!(imei.len(), 15);
        assert_eq!(d.query("UDID"), Some(Value::String(d.udid.clone())));
        assert_eq!(d.query("NoSuchKey"), None);
        assert!(DeviceIdentity::simulated(0, ApplePlatform::Macos).imei.is_none());
        let fake = enroll_core::fakes::FakeDevice::new(enroll_proto::DeviceDescriptor {
            platform: enroll_proto::Platform::Ios,
            os_version: "17.0".into(),
            model: "iPhone14,2".into(),
            manufacturer: "Apple".into(),
            serial: Some("SER1".into()),
            imeis: vec!["490154203237518".into()],
            hardware_id: Some("UDID-1".into()),
            agent_version: String::new(),
        });
        let d = DeviceIdentity::from_device_info(fake.as_ref(), ApplePlatform::Ios).unwrap();
        assert_eq!((d.udid.as_str(), d.serial_number.as_str()), ("UDID-1", "SER1"));
        assert_eq!(d.imei.as_deref(), Some("490154203237518"));
    }
}
