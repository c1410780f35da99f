//! Seed 003's first-password step through the agent, against the real server: after a PIN
//! enrollment of a user without a password the status offers it, a weak password is refused
//! with the offer kept, a good one is set once (and then signs the user in), and enrollments
//! that never offered it are refused with typed errors.

use crate::support::*;
use enroll_core::agent::state::EnrollmentStatus;
use enroll_core::client::ProtocolClient;
use enroll_core::fakes::ManualClock;
use enroll_core::secret::SecretString;
use enroll_core::{Credential, Error};
use enroll_proto::{self as protocol, ErrorCode};

const NEW_PASSWORD: &str = "Planted-First-Passw0rd";

fn offered(status: &EnrollmentStatus) -> bool {
    matches!(
        status,
        EnrollmentStatus::Active {
            password_offered: true,
            ..
        }
    )
}

#[tokio::test]
async fn after_a_pin_the_agent_sets_the_first_password_once() {
    let env = env().await;
    user(&env, "first@example.com", None).await;
    let (url, cred) = pin(&env, "first@example.com").await;
    let device = Device::ios("UDID-first-pw");
    let agent = device.agent(&env);
    let status = agent.enroll(&url, cred).await.unwrap();
    assert!(offered(&status), "{status:?}");

    // Too short: typed, and the offer stays.
    let err = agent.set_password(SecretString::new("short")).await.unwrap_err();
    assert_eq!(err.server_code(), Some(ErrorCode::WeakPassword), "{err}");
    assert!(!err.to_string().contains("short"), "{err}");
    assert!(offered(&agent.status()));

    // A restarted agent still holds the offer (persisted), and sets the password.
    let agent = device.agent(&env);
    assert!(offered(&agent.status()));
    let status = agent.set_password(SecretString::new(NEW_PASSWORD)).await.unwrap();
    assert!(!offered(&status), "{status:?}");
    assert!(!device.persisted().to_string().contains(NEW_PASSWORD));
    let users = env.admin.users().await.unwrap();
    let u = users.iter().find(|u| u.email == "first@example.com").unwrap();
    assert!(u.has_password);

    // No second time from the agent.
    let again = agent
        .set_password(SecretString::new("another-password"))
        .await
        .unwrap_err();
    assert!(matches!(again, Error::InvalidState(_)), "{again}");

    // The password signs the user in (another device), and a new PIN no longer offers the step.
    let other = Device::ios("UDID-first-pw-2");
    let status = other
        .agent(&env)
        .enroll(
            &env.server.base_url(),
            Credential::password("first@example.com", NEW_PASSWORD).unwrap(),
        )
        .await
        .unwrap();
    assert!(!offered(&status), "{status:?}");
    let (url, cred) = pin(&env, "first@example.com").await;
    let third = Device::ios("UDID-first-pw-3");
    let status = third.agent(&env).enroll(&url, cred).await.unwrap();
    assert!(!offered(&status), "{status:?}");
}

#[tokio::test]
async fn the_password_route_refuses_what_was_never_offered() {
    let env = env().await;
    user(&env, "tok@example.com", None).await;
    user_with(&env, "dir@example.com", Some("network pass"), true).await;
    user(&env, "late@example.com", None).await;
    let client = ProtocolClient::new(
        &env.server.base_url(),
        enroll_core::client::ClientConfig {
            trust: trust_of(&env.server),
            ..enroll_core::client::ClientConfig::default()
        },
        ManualClock::offset_from_now(0),
    )
    .unwrap();
    let device = protocol::DeviceDescriptor {
        platform: protocol::Platform::Ios,
        os_version: "17.4".into(),
        model: "iPhone".into(),
        manufacturer: "Apple".into(),
        serial: None,
        imeis: vec![],
        hardware_id: Some("UDID-route".into()),
        agent_version: "test".into(),
    };
    let start = |credential: protocol::CredentialWire, key: &'static str| {
        let client = client.clone();
        let device = device.clone();
        async move {
            client
                .enroll(key, &protocol::EnrollRequest { credential, device })
                .await
                .unwrap()
        }
    };
    let body = protocol::SetPasswordRequest {
        password: SecretString::new(NEW_PASSWORD),
    };

    // A token enrollment: never offered.
    let Credential::Token { token } = token(&env, "tok@example.com").await else {
        unreachable!()
    };
    let e = start(protocol::CredentialWire::Token { token }, "key-token-0000001").await;
    assert_eq!(e.password_setup, None);
    let err = client
        .set_password(&e.enrollment_id, &e.enrollment_secret, &body)
        .await
        .unwrap_err();
    assert_eq!(err.server_code(), Some(ErrorCode::PasswordNotOffered), "{err}");

    // A directory account's password enrollment: never offered either.
    let e = start(
        protocol::CredentialWire::Password {
            user: "dir@example.com".into(),
            password: SecretString::new("network pass"),
        },
        "key-directory-0001",
    )
    .await;
    assert_eq!(e.password_setup, None);

    // A PIN enrollment: offered; a wrong bearer is refused, then the offer ends after 24 hours.
    let (_, Credential::Pin { user, pin }) = pin(&env, "late@example.com").await else {
        unreachable!()
    };
    let e = start(protocol::CredentialWire::Pin { user, pin }, "key-pin-late-00001").await;
    assert_eq!(e.password_setup, Some(protocol::PasswordSetup::Offered));
    let err = client
        .set_password(&e.enrollment_id, &SecretString::new("not-the-secret"), &body)
        .await
        .unwrap_err();
    assert_eq!(err.server_code(), Some(ErrorCode::Unauthorized), "{err}");
    env.server_clock.advance(25 * 3600);
    let err = client
        .set_password(&e.enrollment_id, &e.enrollment_secret, &body)
        .await
        .unwrap_err();
    assert_eq!(err.server_code(), Some(ErrorCode::PasswordNotOffered), "{err}");
    let users = env.admin.users().await.unwrap();
    assert!(!users
        .iter()
        .any(|u| u.has_password && u.email == "late@example.com"));
}
