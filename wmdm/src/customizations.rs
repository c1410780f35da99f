//! The Windows Configuration Designer project file (`customizations.xml`) of seed 001: the
//! `Workplace/Enrollments/UPN` settings (AuthPolicy OnPremise, DiscoveryServiceFullUrl,
//! Secret) a provisioning package carries, and the `icd.exe` command that builds the `.ppkg`
//! from it on Windows. The device mode reads the same file back.

use crate::error::{malformed, Result};
use crate::xml::{self, esc};

/// The package-config namespace of WCD projects.
pub const NS_PACKAGE_CONFIG: &str = "urn:schemas-Microsoft-com:Windows-ICD-Package-Config.v1.0";
/// The settings namespace of WCD projects.
pub const NS_PROVISIONING: &str = "urn:schemas-microsoft-com:windows-provisioning";
/// Largest customizations.xml read.
pub const MAX_CUSTOMIZATIONS_BYTES: usize = 256 * 1024;

/// One `Workplace/Enrollments/UPN` entry. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct WorkplaceEnrollment {
    /// The user principal name (the `windows-bulkenroll…` user).
    pub upn: String,
    /// `AuthPolicy` (OnPremise for seed 001).
    pub auth_policy: String,
    /// `DiscoveryServiceFullUrl`.
    pub discovery_url: String,
    /// `Secret` (the user's password).
    pub secret: String,
}

impl std::fmt::Debug for WorkplaceEnrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkplaceEnrollment")
            .field("upn", &self.upn)
            .field("auth_policy", &self.auth_policy)
            .field("discovery_url", &self.discovery_url)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A WCD project (`customizations.xml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customizations {
    /// `PackageConfig/ID` (a `{GUID}`).
    pub package_id: String,
    /// `PackageConfig/Name`.
    pub name: String,
    /// The enrollment.
    pub enrollment: WorkplaceEnrollment,
}

impl Customizations {
    /// The file text.
    pub fn to_xml(&self) -> String {
        let e = &self.enrollment;
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<WindowsCustomizations>\n  \
<PackageConfig xmlns=\"{NS_PACKAGE_CONFIG}\">\n    <ID>{}</ID>\n    <Name>{}</Name>\n    \
<Version>1.0</Version>\n    <OwnerType>ITAdmin</OwnerType>\n    <Rank>0</Rank>\n    <Notes />\n  </PackageConfig>\n  \
<Settings xmlns=\"{NS_PROVISIONING}\">\n    <Customizations>\n      <Common>\n        <Workplace>\n          \
<Enrollments>\n            <UPN UPN=\"{}\">\n              <AuthPolicy>{}</AuthPolicy>\n              \
<DiscoveryServiceFullUrl>{}</DiscoveryServiceFullUrl>\n              <Secret>{}</Secret>\n            </UPN>\n          \
</Enrollments>\n        </Workplace>\n      </Common>\n    </Customizations>\n  </Settings>\n</WindowsCustomizations>\n",
            esc(&self.package_id),
            esc(&self.name),
            esc(&e.upn),
            esc(&e.auth_policy),
            esc(&e.discovery_url),
            esc(&e.secret),
        )
    }

    /// Reads a project file (the first UPN entry).
    pub fn parse(text: &str) -> Result<Self> {
        let what = "customizations.xml";
        let doc = xml::parse(text, MAX_CUSTOMIZATIONS_BYTES, what)?;
        let root = doc.root_element();
        if root.tag_name().name() != "WindowsCustomizations" {
            return Err(malformed(what, "the root is not <WindowsCustomizations>"));
        }
        let pc = xml::find(root, NS_PACKAGE_CONFIG, "PackageConfig");
        let upn = xml::find(root, NS_PROVISIONING, "Enrollments")
            .and_then(|e| xml::child(e, NS_PROVISIONING, "UPN"))
            .ok_or_else(|| malformed(what, "no Workplace/Enrollments/UPN"))?;
        let t = |n: &str| xml::child_text(upn, NS_PROVISIONING, n).unwrap_or_default();
        Ok(Self {
            package_id: pc
                .and_then(|p| xml::child_text(p, NS_PACKAGE_CONFIG, "ID"))
                .unwrap_or_default(),
            name: pc
                .and_then(|p| xml::child_text(p, NS_PACKAGE_CONFIG, "Name"))
                .unwrap_or_default(),
            enrollment: WorkplaceEnrollment {
                upn: upn
                    .attribute("UPN")
                    .ok_or_else(|| malformed(what, "UPN without its UPN attribute"))?
                    .to_owned(),
                auth_policy: t("AuthPolicy"),
                discovery_url: t("DiscoveryServiceFullUrl"),
                secret: t("Secret"),
            },
        })
    }
}

/// The command that builds the `.ppkg` from the project file on a Windows PC with the Windows
/// ADK's Imaging and Configuration Designer installed.
pub fn build_command(customizations_file: &str, package_file: &str) -> String {
    format!(
        "icd.exe /Build-ProvisioningPackage /CustomizationXML:\"{customizations_file}\" /PackagePath:\"{package_file}\" \
/StoreFile:\"C:\\Program Files (x86)\\Windows Kits\\10\\Assessment and Deployment Kit\\Imaging and Configuration Designer\\x86\\Microsoft-Desktop-Provisioning.dat\" +Overwrite"
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip_hides_secret() {
        let c = Customizations {
            package_id: "{0EA893A5-1E93-4D21-A6B1-DC788946FD1D}".into(),
            name: "bulk".into(),
            enrollment: WorkplaceEnrollment {
                upn: "windows-bulkenroll-user1@abc.com".into(),
                auth_policy: "OnPremise".into(),
                discovery_url: "https://mdm.example.com".into(),
                secret: "s3cr<e>t".into(),
            },
        };
        let text = c.to_xml();
        assert_eq!(Customizations::parse(&text).unwrap(), c);
        assert!(!format!("{c:?}").contains("s3cr"));
        assert!(build_command("a.xml", "b.ppkg").contains("/Build-ProvisioningPackage"));
    }
}
