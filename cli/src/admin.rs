//! Client of the reference server's admin JSON API (`/api/v1/admin/*`).
//!
//! It reuses the core's protocol client (TLS trust, size limits, typed errors) with the admin
//! bearer token, and no automatic retries (creating a user twice is not idempotent).

use enroll_core::client::{ClientConfig, Method, ProtocolClient, RetryPolicy};
use enroll_core::platform::SystemClock;
use enroll_core::protocol::{self, routes};
use enroll_core::secret::SecretString;
use enroll_core::tls::TrustConfig;
use enroll_core::Result;
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
