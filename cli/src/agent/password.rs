//! After a PIN enrollment: the server's offer to set the user's first password (seed 003).
//! Asked on a terminal (hidden input, typed twice), read from `--new-password-file` for
//! scripts, or declined with `--no-new-password`. The password never reaches a log, an error
//! or the `--json` document, which says only whether it was set.

use crate::out::Out;
use anyhow::Context as _;
use clap::Args;
use enroll_core::agent::state::EnrollmentStatus;
use enroll_core::secret::SecretString;
use enroll_core::{Agent, Error};
use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;

/// Largest `--new-password-file` read, in bytes (a password is at most 1024 bytes).
const MAX_PASSWORD_FILE_BYTES: u64 = 4096;
/// Tries at the terminal prompt before giving up (the offer stays for `--new-password-file`).
const PROMPT_TRIES: u32 = 3;

/// What to do when the server offers to set the user's first password after a PIN enrollment.
#[derive(Args, Clone, Default)]
pub struct NewPasswordArgs {
    /// After a PIN enrollment of a user without a password: read the new password from the
    /// first line of FILE instead of asking for it.
    #[arg(long, value_name = "FILE", conflicts_with = "no_new_password")]
    pub(crate) new_password_file: Option<PathBuf>,
    /// After a PIN enrollment: do not set a password (it can be set later in the portal).
    #[arg(long)]
    pub(crate) no_new_password: bool,
}

/// What happened to the offer, for the result document.
pub(crate) struct PasswordOutcome {
    /// The password is set.
    pub set: bool,
    /// Why it was not set, when it was tried (no secret).
    pub error: Option<(String, String)>,
}

fn read_file(path: &PathBuf) -> anyhow::Result<SecretString> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("reading the new password file {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_PASSWORD_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading the new password file {}", path.display()))?;
    if bytes.len() as u64 > MAX_PASSWORD_FILE_BYTES {
        anyhow::bail!(
            "{} is larger than {MAX_PASSWORD_FILE_BYTES} bytes: put the password alone on its first line",
            path.display()
        );
    }
    let text =
        String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", path.display()))?;
    let line = text.lines().next().unwrap_or_default().to_owned();
    Ok(SecretString::new(line))
}

fn code_of(err: &Error) -> String {
    err.server_code()
        .map(|c| c.as_str().to_owned())
        .unwrap_or_else(|| "set_password_failed".to_owned())
}

/// Handles the offer carried by `status` (nothing when there is none): returns the status
/// afterwards and what happened. A failed attempt does not fail the enrollment.
pub(crate) async fn offer(
    agent: &Agent,
    status: EnrollmentStatus,
    args: &NewPasswordArgs,
    out: &Out,
) -> anyhow::Result<(EnrollmentStatus, PasswordOutcome)> {
    let none = PasswordOutcome {
        set: false,
        error: None,
    };
    let EnrollmentStatus::Active {
        password_offered: true,
        user,
        ..
    } = &status
    else {
        return Ok((status, none));
    };
    let user = user.clone().unwrap_or_default();
    if args.no_new_password {
        let status = agent.skip_password().await?;
        out.step("Not setting a password (--no-new-password): set one later in the self-service portal.");
        return Ok((status, none));
    }
    if let Some(path) = &args.new_password_file {
        let password = read_file(path)?;
        return Ok(match agent.set_password(password).await {
            Ok(status) => {
                out.step(format!("Password set for {user}."));
                (
                    status,
                    PasswordOutcome {
                        set: true,
                        error: None,
                    },
                )
            }
            Err(err) => {
                out.step(format!(
                    "The password was not set: {} `enroll resume --new-password-file FILE` tries again while the \
                     server offers it.",
                    err.user_message()
                ));
                let error = Some((code_of(&err), err.user_message()));
                (agent.status(), PasswordOutcome { set: false, error })
            }
        });
    }
    if !std::io::stdin().is_terminal() {
        out.step(
            "The server offers to set a password for this account: run `enroll` with --new-password-file FILE, or \
             set it in the self-service portal.",
        );
        return Ok((status, none));
    }
    out.step(format!(
        "{user} has no password yet: choose one (8 characters at least) to sign in to the self-service portal. \
         Leave it empty to skip."
    ));
    let mut last_error = None;
    for _ in 0..PROMPT_TRIES {
        let first = SecretString::new(rpassword::prompt_password("New password: ")?);
        if first.is_empty() {
            let status = agent.skip_password().await?;
            out.step("No password set: set one later in the self-service portal.");
            return Ok((status, none));
        }
        let again = SecretString::new(rpassword::prompt_password("Type it again: ")?);
        if first.expose() != again.expose() {
            out.step("The two passwords differ: type them again.");
            continue;
        }
        match agent.set_password(first).await {
            Ok(status) => {
                out.step(format!("Password set for {user}."));
                return Ok((
                    status,
                    PasswordOutcome {
                        set: true,
                        error: None,
                    },
                ));
            }
            Err(err) => {
                out.step(err.user_message());
                let still_offered = matches!(
                    agent.status(),
                    EnrollmentStatus::Active {
                        password_offered: true,
                        ..
                    }
                );
                last_error = Some((code_of(&err), err.user_message()));
                if !still_offered {
                    break;
                }
            }
        }
    }
    Ok((
        agent.status(),
        PasswordOutcome {
            set: false,
            error: last_error,
        },
    ))
}
