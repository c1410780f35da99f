//! Crash safety: a kill between any two states, and a reply lost after the server acted,
//! both resume to exactly one active record.

use crate::support::*;
use enroll_core::agent::state::EnrollmentStatus;
use enroll_proto::DeviceState;
use std::sync::atomic::Ordering;

#[tokio::test]
async fn a_kill_between_every_pair_of_states_ends_with_one_active_record() {
    let env = env().await;
    user(&env, "k@example.com", None).await;
    let names = ["discovered", "authenticated", "profile_ready", "installing"];
    for (k, name) in names.iter().enumerate() {
        let serial: &'static str = Box::leak(format!("SN-KILL-{k}").into_boxed_str());
        let device = Device::android("14", serial);
        // A single-use PIN makes a replayed (non-idempotent) enrollment visible as an error.
        let (url, cred) = pin(&env, "k@example.com").await;
        {
            let agent = device.agent(&env);
            agent.begin(&url, cred).await.unwrap();
            for _ in 0..k {
                agent.step().await.unwrap();
            }
            assert_eq!(agent.status().name(), *name);
        } // the process dies here: only the secure store survives
        assert_eq!(device.persisted()["state"], *name);
        let agent = device.agent(&env);
        assert_eq!(
            agent.status().name(),
            *name,
            "restarted agent resumes from the persisted state"
        );
        let status = agent
            .run()
            .await
            .unwrap_or_else(|e| panic!("resume after kill in {name}: {e}"));
        let id = active_id(&status);
        let recs = records_of(&env, same_serial(serial)).await;
        assert_eq!(recs.len(), 1, "kill in {name}: {recs:?}");
        assert_eq!(
            (recs[0].id.as_str(), recs[0].state),
            (id.as_str(), DeviceState::Active)
        );
        assert_eq!(
            device.installer.records().len(),
            1,
            "kill in {name}: installed once"
        );
    }
}

#[tokio::test]
async fn a_lost_reply_at_every_transition_never_creates_a_second_record() {
    let env = env_with(|c| {
        c.insecure_http = true;
        // Profiles still carry an https MDM ServerURL (the agent refuses anything else).
        c.public_url = Some("https://mdm.example.test".into());
    })
    .await;
    user(&env, "l@example.com", None).await;
    let proxy = proxy(env.server.local_addr()).await;
    let config = |c: &mut enroll_core::AgentConfig| {
        c.client.allow_insecure_loopback_http = true;
        c.client.retry.max_attempts = 1;
    };
    // Server calls: 0 = POST /enrollments, 1 = GET profile, 3 = POST confirm (2 has no I/O).
    for k in [0usize, 1, 3] {
        let serial: &'static str = Box::leak(format!("SN-LOST-{k}").into_boxed_str());
        let device = Device::android("14", serial);
        let (_, cred) = pin(&env, "l@example.com").await;
        {
            let agent = device.agent_with(trust_of(&env.server), config);
            agent.begin(&proxy.url, cred).await.unwrap();
            for _ in 0..k {
                agent.step().await.unwrap();
            }
            let before = proxy.lost.load(Ordering::SeqCst);
            proxy.lose_replies.store(true, Ordering::SeqCst);
            let err = agent.step().await.expect_err("the reply was lost");
            proxy.lose_replies.store(false, Ordering::SeqCst);
            assert!(err.is_transient(), "{err}");
            assert_eq!(
                proxy.lost.load(Ordering::SeqCst),
                before + 1,
                "the server did receive the request"
            );
        }
        let agent = device.agent_with(trust_of(&env.server), config);
        let status = agent
            .run()
            .await
            .unwrap_or_else(|e| panic!("resume after lost reply {k}: {e}"));
        assert!(matches!(status, EnrollmentStatus::Active { .. }));
        let recs = records_of(&env, same_serial(serial)).await;
        assert_eq!(recs.len(), 1, "lost reply {k}: {recs:?}");
        assert_eq!(recs[0].state, DeviceState::Active);
    }
}
