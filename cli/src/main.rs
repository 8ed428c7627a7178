//! The `oslo-messaging` binary: see the `oslo_messaging_cli` crate docs.

use std::process::ExitCode;

use oslo_messaging_cli::{build_runtime, execute, init_logging, parse, shutdown_signal, Status};

fn main() -> ExitCode {
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let cli = match parse(std::env::args_os(), &mut out, &mut err) {
        Ok(cli) => cli,
        Err(status) => return status.into(),
    };
    init_logging(&cli);
    // `serve --runtime current-thread` runs the whole command on a
    // current-thread runtime; everything else on a multi-thread one.
    let runtime = match build_runtime(&cli) {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("oslo-messaging: error: cannot start the async runtime: {e}");
            return Status::Failure.into();
        }
    };
    let status = runtime.block_on(async {
        let shutdown = shutdown_signal();
        execute(cli, &mut out, &mut err, shutdown).await
    });
    status.into()
}
