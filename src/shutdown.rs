//! Cooperative shutdown: one [`Shutdown`] trigger, any number of [`ShutdownSignal`]s that
//! tasks select on.

use tokio::sync::watch;

/// The trigger; dropping it also signals shutdown.
#[derive(Debug)]
pub struct Shutdown {
    tx: watch::Sender<bool>,
}

/// A receiver that resolves once shutdown has been requested.
#[derive(Debug, Clone)]
pub struct ShutdownSignal {
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown {
            tx: watch::channel(false).0,
        }
    }

    pub fn signal(&self) -> ShutdownSignal {
        ShutdownSignal {
            rx: self.tx.subscribe(),
        }
    }

    /// Requests shutdown of every task holding a signal.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl ShutdownSignal {
    /// Waits until shutdown is requested (or the trigger is dropped).
    pub async fn wait(&mut self) {
        let _ = self.rx.wait_for(|stop| *stop).await;
    }

    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn signals_fire_on_trigger_and_on_drop() {
        let s = Shutdown::new();
        let mut a = s.signal();
        assert!(!a.is_triggered());
        s.trigger();
        a.wait().await;
        assert!(a.is_triggered());

        let s = Shutdown::new();
        let mut b = s.signal();
        drop(s);
        b.wait().await;
    }
}
