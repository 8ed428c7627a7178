//! Broker housekeeping for operators and tests: deleting named queues and
//! exchanges over the driver's own connection settings.

use oslo_messaging_core::config::Config;
use oslo_messaging_core::{Result, TransportUrl};

use crate::endpoints::Endpoints;
use crate::io_runtime::IoRuntime;
use crate::lapin_error::error;
use crate::link::Link;
use crate::options::RabbitOptions;

/// Deletes `queues` and then `exchanges` on the broker of `url` (with the
/// `[oslo_messaging_rabbit]` options of `config`). Names that do not exist
/// are skipped. Queues go whatever they hold, so use it only on names you own.
///
/// # Errors
/// Bad options, or a connection failure (one attempt, no retries).
///
/// ```no_run
/// # async fn demo() -> oslo_messaging_core::Result<()> {
/// use oslo_messaging_core::{config::Config, TransportUrl};
///
/// let url = TransportUrl::parse("rabbit://guest:guest@127.0.0.1:5672/")?;
/// oslo_messaging_driver_rabbit::admin::delete(
///     &url,
///     &Config::defaults(),
///     &["my_topic".into(), "my_topic.host1".into()],
///     &[],
/// )
/// .await?;
/// # Ok(()) }
/// ```
pub async fn delete(
    url: &TransportUrl,
    config: &Config,
    queues: &[String],
    exchanges: &[String],
) -> Result<()> {
    let opts: RabbitOptions = config.driver_group(url)?;
    opts.validate()?;
    let io = IoRuntime::new()?;
    let link = Link::new("admin", Endpoints::new(url, &opts)?, opts, io.handle());
    let connection = link.connection(Some(0)).await?;
    let channel = connection
        .create_channel()
        .await
        .map_err(|e| error("open a channel", &e))?;
    for q in queues {
        channel
            .queue_delete(q.as_str().into(), Default::default())
            .await
            .map_err(|e| error(&format!("delete queue {q:?}"), &e))?;
    }
    for x in exchanges.iter().filter(|x| !x.is_empty()) {
        channel
            .exchange_delete(x.as_str().into(), Default::default())
            .await
            .map_err(|e| error(&format!("delete exchange {x:?}"), &e))?;
    }
    link.close().await;
    Ok(())
}
