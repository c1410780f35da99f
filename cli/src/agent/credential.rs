//! The flags that say where the server is (`--server`, `--ca`, `--pin-spki`) and which
//! credential to enroll with (`--token`, `--pin`, `--user`), shared by `enroll`, `reenroll` and
//! `scan`, and reading a password.

use anyhow::{anyhow, bail};
use clap::Args;
use enroll_core::Credential;
use std::io::IsTerminal as _;
use std::path::PathBuf;

/// Where the server is and how to trust it.
#[derive(Args, Clone)]
pub struct ConnectArgs {
    /// Server base URL or invitation URL (`https://host/go?user=…`).
    #[arg(long, env = "ENROLL_SERVER")]
    pub(crate) server: Option<String>,
    /// CA certificate (PEM or DER) to trust for the server and its profile signature.
    #[arg(long)]
    pub(crate) ca: Option<PathBuf>,
    /// Pin the server key: `sha256/<base64>` of its SubjectPublicKeyInfo (repeatable).
    #[arg(long = "pin-spki")]
    pub(crate) pin_spki: Vec<String>,
    /// Allow plain http to a loopback server (development only).
    #[arg(long)]
    pub(crate) insecure_loopback_http: bool,
}

/// The credential to enroll with: a token, a one-time PIN, or a password.
#[derive(Args, Clone)]
pub struct CredentialArgs {
    /// Enrollment token.
    #[arg(long, conflicts_with_all = ["pin", "user"], env = "ENROLL_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// One-time PIN from the invitation (with --user, or the invitation URL's user).
    #[arg(long)]
    pub(crate) pin: Option<String>,
    /// User name (e-mail). Without --pin the password is prompted for (or read from stdin).
    #[arg(long)]
    pub(crate) user: Option<String>,
    /// Read the password from the first line of stdin instead of prompting.
    #[arg(long)]
    pub(crate) password_stdin: bool,
}

/// A password from stdin (with `from_stdin`, or when stdin is not a terminal) or a prompt.
pub(crate) fn read_password(prompt: &str, from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        let pw = line.trim_end_matches(['\r', '\n']).to_owned();
        if pw.is_empty() {
            bail!("no password on stdin");
        }
        Ok(pw)
    } else {
        Ok(rpassword::prompt_password(prompt)?)
    }
}

fn user_hint(server: &str) -> Option<String> {
    let url = url::Url::parse(server).ok()?;
    let hint = url
        .query_pairs()
        .find(|(k, _)| k == "user")
        .map(|(_, v)| v.into_owned());
    hint
}

/// The credential the flags give (`None` without any), the user defaulting to the invitation
/// URL's `user`.
pub(crate) fn credential(args: &CredentialArgs, server: Option<&str>) -> anyhow::Result<Option<Credential>> {
    if let Some(token) = &args.token {
        return Ok(Some(Credential::token(token.clone())?));
    }
    let user = args.user.clone().or_else(|| server.and_then(user_hint));
    if let Some(pin) = &args.pin {
        let user = user.ok_or_else(|| anyhow!("--pin needs --user (or an invitation URL with ?user=)"))?;
        return Ok(Some(Credential::pin(user, pin.clone())?));
    }
    if let Some(user) = args.user.clone() {
        let pw = read_password(&format!("Password for {user}: "), args.password_stdin)?;
        return Ok(Some(Credential::password(user, pw)?));
    }
    Ok(None)
}
