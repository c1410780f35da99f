//! `application/x-www-form-urlencoded` request bodies (every form of the portal and the
//! console), at most [`MAX_FORM_BYTES`], refused as a page error otherwise.

use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};

/// Largest form body read.
pub(crate) const MAX_FORM_BYTES: usize = 64 * 1024;

/// The fields of a submitted form, in order (a name may repeat: checkboxes).
#[derive(Default)]
pub(crate) struct Form {
    fields: Vec<(String, String)>,
}

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be passwords or PINs: names only.
        let names: Vec<&str> = self.fields.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Form").field("names", &names).finish()
    }
}

impl Form {
    /// Parses an urlencoded body.
    pub(crate) fn parse(body: &[u8]) -> Self {
        Self {
            fields: url::form_urlencoded::parse(body).into_owned().collect(),
        }
    }

    /// The first value of `name`, trimmed (empty: `None`).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The first value of `name` as given (secrets: no trimming).
    pub(crate) fn raw(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether a checkbox `name` was ticked.
    pub(crate) fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = (StatusCode, &'static str);

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let mime = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if mime != "application/x-www-form-urlencoded" {
            return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, "a form body is required"));
        }
        let bytes = axum::body::to_bytes(req.into_body(), MAX_FORM_BYTES)
            .await
            .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "the form is too large"))?;
        Ok(Self::parse(&bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_repeat_and_trim() {
        let f = Form::parse(b"a=+x+&b=1&b=2&empty=&p=+secret+");
        assert_eq!(f.get("a"), Some("x"));
        assert_eq!(f.all("b"), vec!["1", "2"]);
        assert_eq!(f.get("empty"), None);
        assert_eq!(f.raw("p"), Some(" secret "));
        assert!(!format!("{f:?}").contains("secret"));
    }
}
