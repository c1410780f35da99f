//! Errors in the user's terms: one function ([`describe`]) turns any failure of a command into
//! a message with the next step, a stable `code` (the `--json` error document) and the exit
//! code (table in `docs/cli.md`). No library jargon reaches the user.

use enroll_core::Error as CoreError;

/// Exit code: the command failed.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code: bad usage (the command line, a server address); clap uses it too.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the server could not be reached or verified (network, TLS).
pub const EXIT_UNREACHABLE: u8 = 3;
/// Exit code: the server refused the request (credentials, state, limits).
pub const EXIT_REFUSED: u8 = 4;

/// Exit code: interrupted by Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// The user pressed Ctrl-C; the message says what became of the work on both sides.
#[derive(Debug)]
pub struct Interrupted(pub String);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Interrupted {}

/// An admin request the server refused, with the server's own message (written for
/// administrators: it says which rule refused) and the next step for the command that failed.
#[derive(Debug)]
pub struct AdminRefused {
    /// The server's error code.
    pub code: String,
    /// The server's message.
    pub message: String,
    /// What to do next.
    pub next: String,
}

impl std::fmt::Display for AdminRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "The server refused: {} Next: {}",
            end_sentence(&self.message),
            self.next
        )
    }
}

impl std::error::Error for AdminRefused {}

fn end_sentence(s: &str) -> String {
    let s = s.trim();
    if s.ends_with(['.', '!', '?']) {
        s.to_owned()
    } else {
        format!("{s}.")
    }
}

impl AdminRefused {
    /// The error of an admin call: a refusal by the server keeps the server's message (bounded
    /// to 500 characters) and gets `next`; other failures (network, TLS) pass through unchanged.
    pub fn wrap(err: CoreError, next: &str) -> anyhow::Error {
        match err {
            CoreError::Server { info, .. } if !info.message.trim().is_empty() => AdminRefused {
                code: info.code.as_str().to_owned(),
                message: info.message.chars().take(500).collect(),
                next: next.to_owned(),
            }
            .into(),
            other => other.into(),
        }
    }
}

/// A failure as shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// Stable machine-readable code (the server's error code when it refused).
    pub code: String,
    /// What happened and what to do next.
    pub message: String,
    /// Process exit code.
    pub exit: u8,
    /// Tries left after a wrong PIN (the server's count), in the `--json` error as `attempts_left`.
    pub attempts_left: Option<u32>,
}

fn described(code: &str, message: impl Into<String>, exit: u8) -> Described {
    Described {
        code: code.to_owned(),
        message: message.into(),
        exit,
        attempts_left: None,
    }
}

const RESUME: &str =
    "`enroll resume` continues the enrollment once the server answers (`enroll resume --server URL` \
                      if the address was wrong; `enroll` again with other values starts over).";

const RETRY_CA: &str =
    "Then run the same `enroll` command with the right `--ca`, or `enroll resume --ca FILE`.";

/// Describes a command's failure.
pub fn describe(err: &anyhow::Error) -> Described {
    if let Some(Interrupted(message)) = err.downcast_ref::<Interrupted>() {
        return described("interrupted", message.clone(), EXIT_INTERRUPTED);
    }
    if let Some(refused) = err.downcast_ref::<AdminRefused>() {
        return described(&refused.code, refused.to_string(), EXIT_REFUSED);
    }
    match err.chain().find_map(|e| e.downcast_ref::<CoreError>()) {
        Some(core) => describe_core(core),
        None => described("failed", format!("{err:#}"), EXIT_FAILURE),
    }
}

fn is_trust_failure(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("unknownissuer")
        || t.contains("unknown issuer")
        || t.contains("invalid peer certificate")
        || t.contains("certificate")
}

/// Describes an agent-engine error.
pub fn describe_core(e: &CoreError) -> Described {
    match e {
        CoreError::Server { info, .. } => {
            let code = serde_json::to_value(info.code)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "server_refused".to_owned());
            let mut message = e.user_message();
            match code.as_str() {
                "device_inactive" => message.push_str(
                    " This device was retired or wiped: run `enroll forget`, then `enroll` with a new invitation or token.",
                ),
                "rate_limited" | "unavailable" => {
                    if let Some(secs) = info.retry_after_secs {
                        message.push_str(&format!(" (retry in {secs} s)"));
                    }
                }
                _ => {}
            }
            Described {
                code,
                message,
                exit: EXIT_REFUSED,
                attempts_left: info.attempts_left,
            }
        }
        CoreError::UntrustedCertificate(_) => described(
            "untrusted_certificate",
            format!(
                "The server's certificate is not signed by a CA this computer trusts. Check `--ca`: it must be the \
                 server's CA certificate (`ca.pem` in the server's data directory), and `--server` must name that \
                 server. {RETRY_CA}"
            ),
            EXIT_UNREACHABLE,
        ),
        // The code stays `untrusted_certificate` (stable for scripts); the message names the
        // defect.
        CoreError::CertificateExpired => described(
            "untrusted_certificate",
            "The server's certificate has expired. Ask the server's administrator to renew it.",
            EXIT_UNREACHABLE,
        ),
        CoreError::CertificateNotYetValid => described(
            "untrusted_certificate",
            "The server's certificate is not valid yet. Check this computer's date and time, then try again.",
            EXIT_UNREACHABLE,
        ),
        CoreError::CertificateWrongHost => described(
            "untrusted_certificate",
            "The server's certificate was issued for another name. Check `--server`: use the name the server's \
             certificate was made for.",
            EXIT_UNREACHABLE,
        ),
        CoreError::CertificateSelfSigned => described(
            "untrusted_certificate",
            format!(
                "The server presents a self-signed certificate this computer does not trust. Give the server's CA \
                 certificate with `--ca`. {RETRY_CA}"
            ),
            EXIT_UNREACHABLE,
        ),
        CoreError::CertificateUnknownIssuer => described(
            "untrusted_certificate",
            format!(
                "The server's certificate is signed by a CA this computer does not trust. Check `--ca`: it must be \
                 the server's CA certificate (`ca.pem` in the server's data directory). {RETRY_CA}"
            ),
            EXIT_UNREACHABLE,
        ),
        CoreError::TlsVersionRefused => described(
            "tls_version_refused",
            "The server only speaks TLS versions older than 1.2, which are refused. Ask the server's \
             administrator to enable TLS 1.2 or 1.3.",
            EXIT_UNREACHABLE,
        ),
        CoreError::PinMismatch => described(
            "pin_mismatch",
            "The server's key does not match the pinned key: this is not the expected server. Check `--server`.",
            EXIT_UNREACHABLE,
        ),
        CoreError::Network(text) if is_trust_failure(text) => described(
            "untrusted_certificate",
            format!(
                "The server's certificate is not trusted. Check `--ca`: it must be the server's CA certificate \
                 (`ca.pem` in the server's data directory). {RETRY_CA}"
            ),
            EXIT_UNREACHABLE,
        ),
        CoreError::Network(text) if text.to_ascii_lowercase().contains("refused") => described(
            "connection_refused",
            format!(
                "Nothing answered at the server address: is the enrollment server running at that address and port \
                 (`--server`)? {RESUME}"
            ),
            EXIT_UNREACHABLE,
        ),
        CoreError::Network(_) => described(
            "network",
            format!("The enrollment server cannot be reached: check the network and the address (`--server`). {RESUME}"),
            EXIT_UNREACHABLE,
        ),
        CoreError::Timeout => described(
            "timeout",
            format!("The enrollment server did not answer in time. {RESUME}"),
            EXIT_UNREACHABLE,
        ),
        CoreError::InvalidUrl(text) => {
            let message = if text.contains("relative URL") || text.contains("base") {
                "The server address must be a full URL starting with https://, e.g. https://mdm.example.com:8443."
                    .to_owned()
            } else {
                format!("The server address is not valid ({text}): write it as https://host:port.")
            };
            described("invalid_url", message, EXIT_USAGE)
        }
        CoreError::InsecureUrl(_) => described(
            "insecure_url",
            "The server address must start with https:// (plain http is only for a server on this computer).",
            EXIT_USAGE,
        ),
        CoreError::InvalidState(text) => described(
            "invalid_state",
            format!("Not possible now: {text}. `enroll status` shows where things stand and the way on."),
            EXIT_FAILURE,
        ),
        other => described("failed", other.user_message(), EXIT_FAILURE),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn refused_connections_and_trust_failures_say_what_to_check() {
        let d = describe_core(&CoreError::Network(
            "tcp connect error: Connection refused (os error 111)".into(),
        ));
        assert_eq!(
            (d.code.as_str(), d.exit),
            ("connection_refused", EXIT_UNREACHABLE)
        );
        assert!(d.message.contains("running"));
        let d = describe_core(&CoreError::UntrustedCertificate(
            "invalid peer certificate: UnknownIssuer".into(),
        ));
        assert!(d.message.contains("--ca"));
        assert!(!d.message.contains("UnknownIssuer"));
        let d = describe_core(&CoreError::InvalidUrl("relative URL without a base".into()));
        assert!(d.message.contains("https://"));
        assert!(!d.message.contains("relative URL"));
    }
}
