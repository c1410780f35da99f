//! URLs in payloads: https only (plain http to loopback behind the development option), no
//! credentials, ASCII host names; invitation and self-service URLs (`…/go`, `…/enroll/<token>`).

use super::*;

pub(super) fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `Url::parse`, except that a host with non-ASCII characters (literal or percent-encoded) is
/// refused with [`url::ParseError::IdnaError`] before the IDNA code sees it.
///
/// The agent is built with `idna_adapter` 1.0 (no Unicode tables, see `core/Cargo.toml`),
/// which maps every non-ASCII character of a host to U+FFFD, so such hosts end in `IdnaError`
/// anyway; but `idna` hands it the rest of the label after the first non-ASCII character
/// unlowered, and the adapter's `debug_assert!(!c.is_ascii_uppercase())` then panics in debug
/// builds (`https://ZmԜXV4/go`, found by the `qr_payload` fuzz target). Same result as
/// `Url::parse` in release builds, without the panic in debug ones.
pub fn parse_url(text: &str) -> Result<Url, url::ParseError> {
    if special_host_is_non_ascii(text) {
        return Err(url::ParseError::IdnaError);
    }
    Url::parse(text)
}

/// Whether `text` is a URL of a special scheme (the ones whose host goes through IDNA) whose
/// host, as the WHATWG URL parser finds it, has a non-ASCII character once percent-decoded.
pub(super) fn special_host_is_non_ascii(text: &str) -> bool {
    // The URL parser drops leading/trailing C0 controls and spaces, and tabs and newlines
    // anywhere.
    let cleaned: String = text
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let Some((scheme, rest)) = cleaned.split_once(':') else {
        return false;
    };
    if !["http", "https", "ws", "wss", "ftp", "file"]
        .iter()
        .any(|s| scheme.eq_ignore_ascii_case(s))
    {
        return false;
    }
    let rest = rest.trim_start_matches(['/', '\\']);
    let authority = rest.split(['/', '\\', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if !host.is_ascii() {
        return true;
    }
    let bytes = host.as_bytes();
    bytes.windows(3).any(|w| {
        w[0] == b'%' && matches!(w[1], b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F') && w[2].is_ascii_hexdigit()
    })
}

/// Parses and checks a URL: https (or loopback http when allowed), a host, no credentials.
pub(super) fn parse_secure_url(
    field: &str,
    value: &str,
    options: &PayloadOptions,
) -> Result<Url, PayloadError> {
    check_text(field, value, MAX_PAYLOAD_LEN)?;
    if value.chars().any(char::is_whitespace) {
        return Err(PayloadError::InvalidUrl {
            field: key_label(field),
            reason: "contains whitespace".to_owned(),
        });
    }
    let url = parse_url(value).map_err(|e| PayloadError::InvalidUrl {
        field: key_label(field),
        // url::ParseError messages describe the problem, never the input.
        reason: e.to_string(),
    })?;
    let secure = url.scheme() == "https"
        || (url.scheme() == "http" && options.allow_insecure_loopback_http && is_loopback_host(&url));
    if !secure {
        return Err(PayloadError::InsecureUrl {
            field: key_label(field),
            scheme: key_label(url.scheme()),
        });
    }
    if url.host().is_none() {
        return Err(PayloadError::InvalidUrl {
            field: key_label(field),
            reason: "no host".to_owned(),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(PayloadError::CredentialsInUrl {
            field: key_label(field),
        });
    }
    Ok(url)
}

pub(super) fn parse_invitation_url(text: &str, options: &PayloadOptions) -> Result<Invitation, PayloadError> {
    let url = parse_secure_url("invitation URL", text, options)?;
    let segments: Vec<String> = url
        .path_segments()
        .map(|s| s.map(str::to_owned).collect())
        .unwrap_or_default();
    // Ignore one empty trailing segment ("…/go/").
    let mut segments = segments;
    if segments.last().is_some_and(|s| s.is_empty()) && segments.len() > 1 {
        segments.pop();
    }
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (base_segments, path_token) = match segments.as_slice() {
        [base @ .., last] if last.eq_ignore_ascii_case("go") => (base, None),
        [base @ .., enroll, token] if enroll.eq_ignore_ascii_case("enroll") && !token.is_empty() => {
            let decoded = percent_decode(token, "enrollment token")?;
            (base, Some(check_token("enrollment token", &decoded)?))
        }
        _ => return Err(PayloadError::NotAnInvitationUrl),
    };

    let mut invitation = Invitation {
        server_base: url.clone(),
        token: path_token,
        user_hint: None,
        tenant: None,
        version: None,
        platform: None,
        other_params: Vec::new(),
    };
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in url.query_pairs() {
        if seen.iter().any(|s| *s == name) {
            return Err(PayloadError::DuplicateKey {
                key: key_label(&name),
            });
        }
        seen.push(name.to_string());
        match name.as_ref() {
            "token" => {
                if invitation.token.is_some() {
                    return Err(PayloadError::ConflictingKeys {
                        first: "path token".to_owned(),
                        second: "token".to_owned(),
                    });
                }
                invitation.token = Some(check_token("token", &value)?);
            }
            "user" => {
                check_text("user", &value, 320)?;
                invitation.user_hint = Some(value.into_owned());
            }
            "tenant" => {
                check_text("tenant", &value, 256)?;
                invitation.tenant = Some(value.into_owned());
            }
            "v" => {
                check_text("v", &value, 16)?;
                invitation.version = Some(value.into_owned());
            }
            "platform" => {
                check_text("platform", &value, 32)?;
                invitation.platform = Some(value.into_owned());
            }
            _ => {
                if let Some(c) = name.chars().chain(value.chars()).find(|c| c.is_control()) {
                    return Err(control_error(c, &name));
                }
                invitation
                    .other_params
                    .push((name.into_owned(), value.into_owned()));
            }
        }
    }

    let mut base = url;
    base.set_query(None);
    base.set_fragment(None);
    let path = if base_segments.is_empty() {
        "/".to_owned()
    } else {
        format!("/{}", base_segments.join("/"))
    };
    base.set_path(&path);
    invitation.server_base = base;
    Ok(invitation)
}

/// Percent-decodes a path segment into UTF-8.
pub(super) fn percent_decode(segment: &str, field: &str) -> Result<String, PayloadError> {
    let decoded: Vec<u8> =
        url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned().into_bytes())
            .unwrap_or_default();
    String::from_utf8(decoded).map_err(|_| PayloadError::InvalidValue {
        key: key_label(field),
        reason: "not valid UTF-8",
    })
}
