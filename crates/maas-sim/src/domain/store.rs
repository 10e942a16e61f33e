//! The simulator's state behind its lock, and the clock that moves it.

use crate::domain::state::State;
use crate::domain::vmhost::VmHostDiscovery;
use crate::model::clock::Clock;
use crate::model::version::MaasVersion;
use parking_lot::{RwLock, RwLockWriteGuard};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The state behind its lock, with the clock that moves it: writes settle
/// due transitions first and publish a new generation.
pub(crate) struct Store {
    pub(crate) state: RwLock<State>,
    pub(crate) clock: Clock,
    next_due: AtomicU64,
    /// Bumped by every write (rendered JSON is cached per generation).
    generation: AtomicU64,
    pub(crate) discovery: Arc<dyn VmHostDiscovery>,
    pub(crate) version: MaasVersion,
}

/// A write guard that settles due transitions first and republishes the
/// next due time when dropped.
pub(crate) struct StateWrite<'a> {
    guard: RwLockWriteGuard<'a, State>,
    next_due: &'a AtomicU64,
    generation: &'a AtomicU64,
}

impl Deref for StateWrite<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.guard
    }
}

impl DerefMut for StateWrite<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.guard
    }
}

impl Drop for StateWrite<'_> {
    fn drop(&mut self) {
        // Still under the lock: readers never see new state with an old
        // generation.
        publish_write(&self.guard, self.generation, self.next_due);
    }
}

/// What every write does before it lets go of the lock: a new generation
/// (rendered JSON of older ones is stale) and the next due transition.
fn publish_write(st: &State, generation: &AtomicU64, next_due: &AtomicU64) {
    generation.fetch_add(1, Ordering::AcqRel);
    next_due.store(st.next_due().unwrap_or(u64::MAX), Ordering::Release);
}

impl Store {
    pub(crate) fn new(
        state: State,
        clock: Clock,
        discovery: Arc<dyn VmHostDiscovery>,
        version: MaasVersion,
    ) -> Store {
        let store = Store {
            state: RwLock::new(state),
            clock,
            next_due: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            discovery,
            version,
        };
        store.publish_next_due();
        store
    }

    /// Put a fresh state in place (a reset).
    pub(crate) fn replace(&self, fresh: State) {
        {
            let mut guard = self.state.write();
            *guard = fresh;
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        self.publish_next_due();
    }

    /// Write access at the current simulated time.
    pub(crate) fn write(&self) -> StateWrite<'_> {
        let now = self.clock.now_ms();
        let mut guard = self.state.write();
        guard.settle(now);
        StateWrite {
            guard,
            next_due: &self.next_due,
            generation: &self.generation,
        }
    }

    /// Runs `write` with write access (as [`Store::write`]), then `read`
    /// on the same state with the lock downgraded atomically: other readers
    /// proceed while `read` renders, and no writer comes in between.
    pub(crate) fn write_then_read<T, R>(
        &self,
        write: impl FnOnce(&mut State) -> T,
        read: impl FnOnce(&State, T) -> R,
    ) -> R {
        let now = self.clock.now_ms();
        let mut guard = self.state.write();
        guard.settle(now);
        let written = write(&mut guard);
        publish_write(&guard, &self.generation, &self.next_due);
        let guard = RwLockWriteGuard::downgrade(guard);
        read(&guard, written)
    }

    /// Apply due transitions if any (cheap when nothing is due).
    pub(crate) fn settle(&self) {
        let now = self.clock.now_ms();
        if now >= self.next_due.load(Ordering::Acquire) {
            drop(self.write());
        }
    }

    /// The current write generation (read it under the state lock).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn publish_next_due(&self) {
        let due = self.state.read().next_due().unwrap_or(u64::MAX);
        self.next_due.store(due, Ordering::Release);
    }
}
