//! The driver's log events, for tests that wait for what the driver did
//! (a consumer resumed, a reply sent again) instead of for time to pass.

use std::fmt::Write as _;
use std::sync::OnceLock;

use tokio::sync::broadcast;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// Forwards each event of the driver as one line: the message, then
/// `field=value` for every other field.
struct Forward(broadcast::Sender<String>);

impl<S: tracing::Subscriber> Layer<S> for Forward {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if !event
            .metadata()
            .target()
            .starts_with("oslo_messaging_driver_rabbit")
        {
            return;
        }
        #[derive(Default)]
        struct Line {
            message: String,
            fields: String,
        }
        impl tracing::field::Visit for Line {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if f.name() == "message" {
                    self.message = format!("{v:?}");
                } else {
                    let _ = write!(self.fields, " {}={v:?}", f.name());
                }
            }
        }
        let mut line = Line::default();
        event.record(&mut line);
        let _ = self.0.send(format!("{}{}", line.message, line.fields));
    }
}

/// The driver's log lines from now on (debug and above). The first call
/// in a process installs the global subscriber.
pub fn subscribe() -> broadcast::Receiver<String> {
    static SENDER: OnceLock<broadcast::Sender<String>> = OnceLock::new();
    SENDER
        .get_or_init(|| {
            let (tx, _) = broadcast::channel(65_536);
            let subscriber = tracing_subscriber::registry().with(
                Forward(tx.clone()).with_filter(tracing_subscriber::filter::LevelFilter::DEBUG),
            );
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber in this test binary");
            tx
        })
        .subscribe()
}

/// Waits for the next line that contains every one of `parts`; returns it.
/// Panics if the log ends.
pub async fn wait_for(log: &mut broadcast::Receiver<String>, parts: &[&str]) -> String {
    loop {
        match log.recv().await {
            Ok(line) if parts.iter().all(|p| line.contains(p)) => return line,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => panic!("the log ended"),
        }
    }
}
