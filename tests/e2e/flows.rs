//! Device flows of seed 003 against the real server over TLS: each credential, typed errors,
//! PIN rules, the profile window, cancel, check-in actions and re-enrollment.

use crate::support::*;
use enroll_core::agent::state::EnrollmentStatus;
use enroll_core::platform::InstallOutcome;
use enroll_core::{Credential, Error};
use enroll_proto::{DeviceAction, DeviceState, ErrorCode, MdmStatus};
use std::time::Duration;

#[tokio::test]
async fn each_credential_type_enrolls_to_active() {
    let env = env().await;
    user(&env, "tok@example.com", None).await;
    user(&env, "pin@example.com", None).await;
    user(&env, "pw@example.com", Some("correct horse")).await;
    user_with(&env, "ldap@example.com", Some("network pass"), true).await;

    let (invite_url, pin_cred) = pin(&env, "pin@example.com").await;
    assert!(invite_url.contains("/go?"), "{invite_url}");
    let cases = vec![
        ("tok", env.server.base_url(), token(&env, "tok@example.com").await),
        ("pin", invite_url, pin_cred),
        (
            "pw",
            env.server.base_url(),
            Credential::password("pw@example.com", "correct horse").unwrap(),
        ),
        (
            "ldap",
            env.server.base_url(),
            Credential::password("ldap@example.com", "network pass").unwrap(),
        ),
    ];
    for (name, url, cred) in cases {
        let device = Device::ios(&format!("UDID-{name}"));
        let agent = device.agent(&env);
        let status = agent
            .enroll(&url, cred)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let id = active_id(&status);
        let detail = env.admin.device(&id).await.unwrap();
        assert_eq!(detail.device.state, DeviceState::Active, "{name}");
        assert_eq!(detail.device.mdm, MdmStatus::Enabled, "{name}");
        assert_eq!(device.installer.records().len(), 1, "{name}: one install");
        // The credential is gone from the store once accepted; the device secret is there.
        let persisted = device.persisted().to_string();
        for secret in ["correct horse", "network pass"] {
            assert!(
                !persisted.contains(secret),
                "{name}: credential left in the store"
            );
        }
        assert!(persisted.contains("device_secret"));
    }
}

#[tokio::test]
async fn wrong_credentials_give_typed_errors_and_the_pin_locks() {
    let env = env().await;
    user(&env, "a@example.com", Some("right password")).await;
    let base = env.server.base_url();

    let device = Device::android("14", "SN-WRONG");
    let agent = device.agent(&env);
    let err = agent
        .enroll(&base, Credential::password("a@example.com", "wrong").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.server_code(), Some(ErrorCode::InvalidCredentials), "{err}");
    assert!(matches!(
        agent.status(),
        EnrollmentStatus::Failed {
            code: Some(ErrorCode::InvalidCredentials),
            ..
        }
    ));
    assert!(
        !err.to_string().contains("wrong"),
        "error must not echo the password: {err}"
    );

    let err = agent
        .enroll(&base, Credential::token("ent_not-a-real-token-at-all").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.server_code(), Some(ErrorCode::InvalidToken), "{err}");

    let err = agent
        .enroll(&base, Credential::password("nobody@example.com", "x").unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        err.server_code(),
        Some(ErrorCode::InvalidCredentials),
        "unknown users look like wrong passwords"
    );

    // PIN: wrong attempts count down, then the PIN locks even for the right value.
    let (_, right) = pin(&env, "a@example.com").await;
    let Credential::Pin { pin: right_pin, .. } = &right else {
        unreachable!()
    };
    let wrong_pin = if right_pin.expose() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let mut left = Vec::new();
    for _ in 0..5 {
        let err = agent
            .enroll(&base, Credential::pin("a@example.com", wrong_pin).unwrap())
            .await
            .unwrap_err();
        match &err {
            Error::Server { info, .. } if info.code == ErrorCode::InvalidPin => left.push(info.attempts_left),
            Error::Server { info, .. } if info.code == ErrorCode::PinLocked => left.push(Some(0)),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(left.first(), Some(&Some(4)), "{left:?}");
    let err = agent.enroll(&base, right.clone()).await.unwrap_err();
    assert_eq!(err.server_code(), Some(ErrorCode::PinLocked), "{err}");
    assert!(records_of(&env, same_serial("SN-WRONG"))
        .await
        .iter()
        .all(|d| d.state != DeviceState::Active));
}

#[tokio::test]
async fn a_pin_cannot_be_reused_or_used_after_expiry() {
    let env = env().await;
    user(&env, "p@example.com", None).await;
    let (url, cred) = pin(&env, "p@example.com").await;
    let first = Device::android("14", "SN-PIN-1");
    active_id(&first.agent(&env).enroll(&url, cred.clone()).await.unwrap());

    let second = Device::android("14", "SN-PIN-2");
    let err = second.agent(&env).enroll(&url, cred).await.unwrap_err();
    assert_eq!(err.server_code(), Some(ErrorCode::PinUsed), "{err}");

    let (url, cred) = pin(&env, "p@example.com").await;
    env.server_clock.advance(25 * 3600);
    let err = second.agent(&env).enroll(&url, cred).await.unwrap_err();
    assert_eq!(err.server_code(), Some(ErrorCode::PinExpired), "{err}");
}

#[tokio::test]
async fn an_expired_profile_is_refetched_and_never_installed() {
    let env = env().await;
    user(&env, "w@example.com", Some("pw")).await;
    let device = Device::ios("UDID-WINDOW");
    let agent = device.agent(&env);
    agent
        .begin(
            &env.server.base_url(),
            Credential::password("w@example.com", "pw").unwrap(),
        )
        .await
        .unwrap();
    agent.step().await.unwrap(); // authenticated
    let ready = agent.step().await.unwrap();
    let EnrollmentStatus::ProfileReady {
        expires_at: first_expiry,
    } = ready
    else {
        panic!("{ready:?}")
    };
    let first_uuid = device.persisted()["profile"]["uuid"].as_str().unwrap().to_owned();

    // Ten minutes pass on the device before the user gets to install: the window (5 min) is over.
    device.clock.advance_ms(10 * 60 * 1000);
    let status = agent.run().await.unwrap();
    active_id(&status);
    let installs = device.installer.records();
    assert_eq!(installs.len(), 1, "exactly one install: {installs:?}");
    assert_ne!(
        installs[0].uuid, first_uuid,
        "the expired profile must not be installed"
    );
    // Installed inside its own window, in skew-corrected time.
    let skew = agent.clock_skew_ms().unwrap_or(0);
    // The reference server always sets the short window (seed 003).
    let installed_expiry = installs[0]
        .expires_at
        .expect("the reference server sets a window");
    let first_expiry = first_expiry.expect("the reference server sets a window");
    assert!(installs[0].at_ms + skew < installed_expiry * 1000);
    assert!(installed_expiry >= first_expiry);
}

#[tokio::test]
async fn profiles_that_keep_expiring_end_expired_without_install() {
    let env = env_with(|c| c.profile_validity = Duration::from_secs(30)).await;
    user(&env, "x@example.com", Some("pw")).await;
    let device = Device::ios("UDID-EXPIRE");
    // Demand more remaining window than the server ever gives.
    let agent = device.agent_with(trust_of(&env.server), |c| {
        c.install_margin = Duration::from_secs(60)
    });
    let status = agent
        .enroll(
            &env.server.base_url(),
            Credential::password("x@example.com", "pw").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(status, EnrollmentStatus::Expired { fetches: 3 });
    assert!(device.installer.records().is_empty());
}

#[tokio::test]
async fn a_skewed_device_clock_is_corrected() {
    let env = env().await;
    user(&env, "s@example.com", Some("pw")).await;
    let device = Device::ios("UDID-SKEW");
    // The device clock runs an hour fast: without correction every profile looks expired.
    device.clock.advance_ms(3600 * 1000);
    let agent = device.agent(&env);
    let status = agent
        .enroll(
            &env.server.base_url(),
            Credential::password("s@example.com", "pw").unwrap(),
        )
        .await
        .unwrap();
    active_id(&status);
    let skew = agent.clock_skew_ms().unwrap();
    assert!((skew + 3_600_000).abs() < 5_000, "measured skew {skew}");
}

#[tokio::test]
async fn cancel_during_install_deactivates_mdm_on_the_server() {
    let env = env().await;
    user(&env, "c@example.com", Some("pw")).await;
    let device = Device::ios("UDID-CANCEL");
    device.installer.script([InstallOutcome::Cancelled]);
    let agent = device.agent(&env);
    let status = agent
        .enroll(
            &env.server.base_url(),
            Credential::password("c@example.com", "pw").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(status, EnrollmentStatus::Cancelled);
    let rec = records_of(&env, same_hwid("UDID-CANCEL")).await;
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0].mdm, MdmStatus::Deactivated);
    assert_eq!(rec[0].state, DeviceState::Cancelled);
    assert!(
        env.admin.pending().await.unwrap().is_empty(),
        "a cancelled enrollment is not pending"
    );

    // Cancelling from the app while the user is still in System Settings (deferred install).
    let device = Device::ios("UDID-CANCEL-2");
    device.installer.script([InstallOutcome::Deferred]);
    let agent = std::sync::Arc::new(device.agent(&env));
    agent
        .begin(
            &env.server.base_url(),
            Credential::password("c@example.com", "pw").unwrap(),
        )
        .await
        .unwrap();
    let runner = tokio::spawn({
        let agent = agent.clone();
        async move { agent.run().await }
    });
    let mut rx = agent.subscribe();
    while !matches!(*rx.borrow_and_update(), EnrollmentStatus::Installing { .. }) {
        rx.changed().await.unwrap();
    }
    assert_eq!(
        env.admin.pending().await.unwrap().len(),
        1,
        "listed for reminders while pending"
    );
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(agent.cancel().await.unwrap(), EnrollmentStatus::Cancelled);
    let _ = runner.await.unwrap();
    let rec = records_of(&env, same_hwid("UDID-CANCEL-2")).await;
    assert_eq!(rec[0].mdm, MdmStatus::Deactivated);
}

#[tokio::test]
async fn a_deferred_install_completes_when_the_user_installs() {
    let env = env().await;
    user(&env, "d@example.com", Some("pw")).await;
    let device = Device::ios("UDID-DEFER");
    device.installer.script([InstallOutcome::Deferred]);
    let inst = device.installer.clone();
    device.installer.on_install(move |p| {
        let (inst, uuid, id) = (inst.clone(), p.uuid.clone(), p.identifier.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            inst.complete_deferred(&uuid, &id);
        });
    });
    let agent = device.agent(&env);
    let status = agent
        .enroll(
            &env.server.base_url(),
            Credential::password("d@example.com", "pw").unwrap(),
        )
        .await
        .unwrap();
    active_id(&status);
}

#[tokio::test]
async fn retire_wipe_and_reset_are_applied_at_checkin() {
    let env = env().await;
    user(&env, "r@example.com", Some("pw")).await;
    for (i, action) in [DeviceAction::Retire, DeviceAction::Wipe, DeviceAction::Reset]
        .into_iter()
        .enumerate()
    {
        let device = Device::ios(&format!("UDID-ACT-{i}"));
        let agent = device.agent(&env);
        let id = active_id(
            &agent
                .enroll(
                    &env.server.base_url(),
                    Credential::password("r@example.com", "pw").unwrap(),
                )
                .await
                .unwrap(),
        );
        // Nothing pending: a plain check-in.
        let out = agent.checkin(Default::default()).await.unwrap();
        assert_eq!((out.device_state, out.applied), (DeviceState::Active, None));

        env.admin.action(&id, action).await.unwrap();
        let out = agent.checkin(Default::default()).await.unwrap();
        assert_eq!(out.applied, Some(action));
        let expected = match action {
            DeviceAction::Retire => EnrollmentStatus::Retired,
            DeviceAction::Wipe => EnrollmentStatus::Wiped,
            DeviceAction::Reset => EnrollmentStatus::Reset,
        };
        assert_eq!(out.status, expected);
        assert!(!device.installer.any_installed(), "profile removed");
        let persisted = device.persisted().to_string();
        assert!(!persisted.contains("secret"), "secrets cleared: {persisted}");

        let view = env.admin.device(&id).await.unwrap().device;
        match action {
            DeviceAction::Retire => assert_eq!(
                (view.state, view.mdm),
                (DeviceState::Retired, MdmStatus::Deactivated)
            ),
            DeviceAction::Wipe => assert_eq!(
                (view.state, view.mdm),
                (DeviceState::Wiped, MdmStatus::Deactivated)
            ),
            // Seed 003: a reset device stays active on the server until its next enrollment.
            DeviceAction::Reset => {
                assert_eq!(view.state, DeviceState::Active);
                assert_eq!(view.last_action, Some(DeviceAction::Reset));
            }
        }
        assert!(view.pending_action.is_none());
        // A cleared agent cannot check in any more.
        assert!(matches!(
            agent.checkin(Default::default()).await,
            Err(Error::InvalidState(_))
        ));
    }
}

#[tokio::test]
async fn troubleshooting_reenroll_keeps_one_active_entry() {
    let env = env().await;
    user(&env, "i@example.com", Some("pw")).await;
    let device = Device::ios("UDID-REENROLL");
    let agent = device.agent(&env);
    let first = active_id(
        &agent
            .enroll(
                &env.server.base_url(),
                Credential::password("i@example.com", "pw").unwrap(),
            )
            .await
            .unwrap(),
    );
    let second = active_id(&agent.reenroll(None, None).await.unwrap());
    assert_eq!(first, second, "iOS keeps a single entry");
    let recs = records_of(&env, same_hwid("UDID-REENROLL")).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].state, DeviceState::Active);
    let events: Vec<String> = env
        .admin
        .device(&first)
        .await
        .unwrap()
        .history
        .into_iter()
        .map(|h| h.event)
        .collect();
    assert!(events.contains(&"reenrolled".to_owned()), "{events:?}");
    // The new device secret works.
    assert_eq!(
        agent.checkin(Default::default()).await.unwrap().device_state,
        DeviceState::Active
    );
}

#[tokio::test]
async fn android_reenrollment_after_retire_archives_on_10_plus_and_reuses_on_9() {
    let env = env().await;
    user(&env, "a@example.com", Some("pw")).await;
    for (os, serial, archives) in [("14", "SN-A14", true), ("9", "SN-A9", false)] {
        let device = Device::android(os, serial);
        let agent = device.agent(&env);
        let cred = || Credential::password("a@example.com", "pw").unwrap();
        let first = active_id(&agent.enroll(&env.server.base_url(), cred()).await.unwrap());
        env.admin.action(&first, DeviceAction::Retire).await.unwrap();
        assert_eq!(
            agent.checkin(Default::default()).await.unwrap().status,
            EnrollmentStatus::Retired
        );

        let second = active_id(&agent.reenroll(None, Some(cred())).await.unwrap());
        let recs = records_of(&env, same_serial(serial)).await;
        let active: Vec<_> = recs.iter().filter(|d| d.state == DeviceState::Active).collect();
        assert_eq!(
            active.len(),
            1,
            "android {os}: exactly one active entry: {recs:?}"
        );
        assert_eq!(active[0].id, second);
        if archives {
            assert_ne!(first, second);
            assert_eq!(recs.len(), 2, "android {os}: old entry kept as archived");
            let old = recs.iter().find(|d| d.id == first).unwrap();
            assert_eq!(old.state, DeviceState::Archived);
            let detail = env.admin.device(&second).await.unwrap();
            assert!(
                detail.archived.iter().any(|d| d.id == first),
                "archive listed in the detail"
            );
            assert!(
                env.admin
                    .devices(false)
                    .await
                    .unwrap()
                    .iter()
                    .all(|d| d.id != first),
                "archived hidden by default"
            );
        } else {
            assert_eq!(first, second, "android {os}: single entry");
            assert_eq!(recs.len(), 1);
        }

        // Reset then re-enroll: the reset entry was active until this enrollment.
        env.admin.action(&second, DeviceAction::Reset).await.unwrap();
        assert_eq!(
            agent.checkin(Default::default()).await.unwrap().status,
            EnrollmentStatus::Reset
        );
        let third = active_id(&agent.reenroll(None, Some(cred())).await.unwrap());
        let recs = records_of(&env, same_serial(serial)).await;
        assert_eq!(
            recs.iter().filter(|d| d.state == DeviceState::Active).count(),
            1,
            "{recs:?}"
        );
        assert_eq!(third == second, !archives);
    }
}
