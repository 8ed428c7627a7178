//! What a driver must do with a [`Capability`] it does not claim: refuse
//! the operations with [`MessagingError::Unsupported`] at once, not hang
//! and not pretend.

use serde_json::json;

use super::support::{context, within};
use super::Harness;
use crate::driver::Capability;
use crate::notify::{
    NotificationEndpoint, NotificationListener, NotificationResult, Notifier, NotifySendExt,
};
use crate::rpc::{Endpoint, RpcClient, RpcServer};
use crate::Priority;
use crate::{MessagingError, Target};

/// Checks that the driver refuses what `capability` covers. A behaviour
/// that is not an operation ([`Capability::RetainsNotificationsBeforeListeners`])
/// has nothing to refuse: its case is simply not run.
pub async fn refuses(h: &Harness, capability: Capability) {
    let t = h.transport().await;
    let driver = t.driver().name();
    let unsupported = |what: &str, r: Result<(), MessagingError>| match r {
        Err(MessagingError::Unsupported { driver: d, .. }) => assert_eq!(d, driver, "{what}"),
        other => panic!("{what} on a driver without {capability:?}: {other:?}, not Unsupported"),
    };
    let topic = h.unique("unclaimed");
    match capability {
        Capability::Rpc => {
            let client = RpcClient::new(&t, Target::topic(&topic));
            let call = within(h, "a call", client.call(&context("u"), "m", json!({}))).await;
            unsupported("call", call.map(drop));
            let cast = within(h, "a cast", client.cast(&context("u"), "m", json!({}))).await;
            unsupported("cast", cast);
            let server = RpcServer::builder(&t, Target::server(&topic, "s"))
                .endpoint(Endpoint::builder(()).build().expect("endpoint builds"))
                .build()
                .expect("server builds");
            unsupported(
                "starting an RPC server",
                within(h, "a server start", server.start()).await,
            );
        }
        Capability::Notifications => {
            let notifier = Notifier::builder(&t)
                .driver("messagingv2")
                .topics([topic.as_str()])
                .publisher_id("p")
                .build()
                .expect("notifier builds");
            let sent = within(
                h,
                "a notification",
                notifier.info(&context("u"), "e", json!({})),
            )
            .await;
            unsupported("sending a notification", sent);
            let listener = listener(&t, &topic, false).expect("listener builds");
            unsupported(
                "starting a listener",
                within(h, "a listener start", listener.start()).await,
            );
        }
        Capability::Requeue => {
            unsupported("allow_requeue", listener(&t, &topic, true).map(drop));
        }
        Capability::RetainsNotificationsBeforeListeners => {}
    }
}

fn listener(
    t: &crate::Transport,
    topic: &str,
    allow_requeue: bool,
) -> crate::Result<NotificationListener> {
    let endpoint = NotificationEndpoint::builder(())
        .on(Priority::Info, |_, _| async {
            Ok(NotificationResult::Handled)
        })
        .build();
    NotificationListener::builder(t, vec![Target::topic(topic)])
        .endpoint(endpoint)
        .allow_requeue(allow_requeue)
        .build()
}
