//! The signals that stop a command, and the exit status each gives.
//!
//! `serve`, `listen` and the bench servers stop cleanly on SIGINT or
//! SIGTERM and exit 0: that is how they are meant to end. Every other
//! command stops what it is doing at once, closes its transport (deleting
//! what it declared, such as a call's reply queue) and exits with the
//! shell's convention for a command ended by a signal, 128 + the signal's
//! number: 130 for SIGINT, 143 for SIGTERM.

use std::fmt;
use std::future::Future;

/// A signal that asks the command to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
}

impl Signal {
    /// The signal's number: 2 for SIGINT, 15 for SIGTERM.
    pub fn number(self) -> u8 {
        match self {
            Signal::Interrupt => 2,
            Signal::Terminate => 15,
        }
    }

    /// The exit status of a command it stopped: 128 + [`number`](Self::number).
    pub fn exit_code(self) -> u8 {
        128 + self.number()
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        })
    }
}

/// Completes with the first SIGINT or SIGTERM. The handlers are installed
/// when this is called (inside a tokio runtime), so a signal sent right
/// after is caught.
pub fn shutdown_signal() -> impl Future<Output = Signal> + Send {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt()).ok();
        let mut terminate = signal(SignalKind::terminate()).ok();
        async move {
            let interrupt = async {
                match interrupt.as_mut() {
                    Some(s) => drop(s.recv().await),
                    None => std::future::pending().await,
                }
            };
            let terminate = async {
                match terminate.as_mut() {
                    Some(s) => drop(s.recv().await),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = interrupt => Signal::Interrupt,
                () = terminate => Signal::Terminate,
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            Signal::Interrupt
        }
    }
}

/// What `serve`, `listen` and the bench servers wait for: the signal ends
/// them cleanly (exit status 0), so which one it was does not matter.
pub(crate) async fn clean_stop(shutdown: impl Future<Output = Signal> + Send) {
    shutdown.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        assert_eq!(Signal::Interrupt.exit_code(), 130);
        assert_eq!(Signal::Terminate.exit_code(), 143);
        assert_eq!(Signal::Terminate.to_string(), "SIGTERM");
    }
}
