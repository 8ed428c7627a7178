//! Private RabbitMQ nodes for fault-injection tests.
//!
//! A [`TestNode`] is a RabbitMQ node of its own: its own Erlang node name
//! (`omt{pid}n{counter}@localhost`), its own AMQP and distribution ports on
//! 127.0.0.1, its own data, log, pid, config, env and plugins files in a
//! temporary directory, and its own Erlang cookie in that directory (used as
//! `HOME` by the node and by the CLI tools run against it). Tests may stop,
//! restart, alarm and cluster these nodes freely; the machine's main node
//! (`rabbit@localhost`, 127.0.0.1:5672) is never addressed: every command
//! here names its node with `-n` and runs with the private `HOME`, so even
//! its cookie would not match the main node's.
//!
//! Everything is synchronous (child processes and blocking sockets). From a
//! `#[tokio::test]` call the functions inside `tokio::task::spawn_blocking`,
//! or directly in a `multi_thread` runtime where blocking one worker for a
//! few seconds is harmless.
//!
//! Cleanup: dropping a `TestNode` stops its node (`rabbitmqctl stop`, then
//! SIGKILL of the VM as a last resort) and removes its directory. If the test
//! process dies without unwinding (SIGKILL, `panic = "abort"`), the node still
//! goes away: it runs under a small shell that holds a pipe from the test
//! process and, when that pipe closes, sends SIGTERM to the node (a clean
//! shutdown, ~2 s) and removes its directory.
//!
//! Requirements: RabbitMQ's scripts in `/usr/lib/rabbitmq/bin` (the Debian
//! layout; override with `OMT_RABBITMQ_BIN`), an `epmd` listening on
//! 127.0.0.1:4369 (if none runs, the first node starts one, which outlives
//! the tests), and coreutils' `timeout`.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::HashSet;
use std::fs;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Host part of every node name. The main node is `rabbit@localhost` (set in
/// `/etc/rabbitmq/rabbitmq-env.conf`); `localhost` resolves to 127.0.0.1 for
/// short names and needs no DNS, unlike the machine's own hostname.
const HOST: &str = "localhost";

/// Upper bound for one CLI command (`timeout` kills it after this).
const CLI_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a node may take to boot, or to stop, before we give up.
const BOOT_TIMEOUT: Duration = Duration::from_secs(90);

/// Where `rabbitmq-server`, `rabbitmqctl` and `rabbitmq-diagnostics` live.
/// We call these directly and not the `/usr/sbin` wrappers: as root those
/// `su` to the `rabbitmq` user with `HOME=/var/lib/rabbitmq`, which would
/// give the node the main node's cookie and a home it cannot write our
/// temp dir from.
fn bin_dir() -> PathBuf {
    std::env::var_os("OMT_RABBITMQ_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/rabbitmq/bin"))
}

/// One cookie for every node of this test process, so that any two of them
/// can be clustered; it differs from the main node's cookie.
pub(super) fn cookie() -> &'static str {
    static COOKIE: OnceLock<String> = OnceLock::new();
    COOKIE.get_or_init(|| {
        let mut rng = fastrand::Rng::new();
        let tail: String = (0..24)
            .map(|_| rng.alphabetic().to_ascii_uppercase())
            .collect();
        format!("OMT{}{tail}", std::process::id())
    })
}

/// Ports handed out by this process, never handed out twice.
fn reserved_ports() -> &'static Mutex<HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// A port that is free on 127.0.0.1 right now and that this process has not
/// handed out before.
///
/// Chosen at random below the kernel's ephemeral range
/// (`/proc/sys/net/ipv4/ip_local_port_range`, normally 32768-60999), so that
/// no outgoing connection (ours, the CLI's, other tests') can grab it
/// between now and the moment the node binds it. The CLI tools run with
/// distribution port 0 (ephemeral), so they cannot take it either. If the
/// node still finds it taken, `start()` retries with fresh ports.
pub fn free_port() -> u16 {
    let ephemeral_low = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (low, high) = if ephemeral_low > 12000 {
        (10000, ephemeral_low)
    } else {
        (0, 0)
    };
    let mut reserved = reserved_ports().lock().unwrap_or_else(|e| e.into_inner());
    let well_known = [15672, 25672, 4369, 5672, 5671, 15692, 5552, 1883, 61613];
    for _ in 0..1000 {
        let port = if high > low {
            fastrand::u16(low..high)
        } else {
            // Odd port range: let the kernel pick.
            match TcpListener::bind((Ipv4Addr::LOCALHOST, 0)) {
                Ok(l) => l.local_addr().map(|a| a.port()).unwrap_or(0),
                Err(_) => 0,
            }
        };
        if port == 0 || well_known.contains(&port) || reserved.contains(&port) {
            continue;
        }
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            reserved.insert(port);
            return port;
        }
    }
    panic!("no free port found on 127.0.0.1");
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub(super) fn port_answers(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
}

/// Whether OS process `pid` exists (and is not a zombie).
pub(super) fn pid_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Field 3, after the parenthesised command name, is the state.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

pub(super) fn kill(signal: &str, pid: u32) {
    let _ = Command::new("kill")
        .args([signal, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

pub(super) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The running incarnation of a node: the supervising shell (a child of
/// this process) and the pipe that keeps it waiting.
struct Running {
    shell: Child,
    /// Closing this tells the supervising shell to SIGTERM the node.
    lifeline: Option<ChildStdin>,
    /// The Erlang VM's OS pid, from the node's pid file.
    vm_pid: u32,
}

/// What a node has besides the defaults: `rabbitmq.conf` lines and plugins.
#[derive(Debug, Default, Clone)]
pub struct Extras {
    /// Appended to `rabbitmq.conf`; `{tls_port}` is replaced by a free port.
    pub config: String,
    /// Plugins to enable, e.g. `rabbitmq_auth_mechanism_ssl`.
    pub plugins: Vec<String>,
    /// `advanced.config` (Erlang terms), for settings `rabbitmq.conf`
    /// lacks, e.g. `[{rabbit, [{channel_tick_interval, 100}]}].`
    pub advanced: String,
}

/// A private RabbitMQ node; see the module docs.
pub struct TestNode {
    name: String,
    amqp_port: u16,
    dist_port: u16,
    tls_port: u16,
    dir: tempfile::TempDir,
    running: Mutex<Option<Running>>,
}

impl TestNode {
    /// Starts a fresh standalone node on free ports and returns once it
    /// accepts AMQP connections.
    ///
    /// Readiness is an event, not a sleep: `rabbitmqctl wait PIDFILE` blocks
    /// until the pid file appears, Erlang distribution is up and the `rabbit`
    /// application (with its listeners) has started, failing at once if the
    /// VM exits; then the AMQP port must accept a TCP connection. Safe to
    /// call from many threads at once (unique names, directories and ports).
    /// If a boot fails (say a port was taken after all), it is retried twice
    /// with new ports before panicking with the node's output and log.
    pub fn start() -> TestNode {
        Self::start_with(&Extras::default())
    }

    /// As [`start`](Self::start), with more `rabbitmq.conf` lines and
    /// plugins (`extras.config` may name `{tls_port}`, replaced by a free
    /// port of its own, see [`tls_port`](Self::tls_port)).
    pub fn start_with(extras: &Extras) -> TestNode {
        let mut last_err = String::new();
        for _ in 0..3 {
            let node = TestNode::prepare(extras);
            match node.boot() {
                Ok(()) => return node,
                Err(e) => last_err = e, // dropping `node` cleans it up
            }
        }
        panic!("could not start a private RabbitMQ node: {last_err}");
    }

    /// Three fresh nodes, started in parallel, then clustered: nodes 2 and 3
    /// run `stop_app`, `join_cluster <node 1>`, `start_app`. Returns once
    /// every node is running, accepts AMQP and lists all three nodes as
    /// running in `cluster_status`. The nodes are disc nodes of one cluster;
    /// they share this process's cookie.
    pub fn cluster3() -> Vec<TestNode> {
        let nodes: Vec<TestNode> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..3).map(|_| s.spawn(TestNode::start)).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        let seed = nodes[0].name().to_owned();
        for node in &nodes[1..] {
            node.ctl(&["stop_app"]);
            node.ctl(&["join_cluster", &seed]);
            node.ctl(&["start_app"]);
        }
        let names: Vec<&str> = nodes.iter().map(TestNode::name).collect();
        for node in &nodes {
            node.ctl(&["await_startup"]);
            node.wait_for_port(true);
            // Membership is settled once join_cluster returned; this is a
            // check, and it panics with the status if a node is missing.
            let running = node.running_nodes();
            for name in &names {
                assert!(
                    running.iter().any(|r| r == name),
                    "{} does not list {name} as running: {running:?}",
                    node.name
                );
            }
        }
        nodes
    }

    /// The port `{tls_port}` stood for in [`Extras::config`] (reserved for
    /// the node whether or not it listens there).
    pub fn tls_port(&self) -> u16 {
        self.tls_port
    }

    /// The Erlang node name, e.g. `omt1234n0@localhost`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The AMQP port on 127.0.0.1.
    pub fn amqp_port(&self) -> u16 {
        self.amqp_port
    }

    /// The Erlang distribution port on 127.0.0.1.
    pub fn dist_port(&self) -> u16 {
        self.dist_port
    }

    /// The node's directory (data, logs, config, cookie).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `rabbit://guest:guest@127.0.0.1:PORT/` for oslo-messaging transports.
    pub fn url(&self) -> String {
        format!("rabbit://guest:guest@127.0.0.1:{}/", self.amqp_port)
    }

    /// `amqp://guest:guest@127.0.0.1:PORT/%2f` for plain AMQP clients (lapin).
    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.amqp_port)
    }

    /// Runs `rabbitmqctl -n NAME <args>` and returns its stdout; panics with
    /// the command, status, stdout and stderr if it fails.
    pub fn ctl(&self, args: &[&str]) -> String {
        let out = self.try_ctl(args);
        Self::checked("rabbitmqctl", &self.name, args, out)
    }

    /// Runs `rabbitmqctl -n NAME <args>` and returns its output, whatever the
    /// exit status (124 means it was killed after two minutes).
    pub fn try_ctl(&self, args: &[&str]) -> Output {
        self.cli("rabbitmqctl", args)
    }

    /// Runs `rabbitmq-diagnostics -n NAME <args>` and returns its stdout;
    /// panics like [`ctl`](Self::ctl) on failure.
    pub fn diagnostics(&self, args: &[&str]) -> String {
        let out = self.cli("rabbitmq-diagnostics", args);
        Self::checked("rabbitmq-diagnostics", &self.name, args, out)
    }

    /// Stops the whole node (the Erlang VM exits) with `rabbitmqctl stop
    /// PIDFILE`, which returns once the VM process is gone; then checks that
    /// the AMQP port refuses connections. The name, ports and data stay, for
    /// [`restart`](Self::restart). Does nothing if the node is not running.
    ///
    /// Stopping a clustered node is fine; restarting it needs the node that
    /// stopped last to be running (or to start at about the same time).
    pub fn stop(&self) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let Some(mut run) = running.take() else {
            return;
        };
        let pid_file = self.pid_file();
        let out = self.try_ctl(&["stop", &pid_file.to_string_lossy()]);
        if !out.status.success() || pid_alive(run.vm_pid) {
            eprintln!(
                "rabbitmqctl stop of {} failed ({}): {}{}; killing the VM",
                self.name,
                out.status,
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        Self::finish(&mut run);
        self.wait_for_port(false);
    }

    /// Starts the same node again after [`stop`](Self::stop): same name,
    /// data directory and ports. Returns once it accepts AMQP connections
    /// (same readiness check as [`start`](Self::start)); panics if it does
    /// not come up. Does nothing if the node is running.
    pub fn restart(&self) {
        if self.is_running() {
            return;
        }
        if let Err(e) = self.boot() {
            panic!("could not restart {}: {e}", self.name);
        }
    }

    /// Whether this handle has the node running (started and not stopped).
    pub fn is_running(&self) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Raises (`on`) or clears the node's memory alarm by setting
    /// `vm_memory_high_watermark` to 0 (every byte is too many) or back to
    /// the default 0.4. Returns once the node's `status` lists the alarm, or
    /// no longer lists it (normally at the first look); publishers are
    /// blocked while it is on.
    pub fn set_memory_alarm(&self, on: bool) {
        self.ctl(&["set_vm_memory_high_watermark", if on { "0" } else { "0.4" }]);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let alarms = self.alarms();
            let memory = alarms
                .iter()
                .any(|a| *a == format!("memory on {}", self.name));
            if memory == on {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "memory alarm on {} still {} after 30 s; alarms: {alarms:?}",
                self.name,
                if on { "off" } else { "on" },
            );
            // The alarm follows the command within one memory check; the
            // CLI round trip (~0.5 s) paces this loop.
        }
    }

    /// Whether the node's `status` lists a memory alarm of this node.
    pub fn memory_alarm(&self) -> bool {
        self.alarms().contains(&format!("memory on {}", self.name))
    }

    /// The resource alarms in effect in the node's cluster, as
    /// `"RESOURCE on NODE"` (`memory`, `disk`), from `rabbitmqctl status
    /// --formatter json`. (`rabbitmq-diagnostics alarms --formatter json`
    /// changes shape between "no alarms" and "some alarms", so not that.)
    pub fn alarms(&self) -> Vec<String> {
        let out = self.ctl(&["status", "--formatter", "json"]);
        let v: Value = serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("status output is not JSON ({e}): {out}"));
        let field = |a: &Value, k: &str| a.get(k).and_then(Value::as_str).unwrap_or("?").to_owned();
        v.get("alarms")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|a| format!("{} on {}", field(a, "resource"), field(a, "node")))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Closes every client connection on this node (`rabbitmqctl
    /// close_all_connections --global`) and returns how many there were,
    /// once `list_connections` no longer shows them. Connections opened
    /// meanwhile may survive.
    pub fn close_all_connections(&self) -> usize {
        let before = self.connections();
        if before.is_empty() {
            return 0;
        }
        self.ctl(&["close_all_connections", "--global", "closed by test (omt)"]);
        self.wait_gone(&before);
        before.len()
    }

    /// Closes the client connections whose name (`127.0.0.1:PEER ->
    /// 127.0.0.1:PORT`) or client properties (e.g. a `connection_name`)
    /// contain `pattern`, one `rabbitmqctl close_connection` each;
    /// returns how many, once they are gone from `list_connections`.
    pub fn close_connections_matching(&self, pattern: &str) -> usize {
        let matching: Vec<Connection> = self
            .connections()
            .into_iter()
            .filter(|c| c.name.contains(pattern) || c.client_properties.contains(pattern))
            .collect();
        for c in &matching {
            let out = self.try_ctl(&["close_connection", &c.pid, "closed by test (omt)"]);
            // A connection that closed on its own meanwhile is fine.
            if !out.status.success() && self.connections().iter().any(|o| o.pid == c.pid) {
                panic!(
                    "close_connection {} on {} failed: {}{}",
                    c.pid,
                    self.name,
                    text(&out.stdout),
                    text(&out.stderr)
                );
            }
        }
        self.wait_gone(&matching);
        matching.len()
    }

    /// The node's client connections (`list_connections`), as seen now.
    pub fn connections(&self) -> Vec<Connection> {
        // Tab-separated text, not JSON: the JSON formatter prints pids as
        // `#PID<10986.795.0>`, which `close_connection` does not accept.
        let out = self.ctl(&[
            "list_connections",
            "--silent",
            "pid",
            "name",
            "client_properties",
        ]);
        out.lines()
            .filter(|l| l.starts_with('<'))
            .map(|l| {
                let mut cols = l.splitn(3, '\t');
                let mut col = || cols.next().unwrap_or("").to_owned();
                Connection {
                    pid: col(),
                    name: col(),
                    client_properties: col(),
                }
            })
            .collect()
    }

    /// Text of the node's log files (`log/*.log`, in name order), e.g. to
    /// assert that no "missed heartbeats" line was written. Empty if none.
    pub fn log_text(&self) -> String {
        let mut files: Vec<PathBuf> = fs::read_dir(self.dir().join("log"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .filter_map(|p| fs::read_to_string(p).ok())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Names of the queues in vhost `/` (`list_queues name`).
    pub fn queues(&self) -> Vec<String> {
        let out = self.ctl(&["list_queues", "-q", "--formatter", "json", "name"]);
        let v: Value = serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("list_queues output is not JSON ({e}): {out}"));
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|q| q.get("name").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Names of the running nodes of this node's cluster (`cluster_status`).
    pub fn running_nodes(&self) -> Vec<String> {
        let out = self.ctl(&["cluster_status", "--formatter", "json"]);
        let v: Value = serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("cluster_status output is not JSON ({e}): {out}"));
        v.get("running_nodes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    // --- internals -----------------------------------------------------------

    /// A new node's name, ports and directory, with its config files written.
    fn prepare(extras: &Extras) -> TestNode {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("omt{}n{n}@{HOST}", std::process::id());
        let dir = tempfile::Builder::new()
            .prefix(&format!("omt-rabbit-{}-{n}-", std::process::id()))
            .tempdir()
            .expect("create a temp dir for a RabbitMQ node");
        let amqp_port = free_port();
        let dist_port = free_port();
        let d = dir.path();
        let write = |file: &str, content: &str| {
            fs::write(d.join(file), content).unwrap_or_else(|e| panic!("write {file}: {e}"));
        };
        // No plugins but the extras': the management plugin would want port 15672.
        write(
            "enabled_plugins",
            &format!("[{}].\n", extras.plugins.join(",")),
        );
        let tls_port = free_port();
        // Replaces /etc/rabbitmq/rabbitmq-env.conf (NODENAME=rabbit@localhost).
        write("rabbitmq-env.conf", "# private test node: nothing to set\n");
        // Replaces /etc/rabbitmq/rabbitmq.conf (listeners.tcp.local = 127.0.0.1:5672).
        write(
            "rabbitmq.conf",
            &format!(
                "listeners.tcp.1 = 127.0.0.1:{amqp_port}\n\
                 log.file.level = info\n\
                 log.console = false\n{}",
                extras.config.replace("{tls_port}", &tls_port.to_string())
            ),
        );
        if !extras.advanced.is_empty() {
            write("advanced.config", &extras.advanced);
        }
        // The cookie must be readable by its owner only, or Erlang refuses it.
        let cookie_path = d.join(".erlang.cookie");
        let mut f = fs::File::create(&cookie_path).expect("create .erlang.cookie");
        f.write_all(cookie().as_bytes())
            .expect("write .erlang.cookie");
        drop(f);
        fs::set_permissions(&cookie_path, fs::Permissions::from_mode(0o400))
            .expect("chmod .erlang.cookie");
        TestNode {
            name,
            amqp_port,
            dist_port,
            tls_port,
            dir,
            running: Mutex::new(None),
        }
    }

    fn pid_file(&self) -> PathBuf {
        self.dir().join("rabbit.pid")
    }

    /// A command for one of RabbitMQ's scripts with this node's environment:
    /// inherited `RABBITMQ_*` and `ERL_*` variables removed, then ours set.
    fn command(&self, program: &str) -> Command {
        let d = self.dir();
        let mut cmd = Command::new(bin_dir().join(program));
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if k.starts_with("RABBITMQ_") || k.starts_with("ERL_") {
                cmd.env_remove(&key);
            }
        }
        let p = |f: &str| d.join(f).into_os_string();
        cmd.current_dir(d)
            .env("HOME", d)
            .env("RABBITMQ_CONF_ENV_FILE", p("rabbitmq-env.conf"))
            .env("RABBITMQ_NODENAME", &self.name)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.amqp_port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", p("mnesia"))
            .env("RABBITMQ_LOG_BASE", p("log"))
            .env("RABBITMQ_PID_FILE", p("rabbit.pid"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", p("enabled_plugins"))
            .env("RABBITMQ_CONFIG_FILE", p("rabbitmq.conf"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", p("advanced.config"))
            // CLI tools listen on an ephemeral distribution port instead of
            // the default 35672-35682, which parallel CLI calls could exhaust.
            .env("RABBITMQ_CTL_DIST_PORT_MIN", "0")
            .env("RABBITMQ_CTL_DIST_PORT_MAX", "0")
            // Distribution only on loopback (as the main node does).
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}",
            );
        cmd
    }

    /// Runs a CLI tool against this node, killed after [`CLI_TIMEOUT`].
    fn cli(&self, program: &str, args: &[&str]) -> Output {
        let inner = self.command(program);
        let mut cmd = Command::new("timeout");
        cmd.args(["-k", "5", &CLI_TIMEOUT.as_secs().to_string()])
            .arg(inner.get_program())
            .args(["-n", &self.name])
            .args(args)
            .current_dir(self.dir());
        for (k, v) in inner.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"))
    }

    fn checked(program: &str, node: &str, args: &[&str], out: Output) -> String {
        if !out.status.success() {
            panic!(
                "{program} -n {node} {} failed ({}):\nstdout: {}\nstderr: {}",
                args.join(" "),
                out.status,
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        text(&out.stdout)
    }

    /// Starts the VM and waits until the node accepts AMQP connections.
    fn boot(&self) -> Result<(), String> {
        let t0 = Instant::now();
        let _ = fs::remove_file(self.pid_file());
        let stdout = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir().join("stdout.txt"))
            .map_err(|e| format!("open stdout.txt: {e}"))?;
        let stderr = stdout.try_clone().map_err(|e| e.to_string())?;
        // The supervising shell: runs the node, then waits for EOF on its
        // stdin, which comes when we drop `lifeline` or when this process
        // dies, and stops the node with SIGTERM (a clean shutdown). It
        // ignores SIGINT/SIGHUP so that Ctrl-C reaches the node through this
        // path too, after the test process has gone.
        let server = bin_dir().join("rabbitmq-server");
        // If the test process is gone by then (it died without unwinding:
        // the shell has been reparented; `kill -0 $PPID` would not do, the
        // dead parent may linger as a zombie), the shell also waits for the VM to exit (the server script may
        // return before it does) and removes the node's directory.
        let script = format!(
            "trap '' INT HUP\n\
             '{server}' &\n\
             srv=$!\n\
             cat >/dev/null\n\
             vm=$(cat '{pid_file}' 2>/dev/null)\n\
             kill -TERM $srv 2>/dev/null\n\
             wait $srv\n\
             if [ \"$(ps -o ppid= -p $$ | tr -d ' ')\" != \"$PPID\" ]; then\n\
               while [ -n \"$vm\" ] && kill -0 $vm 2>/dev/null; do sleep 0.2; done\n\
               rm -rf '{dir}'\n\
             fi\n",
            server = server.display(),
            pid_file = self.pid_file().display(),
            dir = self.dir().display()
        );
        let cmd = self.command("rabbitmq-server");
        let mut shell = Command::new("/bin/sh");
        shell.arg("-c").arg(script).current_dir(self.dir());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => shell.env(k, v),
                None => shell.env_remove(k),
            };
        }
        let mut child = shell
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("spawn rabbitmq-server: {e}"))?;
        let lifeline = child.stdin.take();

        // The event: pid file written, distribution up, `rabbit` started.
        let wait = self.try_ctl(&[
            "wait",
            &self.pid_file().to_string_lossy(),
            "--timeout",
            &BOOT_TIMEOUT.as_millis().to_string(),
        ]);
        let vm_pid = fs::read_to_string(self.pid_file())
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok());
        let mut run = Running {
            shell: child,
            lifeline,
            vm_pid: vm_pid.unwrap_or(0),
        };
        if !wait.status.success() || vm_pid.is_none() {
            Self::finish(&mut run);
            return Err(format!(
                "node {} (amqp {}, dist {}) did not boot: {}\n{}{}\n--- stdout ---\n{}\n--- log ---\n{}",
                self.name,
                self.amqp_port,
                self.dist_port,
                wait.status,
                text(&wait.stdout),
                text(&wait.stderr),
                fs::read_to_string(self.dir().join("stdout.txt")).unwrap_or_default(),
                self.log_text()
            ));
        }
        *self.running.lock().unwrap_or_else(|e| e.into_inner()) = Some(run);
        if !self.port_ready() {
            return Err(format!(
                "node {} booted but port {} does not answer",
                self.name, self.amqp_port
            ));
        }
        if std::env::var_os("OMT_NODE_VERBOSE").is_some() {
            eprintln!(
                "[node] {} up on {} in {:?}",
                self.name,
                self.amqp_port,
                t0.elapsed()
            );
        }
        Ok(())
    }

    /// After `rabbitmqctl wait` succeeded the listener is already bound;
    /// this confirms it (normally on the first try).
    fn port_ready(&self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if port_answers(self.amqp_port) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the AMQP port to answer (`true`) or to refuse (`false`).
    fn wait_for_port(&self, open: bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while port_answers(self.amqp_port) != open {
            assert!(
                Instant::now() < deadline,
                "port {} of {} still {} after 10 s",
                self.amqp_port,
                self.name,
                if open { "closed" } else { "open" }
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until none of `conns` is listed any more (closing is
    /// asynchronous in the broker).
    fn wait_gone(&self, conns: &[Connection]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now = self.connections();
            if !now.iter().any(|c| conns.iter().any(|o| o.pid == c.pid)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "connections of {} still open after 30 s: {now:?}",
                self.name
            );
        }
    }

    /// Ends an incarnation: lets the supervising shell SIGTERM the node,
    /// SIGKILLs the VM if it is still there after [`BOOT_TIMEOUT`], and
    /// reaps the shell.
    fn finish(run: &mut Running) {
        drop(run.lifeline.take());
        let deadline = Instant::now() + BOOT_TIMEOUT;
        loop {
            let vm_gone = run.vm_pid == 0 || !pid_alive(run.vm_pid);
            match run.shell.try_wait() {
                Ok(Some(_)) if vm_gone => return,
                Ok(None) | Ok(Some(_)) => {}
                Err(_) => return,
            }
            if Instant::now() > deadline {
                if run.vm_pid != 0 {
                    kill("-KILL", run.vm_pid);
                }
                let _ = run.shell.kill();
                let _ = run.shell.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestNode {
    /// Stops the node if it runs (`rabbitmqctl stop`, SIGTERM, then SIGKILL
    /// as a last resort); the temp dir is removed afterwards.
    fn drop(&mut self) {
        self.stop_quietly();
    }
}

impl TestNode {
    fn stop_quietly(&self) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut run) = running.take() {
            let _ = self.try_ctl(&["stop", &self.pid_file().to_string_lossy()]);
            Self::finish(&mut run);
        }
    }
}

/// One client connection as `list_connections` shows it.
#[derive(Debug, Clone)]
pub struct Connection {
    /// `127.0.0.1:PEER -> 127.0.0.1:PORT`
    pub name: String,
    /// The connection process, e.g. `<omt1n0@localhost.1634.2211.0>`, as
    /// `close_connection` wants it.
    pub pid: String,
    /// The client properties as rabbitmqctl prints them (3.10 has no
    /// `user_provided_name` column; a client's `connection_name` shows here).
    pub client_properties: String,
}
