//! Readiness: the reasons a node is not yet ready to serve its roles. `/readyz` answers 200
//! when there are none, else 503 listing them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Shared, cloneable set of unmet readiness conditions, keyed by component.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    pending: Arc<Mutex<BTreeMap<&'static str, String>>>,
}

impl Readiness {
    pub fn new() -> Readiness {
        Readiness::default()
    }

    /// Marks `component` not ready, with a reason an operator can act on.
    pub fn not_ready(&self, component: &'static str, reason: impl Into<String>) {
        self.lock().insert(component, reason.into());
    }

    /// Marks `component` ready.
    pub fn ready(&self, component: &'static str) {
        self.lock().remove(component);
    }

    /// `Ok(())` when ready, else the reasons, one per component.
    pub fn check(&self) -> Result<(), Vec<String>> {
        let pending = self.lock();
        if pending.is_empty() {
            Ok(())
        } else {
            Err(pending.iter().map(|(c, r)| format!("{c}: {r}")).collect())
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, String>> {
        // A poisoned lock only means another thread panicked mid-update of a plain map.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_when_no_component_is_pending() {
        let r = Readiness::new();
        assert!(r.check().is_ok());
        r.not_ready("broker", "listeners not bound");
        r.not_ready("controller", "quorum not joined");
        assert_eq!(r.check().unwrap_err().len(), 2);
        r.ready("broker");
        r.ready("controller");
        assert!(r.check().is_ok());
    }
}
