//! The platform-free step machine under [`super::Agent`], usable by any enrollment flow.
//!
//! A flow keeps one state record (a serde type implementing [`StepState`]) under one key of a
//! [`SecureStore`]. [`StateRecord::commit`] writes the next state atomically (one
//! [`SecureStore::set`]) *before* it becomes current, and [`run_steps`] drives a [`Steps`]
//! implementation one transition at a time until the state settles. A process killed at any
//! point therefore restarts from the last committed state; because each transition is
//! idempotent (re-running it from the same state after a crash has no duplicate effect), the
//! resumed run ends where an uninterrupted one would.
//!
//! The Apple/Android agent ([`super::Agent`]) stores its [`super::state::PersistedState`]
//! through [`load_state`] and [`save_state`]; the Windows device mode (`enroll-wsim`, outside
//! the mobile library) drives its MS-MDE2 steps through [`run_steps`].

use crate::error::{Error, Result};
use crate::platform::SecureStore;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;

/// Largest state record read back (a corrupted or hostile store cannot make the loader
/// allocate more).
pub const MAX_STATE_BYTES: usize = 4 * 1024 * 1024;

/// A persisted state of a step machine.
pub trait StepState: Serialize + DeserializeOwned {
    /// Short snake_case name of the state, for logs and progress (never secret).
    fn name(&self) -> &'static str;
    /// Whether stepping does nothing more (the flow finished, or waits for the user).
    fn is_settled(&self) -> bool;
}

/// Reads the state stored under `key`; `None` when nothing is stored.
pub fn load_state<S: DeserializeOwned>(store: &dyn SecureStore, key: &str) -> Result<Option<S>> {
    let Some(bytes) = store.get(key)? else {
        return Ok(None);
    };
    if bytes.expose().len() > MAX_STATE_BYTES {
        return Err(Error::Store(
            "the saved enrollment state is larger than 4 MiB; reset it to start over".into(),
        ));
    }
    serde_json::from_slice(bytes.expose())
        .map(Some)
        .map_err(|_| Error::Store("the saved enrollment state is unreadable; reset it to start over".into()))
}

/// Writes `state` under `key` in one atomic [`SecureStore::set`].
pub fn save_state<S: Serialize>(store: &dyn SecureStore, key: &str, state: &S) -> Result<()> {
    let bytes = serde_json::to_vec(state).map_err(|e| Error::Store(e.to_string()))?;
    store.set(key, &bytes)?;
    Ok(())
}

/// The current state of a flow and where it is persisted.
pub struct StateRecord<S> {
    store: Arc<dyn SecureStore>,
    key: String,
    current: S,
}

impl<S> std::fmt::Debug for StateRecord<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The state may hold secrets: only the key is shown.
        f.debug_struct("StateRecord")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl<S: StepState + Default> StateRecord<S> {
    /// Opens the record under `key`: the stored state, or the default one when nothing is stored.
    pub fn open(store: Arc<dyn SecureStore>, key: impl Into<String>) -> Result<Self> {
        let key = key.into();
        let current = load_state(store.as_ref(), &key)?.unwrap_or_default();
        Ok(Self { store, key, current })
    }

    /// Forgets the stored state (the record is back at the default state).
    pub fn clear(&mut self) -> Result<()> {
        self.store.delete(&self.key)?;
        self.current = S::default();
        Ok(())
    }
}

impl<S: StepState> StateRecord<S> {
    /// The current state.
    pub fn current(&self) -> &S {
        &self.current
    }

    /// Persists `next`, then makes it current. On a store error the current state is unchanged.
    pub fn commit(&mut self, next: S) -> Result<()> {
        save_state(self.store.as_ref(), &self.key, &next)?;
        tracing::debug!(from = self.current.name(), to = next.name(), "state committed");
        self.current = next;
        Ok(())
    }
}

/// The transitions of a flow.
pub trait Steps {
    /// The persisted state.
    type State: StepState + Clone;
    /// The flow's error; store failures convert from [`Error`].
    type Error: From<Error>;

    /// Performs one transition from `from` and returns the next state (not yet persisted).
    ///
    /// Contract: idempotent. After a crash the same `from` is stepped again, so whatever this
    /// did before the crash (a request the server answered, a key generated) must not leave a
    /// second effect: send the same request again (the server matches it), or keep what must
    /// not change (a key) in the state committed before the request that uses it.
    fn step(
        &mut self,
        from: &Self::State,
    ) -> impl Future<Output = std::result::Result<Self::State, Self::Error>>;
}

/// Steps `machine` from the record's current state until it settles, committing every new
/// state before the next step; `on_commit` sees each committed state. A settled record returns
/// at once. The error of a step leaves the last committed state in place (resumable).
pub async fn run_steps<M: Steps>(
    machine: &mut M,
    record: &mut StateRecord<M::State>,
    mut on_commit: impl FnMut(&M::State),
) -> std::result::Result<M::State, M::Error> {
    while !record.current().is_settled() {
        let from = record.current().clone();
        let next = machine.step(&from).await?;
        record.commit(next)?;
        on_commit(record.current());
    }
    Ok(record.current().clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::MemoryStore;
    use serde::Deserialize;

    /// A counter that settles at 3; each step "sends" one request, counted by the machine.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    struct Count(u32);

    impl StepState for Count {
        fn name(&self) -> &'static str {
            "count"
        }
        fn is_settled(&self) -> bool {
            self.0 >= 3
        }
    }

    struct Machine {
        sent: Vec<u32>,
    }

    impl Steps for Machine {
        type State = Count;
        type Error = Error;
        async fn step(&mut self, from: &Count) -> Result<Count> {
            self.sent.push(from.0);
            Ok(Count(from.0 + 1))
        }
    }

    #[tokio::test]
    async fn a_failed_commit_keeps_the_last_state_and_the_next_run_redoes_only_that_step() {
        let store = MemoryStore::new();
        let mut rec = StateRecord::<Count>::open(store.clone(), "k").unwrap();
        let mut m = Machine { sent: Vec::new() };
        let mut seen = Vec::new();
        let next = m.step(rec.current()).await.unwrap();
        rec.commit(next).unwrap();
        // Crash at the second commit: the step ran, its state was not saved.
        store.fail_writes(true);
        let next = m.step(rec.current()).await.unwrap();
        assert!(rec.commit(next).is_err());
        assert_eq!(rec.current(), &Count(1), "the failed commit changed nothing");
        store.fail_writes(false);
        // A new process opens the record and resumes at 1.
        let mut rec = StateRecord::<Count>::open(store.clone(), "k").unwrap();
        assert_eq!(rec.current(), &Count(1));
        let end = run_steps(&mut m, &mut rec, |s| seen.push(s.0)).await.unwrap();
        assert_eq!(end, Count(3));
        assert_eq!(seen, vec![2, 3]);
        assert_eq!(m.sent, vec![0, 1, 1, 2], "only the uncommitted step ran twice");
        // Settled: running again does nothing.
        run_steps(&mut m, &mut rec, |_| {}).await.unwrap();
        assert_eq!(m.sent.len(), 4);
        rec.clear().unwrap();
        assert!(store.is_empty());
    }

    #[test]
    fn unreadable_or_oversized_records_are_typed_store_errors() {
        let store = MemoryStore::new();
        store.set("k", b"{not json").unwrap();
        let e = StateRecord::<Count>::open(store.clone(), "k").unwrap_err();
        assert!(matches!(e, Error::Store(ref m) if m.contains("reset it")), "{e}");
        store.set("k", &vec![b' '; MAX_STATE_BYTES + 1]).unwrap();
        let e = StateRecord::<Count>::open(store, "k").unwrap_err();
        assert!(matches!(e, Error::Store(ref m) if m.contains("4 MiB")), "{e}");
    }
}
