//! Wakes the load generator when the next record is due, to the microsecond.
//!
//! tokio's timers tick in whole milliseconds, which would add up to a millisecond of the
//! client's own lateness to every paced latency. A thread sleeping on the OS timer is precise
//! but then has to wake the runtime's thread, a second wake-up on the path of every record
//! (and `nanosleep` is rounded up by the thread's timer slack, 50 µs by default). A
//! `timerfd` armed at the due time and registered with the runtime's reactor wakes the
//! producer's own thread directly from the kernel's high-resolution timer.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::time::Instant;

pub struct Pacer {
    timer: AsyncFd<OwnedFd>,
    /// `CLOCK_MONOTONIC` reading taken together with `base`: converts instants to timer values.
    base_monotonic: Duration,
    base: Instant,
    /// The deadline the timer is armed for, so that waiting again for it costs no system call.
    armed: Option<Instant>,
}

impl Pacer {
    pub fn new() -> io::Result<Pacer> {
        // SAFETY: plain system call; the returned descriptor is checked and then owned.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let base = Instant::now();
        let base_monotonic = monotonic_now()?;
        // SAFETY: the `OwnedFd` keeps the descriptor open for as long as the `AsyncFd` lives.
        let timer = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(Pacer {
            timer,
            base_monotonic,
            base,
            armed: None,
        })
    }

    /// Returns at `due` (at once if it has passed).
    pub async fn sleep_until(&mut self, due: Instant) -> io::Result<()> {
        if due <= Instant::now() {
            return Ok(());
        }
        if self.armed != Some(due) {
            self.arm(due)?;
        }
        loop {
            let mut guard = self.timer.readable().await?;
            let mut expirations = [0u8; 8];
            // SAFETY: reads 8 bytes into a buffer of 8 bytes from a descriptor we own.
            let n = unsafe {
                libc::read(
                    guard.get_inner().as_raw_fd(),
                    expirations.as_mut_ptr().cast(),
                    expirations.len(),
                )
            };
            if n == 8 {
                self.armed = None;
                return Ok(());
            }
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::WouldBlock {
                return Err(error);
            }
            guard.clear_ready();
        }
    }

    fn arm(&mut self, due: Instant) -> io::Result<()> {
        let at = self.base_monotonic + due.saturating_duration_since(self.base);
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: at.as_secs() as libc::time_t,
                tv_nsec: at.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: arms a timer we own with a fully initialised value.
        let rc = unsafe {
            libc::timerfd_settime(
                self.timer.get_ref().as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        self.armed = Some(due);
        Ok(())
    }
}

fn monotonic_now() -> io::Result<Duration> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes the current time into `now`.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_at_the_due_time_not_before() {
        let mut pacer = Pacer::new().unwrap();
        for step in [200u64, 1_000, 3_000] {
            let due = Instant::now() + Duration::from_micros(step);
            pacer.sleep_until(due).await.unwrap();
            assert!(Instant::now() >= due, "woke before the due time");
        }
        // A due time in the past returns at once, without arming.
        pacer
            .sleep_until(Instant::now() - Duration::from_millis(1))
            .await
            .unwrap();
    }
}
