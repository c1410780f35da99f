//! Client of the reference server's admin JSON API (`/api/v1/admin/*`).
//!
//! It reuses the core's protocol client (TLS trust, size limits, typed errors) with the admin
//! bearer token, and no automatic retries (creating a user twice is not idempotent).

use enroll_core::client::{ClientConfig, Method, ProtocolClient, RetryPolicy};
use enroll_core::platform::SystemClock;
use enroll_core::tls::TrustConfig;
use enroll_core::Result;
use enroll_proto::secret::SecretString;
use enroll_proto::{self as protocol, routes};
use std::sync::Arc;

/// Admin API client.
#[derive(Debug, Clone)]
pub struct AdminClient {
    client: ProtocolClient,
    token: SecretString,
}

fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn with_id(template: &str, id: &str) -> String {
    let start = template.find('{').unwrap_or(template.len());
    let end = template[start..]
        .find('}')
        .map(|e| start + e + 1)
        .unwrap_or(template.len());
    format!("{}{}{}", &template[..start], encode(id), &template[end..])
}

impl AdminClient {
    /// A client for the server at `base_url`, trusting `trust`, authenticating with `token`.
    pub fn new(base_url: &str, trust: TrustConfig, token: SecretString, allow_http: bool) -> Result<Self> {
        let config = ClientConfig {
            trust,
            allow_insecure_loopback_http: allow_http,
            retry: RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            },
            max_json_bytes: 64 * 1024 * 1024,
            ..ClientConfig::default()
        };
        Ok(Self {
            client: ProtocolClient::new(base_url, config, Arc::new(SystemClock))?,
            token,
        })
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.client
            .json(Method::GET, path, Some(&self.token), None, None::<&()>)
            .await
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<T> {
        self.client
            .json(Method::POST, path, Some(&self.token), None, Some(body))
            .await
    }

    /// `GET` of a Windows admin route (JSON as the server sends it).
    pub async fn windows_get(&self, path: &str) -> Result<serde_json::Value> {
        self.get(path).await
    }

    /// `POST` of a Windows admin route.
    pub async fn windows_post(&self, path: &str, body: &serde_json::Value) -> Result<serde_json::Value> {
        self.post(path, body).await
    }

    /// Creates a user.
    pub async fn create_user(&self, request: &protocol::CreateUserRequest) -> Result<protocol::UserView> {
        self.post(routes::ADMIN_USERS, request).await
    }

    /// Lists users.
    pub async fn users(&self) -> Result<Vec<protocol::UserView>> {
        self.get(routes::ADMIN_USERS).await
    }

    /// Invites a user (optionally with a one-time PIN).
    pub async fn invite(
        &self,
        email: &str,
        request: &protocol::InviteRequest,
    ) -> Result<protocol::InviteResponse> {
        self.post(&with_id(routes::ADMIN_INVITATIONS, email), request)
            .await
    }

    /// Issues an enrollment token.
    pub async fn create_token(
        &self,
        request: &protocol::CreateTokenRequest,
    ) -> Result<protocol::TokenResponse> {
        self.post(routes::ADMIN_TOKENS, request).await
    }

    /// Lists devices (with archived entries when asked).
    pub async fn devices(&self, include_archived: bool) -> Result<Vec<protocol::DeviceView>> {
        let path = if include_archived {
            format!("{}?include_archived=true", routes::ADMIN_DEVICES)
        } else {
            routes::ADMIN_DEVICES.to_owned()
        };
        self.get(&path).await
    }

    /// A device with its history.
    pub async fn device(&self, id: &str) -> Result<protocol::DeviceDetail> {
        self.get(&with_id(routes::ADMIN_DEVICE, id)).await
    }

    /// Retires, wipes or resets a device.
    pub async fn action(&self, id: &str, action: protocol::DeviceAction) -> Result<protocol::DeviceView> {
        let template = match action {
            protocol::DeviceAction::Retire => routes::ADMIN_DEVICE_RETIRE,
            protocol::DeviceAction::Wipe => routes::ADMIN_DEVICE_WIPE,
            protocol::DeviceAction::Reset => routes::ADMIN_DEVICE_RESET,
        };
        self.post(&with_id(template, id), &serde_json::json!({})).await
    }

    /// Enrollments whose profile is not installed yet.
    pub async fn pending(&self) -> Result<Vec<protocol::PendingInstall>> {
        self.get(routes::ADMIN_PENDING).await
    }

    /// Queues an Apple MDM command for a device.
    pub async fn queue_command(
        &self,
        id: &str,
        request: &protocol::QueueCommandRequest,
    ) -> Result<protocol::MdmCommandView> {
        self.post(&with_id(routes::ADMIN_DEVICE_COMMANDS, id), request)
            .await
    }

    /// A device's Apple MDM commands and their results, oldest first.
    pub async fn commands(&self, id: &str) -> Result<Vec<protocol::MdmCommandView>> {
        self.get(&with_id(routes::ADMIN_DEVICE_COMMANDS, id)).await
    }

    /// A device's Apple MDM enrollment and last `DeviceInformation`.
    pub async fn mdm(&self, id: &str) -> Result<protocol::AppleMdmView> {
        self.get(&with_id(routes::ADMIN_DEVICE_MDM, id)).await
    }
}

/// Largest download accepted by the admin client (CSV inventories, QR images): 256 MiB.
pub const MAX_DOWNLOAD_BYTES: usize = 256 * 1024 * 1024;

/// Outcome of a CSV upload or of adding devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Everything was imported.
    Imported(protocol::ImportReport),
    /// The file was rejected whole: nothing was imported; the report lists the bad lines.
    Rejected(protocol::ImportRejected),
}

// Bulk enrollment and Samsung KME (admin API `/api/v1/admin/bulk/*`, `/api/v1/admin/kme/*`).
impl AdminClient {
    async fn raw_json_body(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl serde::Serialize>,
    ) -> Result<enroll_core::client::RawReply> {
        let body = match body {
            Some(b) => Some(enroll_core::client::Body::from(
                serde_json::to_vec(b).map_err(|e| enroll_core::Error::InvalidState(e.to_string()))?,
            )),
            None => None,
        };
        let content_type = body.as_ref().map(|_| protocol::JSON_CONTENT_TYPE);
        self.client
            .raw(
                method,
                path,
                Some(&self.token),
                content_type,
                body,
                MAX_DOWNLOAD_BYTES,
            )
            .await
    }

    fn outcome(reply: enroll_core::client::RawReply) -> Result<ImportOutcome> {
        if reply.is_success() {
            return reply.json().map(ImportOutcome::Imported);
        }
        match reply.json::<protocol::ImportRejected>() {
            Ok(rejected) if reply.status == 400 => Ok(ImportOutcome::Rejected(rejected)),
            _ => Err(reply.to_error()),
        }
    }

    /// Downloads a raw body (CSV, image) from an admin route.
    pub async fn download(&self, path: &str) -> Result<Vec<u8>> {
        let reply = self.raw_json_body(Method::GET, path, None::<&()>).await?;
        if reply.is_success() {
            Ok(reply.body)
        } else {
            Err(reply.to_error())
        }
    }

    /// The CSV template.
    pub async fn bulk_template(&self) -> Result<Vec<u8>> {
        self.download(routes::ADMIN_BULK_TEMPLATE).await
    }

    /// Bulk profiles, the default Samsung KME profile first.
    pub async fn bulk_profiles(&self) -> Result<Vec<protocol::BulkProfileView>> {
        self.get(routes::ADMIN_BULK_PROFILES).await
    }

    /// Creates a bulk profile.
    pub async fn create_bulk_profile(
        &self,
        request: &protocol::CreateBulkProfileRequest,
    ) -> Result<protocol::BulkProfileDetail> {
        self.post(routes::ADMIN_BULK_PROFILES, request).await
    }

    /// A bulk profile with its token and counters.
    pub async fn bulk_profile(&self, id: &str) -> Result<protocol::BulkProfileDetail> {
        self.get(&with_id(routes::ADMIN_BULK_PROFILE, id)).await
    }

    /// Edits a bulk profile.
    pub async fn update_bulk_profile(
        &self,
        id: &str,
        request: &protocol::UpdateBulkProfileRequest,
    ) -> Result<protocol::BulkProfileDetail> {
        self.client
            .json(
                Method::PATCH,
                &with_id(routes::ADMIN_BULK_PROFILE, id),
                Some(&self.token),
                None,
                Some(request),
            )
            .await
    }

    /// Deletes a bulk profile.
    pub async fn delete_bulk_profile(&self, id: &str) -> Result<()> {
        let reply = self
            .raw_json_body(
                Method::DELETE,
                &with_id(routes::ADMIN_BULK_PROFILE, id),
                None::<&()>,
            )
            .await?;
        if reply.is_success() {
            Ok(())
        } else {
            Err(reply.to_error())
        }
    }

    /// Refreshes or extends a profile's token.
    pub async fn bulk_token(
        &self,
        id: &str,
        request: &protocol::BulkTokenRequest,
    ) -> Result<protocol::TokenResponse> {
        self.post(&with_id(routes::ADMIN_BULK_TOKEN, id), request).await
    }

    /// A page of a profile's devices.
    pub async fn bulk_devices(
        &self,
        id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<protocol::BulkDeviceView>> {
        self.get(&format!(
            "{}?offset={offset}&limit={limit}",
            with_id(routes::ADMIN_BULK_DEVICES, id)
        ))
        .await
    }

    /// Adds devices (all or nothing).
    pub async fn add_bulk_devices(
        &self,
        id: &str,
        request: &protocol::AddBulkDevicesRequest,
    ) -> Result<ImportOutcome> {
        let reply = self
            .raw_json_body(
                Method::POST,
                &with_id(routes::ADMIN_BULK_DEVICES, id),
                Some(request),
            )
            .await?;
        Self::outcome(reply)
    }

    /// Edits devices (all or nothing).
    pub async fn edit_bulk_devices(
        &self,
        id: &str,
        request: &protocol::EditBulkDevicesRequest,
    ) -> Result<Vec<protocol::BulkDeviceView>> {
        self.client
            .json(
                Method::PATCH,
                &with_id(routes::ADMIN_BULK_DEVICES, id),
                Some(&self.token),
                None,
                Some(request),
            )
            .await
    }

    /// Deletes selected devices of a profile.
    pub async fn delete_bulk_devices(
        &self,
        id: &str,
        device_ids: Vec<i64>,
    ) -> Result<protocol::AffectedResponse> {
        self.post(
            &with_id(routes::ADMIN_BULK_DEVICES_DELETE, id),
            &protocol::DeviceIdsRequest { device_ids },
        )
        .await
    }

    /// Moves Samsung KME devices to another KME profile.
    pub async fn move_bulk_devices(
        &self,
        id: &str,
        device_ids: Vec<i64>,
        to_profile: &str,
    ) -> Result<protocol::AffectedResponse> {
        self.post(
            &with_id(routes::ADMIN_BULK_DEVICES_MOVE, id),
            &protocol::MoveDevicesRequest {
                device_ids,
                to_profile: to_profile.to_owned(),
            },
        )
        .await
    }

    /// Sends Samsung KME devices back to the default KME profile.
    pub async fn unassign_bulk_devices(
        &self,
        id: &str,
        device_ids: Vec<i64>,
    ) -> Result<protocol::AffectedResponse> {
        self.post(
            &with_id(routes::ADMIN_BULK_DEVICES_UNASSIGN, id),
            &protocol::DeviceIdsRequest { device_ids },
        )
        .await
    }

    /// Uploads a CSV (a streamed body) into a profile; `replace` replaces the inventory.
    pub async fn upload_bulk_csv(
        &self,
        id: &str,
        body: enroll_core::client::Body,
        replace: bool,
        delimiter: &str,
    ) -> Result<ImportOutcome> {
        let mut path = with_id(routes::ADMIN_BULK_DEVICES_CSV, id);
        let delimiter = match delimiter {
            "," => "comma",
            ";" => "semicolon",
            other => other,
        };
        let mut query = Vec::new();
        if replace {
            query.push("mode=replace".to_owned());
        }
        if delimiter != "auto" {
            query.push(format!("delimiter={delimiter}"));
        }
        if !query.is_empty() {
            path.push('?');
            path.push_str(&query.join("&"));
        }
        let reply = self
            .client
            .raw(
                Method::POST,
                &path,
                Some(&self.token),
                Some(protocol::CSV_CONTENT_TYPE),
                Some(body),
                MAX_DOWNLOAD_BYTES,
            )
            .await?;
        Self::outcome(reply)
    }

    /// A profile's inventory as CSV.
    pub async fn bulk_inventory_csv(&self, id: &str) -> Result<Vec<u8>> {
        self.download(&with_id(routes::ADMIN_BULK_DEVICES_CSV, id)).await
    }

    /// A profile's provisioning payloads (they carry its token).
    pub async fn bulk_provisioning(&self, id: &str) -> Result<protocol::ProvisioningPayloads> {
        self.get(&with_id(routes::ADMIN_BULK_PROVISIONING, id)).await
    }

    /// A profile's QR code (`format` png or svg).
    pub async fn bulk_qr(&self, id: &str, format: &str, scale: u32) -> Result<Vec<u8>> {
        self.download(&format!(
            "{}?format={}&scale={scale}",
            with_id(routes::ADMIN_BULK_QR, id),
            encode(format)
        ))
        .await
    }

    /// The QR code of a user's invitation URL.
    pub async fn invitation_qr(&self, email: &str, format: &str, scale: u32) -> Result<Vec<u8>> {
        self.download(&format!(
            "{}?format={}&scale={scale}",
            with_id(routes::ADMIN_INVITATION_QR, email),
            encode(format)
        ))
        .await
    }

    /// State of the Samsung KME integration.
    pub async fn kme_integration(&self) -> Result<protocol::KmeIntegrationView> {
        self.get(routes::ADMIN_KME_INTEGRATION).await
    }

    /// Turns the Samsung KME integration on.
    pub async fn enable_kme(
        &self,
        request: &protocol::KmeIntegrationRequest,
    ) -> Result<protocol::KmeIntegrationView> {
        self.post(routes::ADMIN_KME_INTEGRATION, request).await
    }

    /// A page of the KME uploads waiting for approval.
    pub async fn kme_uploads(&self, offset: u64, limit: u64) -> Result<Vec<protocol::BulkDeviceView>> {
        self.get(&format!(
            "{}?offset={offset}&limit={limit}",
            routes::ADMIN_KME_UPLOADS
        ))
        .await
    }

    /// The KME uploads waiting for approval, as CSV.
    pub async fn kme_uploads_csv(&self) -> Result<Vec<u8>> {
        self.download(routes::ADMIN_KME_UPLOADS_CSV).await
    }

    /// Uploads a reseller CSV (the Knox sync seam).
    pub async fn upload_kme_csv(&self, body: enroll_core::client::Body) -> Result<ImportOutcome> {
        let reply = self
            .client
            .raw(
                Method::POST,
                routes::ADMIN_KME_UPLOADS_CSV,
                Some(&self.token),
                Some(protocol::CSV_CONTENT_TYPE),
                Some(body),
                MAX_DOWNLOAD_BYTES,
            )
            .await?;
        Self::outcome(reply)
    }

    /// Approves all, or the selected, KME uploads.
    pub async fn kme_approve(
        &self,
        request: &protocol::KmeApproveRequest,
    ) -> Result<protocol::AffectedResponse> {
        self.post(routes::ADMIN_KME_APPROVE, request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_percent_encoded() {
        assert_eq!(
            with_id(routes::ADMIN_INVITATIONS, "a b@x/y"),
            "/api/v1/admin/users/a%20b%40x%2Fy/invitations"
        );
    }
}
