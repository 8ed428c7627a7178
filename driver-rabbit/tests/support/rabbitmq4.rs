//! Private RabbitMQ 4.x nodes, run from the cached Debian trixie root that
//! `scripts/rabbitmq4 prepare` makes (DESIGN.md section 5): bookworm ships
//! RabbitMQ 3.10, and trixie's 4.0.x needs an Erlang 27 that bookworm's libc
//! cannot run, so the node runs chrooted into that root.
//!
//! A [`Rabbitmq4Node`] follows [`super::node`]'s conventions: its own Erlang
//! node name (`omt4{pid}n{counter}@localhost`), its own AMQP and
//! distribution ports on 127.0.0.1, its own directory (data, logs, pid,
//! config, env and plugins files, and an Erlang cookie that is not the main
//! node's, used as `HOME` by the node and by every CLI call), readiness as
//! an event (`rabbitmqctl wait PIDFILE`, then a TCP connect), and a watchdog
//! so that the node dies with the test process. The machine's main node
//! (`rabbit@localhost`, 127.0.0.1:5672) is never addressed: every CLI call
//! names this node with `-n` and carries the private cookie.
//!
//! How the root is entered (`scripts/rabbitmq4 exec`): each process (the
//! server, each CLI call) gets a mount namespace of its own in which `/proc`
//! is mounted inside the root, then chroots. The mount lives exactly as long
//! as that process, so concurrent nodes never unmount `/proc` under each
//! other and nothing stays mounted on the host. Pids are the host's (no pid
//! namespace), so the pid file can be checked from outside.
//!
//! The node runs as root inside the root, with `HOME` set to its directory
//! (the Debian wrapper's `su rabbitmq` is bypassed as in `node.rs`); its
//! directory is a temp dir under the root's `/tmp`, so its paths inside the
//! chroot are the host paths minus the root prefix.
//!
//! epmd: the chrooted VM shares the host's network, so it registers with the
//! machine's epmd on 127.0.0.1:4369 (the one the main node uses; the epmd
//! protocol does not depend on the Erlang release). If none runs, the first
//! node starts one bound to 127.0.0.1 (`ERL_EPMD_ADDRESS`), which outlives
//! the tests as it would with `node.rs`.
//!
//! The node's `rabbitmq.conf` makes 4.0 behave like RabbitMQ 4.3's defaults:
//! transient non-exclusive queues and global QoS are refused, and `guest`
//! may connect (over loopback only anyway).
//!
//! Requirements: root (debootstrap, chroot, mount); on first use, Debian's
//! mirror (about 1.5 minutes to build the root once per machine).

#![allow(dead_code)] // each test binary uses a different subset

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::node::{cookie, free_port, kill, pid_alive, port_answers, text};

/// Host part of every node name (resolves through the root's `/etc/hosts`).
const HOST: &str = "localhost";

/// Upper bound for one CLI command (`timeout` kills it after this).
const CLI_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a node may take to boot, or to stop, before we give up.
const BOOT_TIMEOUT: Duration = Duration::from_secs(90);

/// RabbitMQ's scripts, as seen inside the root.
const BIN: &str = "/usr/lib/rabbitmq/bin";

/// `PATH` inside the root.
const PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// The settings that make 4.0 behave like 4.3 out of the box.
const LIKE_4_3: &str = "deprecated_features.permit.transient_nonexcl_queues = false\n\
                        deprecated_features.permit.global_qos = false\n\
                        loopback_users = none\n";

/// `scripts/rabbitmq4` of this repository.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/rabbitmq4")
}

/// The cached trixie root (`scripts/rabbitmq4 prepare`, once per process).
/// Panics, with the script's output, if it cannot be had.
fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let t0 = Instant::now();
        let out = Command::new(script())
            .arg("prepare")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script().display()));
        let path = text(&out.stdout).trim().to_owned();
        if !out.status.success() || path.is_empty() {
            panic!(
                "no RabbitMQ 4 node: `scripts/rabbitmq4 prepare` failed ({}); it needs root \
                 and, the first time on a machine, Debian's mirror.\n{}",
                out.status,
                text(&out.stderr)
            );
        }
        if std::env::var_os("OMT_NODE_VERBOSE").is_some() {
            eprintln!("[rabbitmq4] root {path} ready in {:?}", t0.elapsed());
        }
        let root = PathBuf::from(path);
        sweep_leftovers(&root);
        root
    })
}

/// Removes node directories left in the root by test processes that are
/// gone (normally the watchdog removes them; a reboot in mid-test would not).
fn sweep_leftovers(root: &Path) {
    let Ok(entries) = fs::read_dir(root.join("tmp")) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("omt4-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !pid_alive(pid) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// The running node: the supervising shell (our child) and its lifeline.
struct Running {
    shell: Child,
    /// Closing this tells the supervising shell to SIGTERM the node.
    lifeline: Option<ChildStdin>,
    /// The Erlang VM's OS pid (a host pid), from the node's pid file.
    vm_pid: u32,
}

/// A private RabbitMQ 4.x node; see the module docs.
pub struct Rabbitmq4Node {
    name: String,
    amqp_port: u16,
    dist_port: u16,
    root: PathBuf,
    /// Under the root's `/tmp`.
    dir: tempfile::TempDir,
    running: Mutex<Option<Running>>,
}

impl Rabbitmq4Node {
    /// Makes sure the root exists (`scripts/rabbitmq4 prepare`), starts a
    /// fresh node on free ports and returns once it accepts AMQP
    /// connections (`rabbitmqctl wait PIDFILE`: pid file written,
    /// distribution up, `rabbit` started, failing at once if the VM exits;
    /// then a TCP connect). A boot that fails (a port taken meanwhile) is
    /// retried twice with new ports. Panics with the node's output and log
    /// if no node can be had: tests that need RabbitMQ 4 fail, never skip.
    /// Blocking: from async tests call it in `spawn_blocking`.
    pub fn start() -> Rabbitmq4Node {
        let mut last_err = String::new();
        for _ in 0..3 {
            let node = Rabbitmq4Node::prepare();
            match node.boot() {
                Ok(()) => return node,
                Err(e) => last_err = e, // dropping `node` cleans it up
            }
        }
        panic!("could not start a private RabbitMQ 4 node: {last_err}");
    }

    /// The Erlang node name, e.g. `omt41234n0@localhost`.
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

    /// The node's directory, as seen from the host.
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

    /// The broker's version as the running node reports it
    /// (`rabbitmq-diagnostics server_version`), e.g. `4.0.5`.
    pub fn version(&self) -> String {
        let out = self.cli("rabbitmq-diagnostics", &["server_version", "--quiet"]);
        Self::checked("rabbitmq-diagnostics", &self.name, &["server_version"], out)
            .trim()
            .to_owned()
    }

    /// Runs `rabbitmqctl -n NAME <args>` in the root and returns its stdout;
    /// panics with the command, status, stdout and stderr if it fails.
    pub fn ctl(&self, args: &[&str]) -> String {
        let out = self.try_ctl(args);
        Self::checked("rabbitmqctl", &self.name, args, out)
    }

    /// Runs `rabbitmqctl -n NAME <args>` in the root and returns its output,
    /// whatever the exit status (124 means it was killed after two minutes).
    pub fn try_ctl(&self, args: &[&str]) -> Output {
        self.cli("rabbitmqctl", args)
    }

    /// Text of the node's log files (`log/*.log`, in name order).
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

    // --- internals -----------------------------------------------------------

    /// A new node's name, ports and directory, with its config files written.
    fn prepare() -> Rabbitmq4Node {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let root = root().to_owned();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let name = format!("omt4{pid}n{n}@{HOST}");
        let dir = tempfile::Builder::new()
            .prefix(&format!("omt4-{pid}-{n}-"))
            .tempdir_in(root.join("tmp"))
            .unwrap_or_else(|e| panic!("create a node dir in {}/tmp: {e}", root.display()));
        let amqp_port = free_port();
        let dist_port = free_port();
        let d = dir.path();
        let write = |file: &str, content: &str| {
            fs::write(d.join(file), content).unwrap_or_else(|e| panic!("write {file}: {e}"));
        };
        // No plugins: the management plugin would want port 15672.
        write("enabled_plugins", "[].\n");
        // Replaces the root's /etc/rabbitmq/rabbitmq-env.conf.
        write("rabbitmq-env.conf", "# private test node: nothing to set\n");
        write(
            "rabbitmq.conf",
            &format!(
                "{LIKE_4_3}\
                 listeners.tcp.default = 127.0.0.1:{amqp_port}\n\
                 log.file.level = info\n\
                 log.console = false\n"
            ),
        );
        // Readable by its owner only, or Erlang refuses it.
        let cookie_path = d.join(".erlang.cookie");
        let mut f = fs::File::create(&cookie_path).expect("create .erlang.cookie");
        f.write_all(cookie().as_bytes())
            .expect("write .erlang.cookie");
        drop(f);
        fs::set_permissions(&cookie_path, fs::Permissions::from_mode(0o400))
            .expect("chmod .erlang.cookie");
        Rabbitmq4Node {
            name,
            amqp_port,
            dist_port,
            root,
            dir,
            running: Mutex::new(None),
        }
    }

    /// A host path under the root, as seen inside the chroot.
    fn inside(&self, host_path: &Path) -> PathBuf {
        Path::new("/").join(
            host_path
                .strip_prefix(&self.root)
                .expect("node paths are under the root"),
        )
    }

    /// The node directory's `file`, as seen inside the chroot.
    fn inner(&self, file: &str) -> PathBuf {
        self.inside(&self.dir().join(file))
    }

    fn pid_file(&self) -> PathBuf {
        self.dir().join("rabbit.pid")
    }

    /// `scripts/rabbitmq4 exec <BIN>/<program>` with this node's
    /// environment only (nothing inherited: the host's `RABBITMQ_*`,
    /// `ERL_*` or `PATH` mean nothing inside the root).
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(script());
        cmd.arg("exec").arg(format!("{BIN}/{program}"));
        cmd.env_clear();
        let p = |f: &str| self.inner(f).into_os_string();
        cmd.current_dir(self.dir())
            .env("PATH", PATH)
            .env("LANG", "C.UTF-8")
            .env("OSLO_RABBITMQ4_ROOT", &self.root)
            .env("HOME", self.inner(""))
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
            // CLI tools on an ephemeral distribution port (not 35672-35682,
            // which parallel CLI calls could exhaust).
            .env("RABBITMQ_CTL_DIST_PORT_MIN", "0")
            .env("RABBITMQ_CTL_DIST_PORT_MAX", "0")
            // Distribution, and any epmd we start, only on loopback.
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
            .args(inner.get_args())
            .args(["-n", &self.name])
            .args(args)
            .current_dir(self.dir())
            .env_clear();
        for (k, v) in inner.get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
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
        let stdout = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir().join("stdout.txt"))
            .map_err(|e| format!("open stdout.txt: {e}"))?;
        let stderr = stdout.try_clone().map_err(|e| e.to_string())?;
        // The supervising shell (as in node.rs): runs the server (which
        // keeps its pid through `scripts/rabbitmq4 exec`: unshare and
        // chroot exec), then waits for EOF on its stdin, which comes when
        // we drop `lifeline` or when this process dies, and SIGTERMs the
        // server script, which stops the VM cleanly. If this process is gone
        // by then (the shell was reparented), it also waits for the VM to
        // exit and removes the node's directory.
        let server = self.command("rabbitmq-server");
        let script = format!(
            "trap '' INT HUP\n\
             '{script}' exec '{BIN}/rabbitmq-server' &\n\
             srv=$!\n\
             cat >/dev/null\n\
             vm=$(cat '{pid_file}' 2>/dev/null)\n\
             kill -TERM $srv 2>/dev/null\n\
             wait $srv\n\
             if [ \"$(ps -o ppid= -p $$ | tr -d ' ')\" != \"$PPID\" ]; then\n\
               while [ -n \"$vm\" ] && kill -0 $vm 2>/dev/null; do sleep 0.2; done\n\
               rm -rf '{dir}'\n\
             fi\n",
            script = script().display(),
            pid_file = self.pid_file().display(),
            dir = self.dir().display()
        );
        let mut shell = Command::new("/bin/sh");
        shell
            .arg("-c")
            .arg(script)
            .current_dir(self.dir())
            .env_clear();
        for (k, v) in server.get_envs() {
            if let Some(v) = v {
                shell.env(k, v);
            }
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
            &self.inner("rabbit.pid").to_string_lossy(),
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
                "RabbitMQ 4 node {} (amqp {}, dist {}, root {}) did not boot: {}\n{}{}\n\
                 --- stdout ---\n{}\n--- log ---\n{}",
                self.name,
                self.amqp_port,
                self.dist_port,
                self.root.display(),
                wait.status,
                text(&wait.stdout),
                text(&wait.stderr),
                fs::read_to_string(self.dir().join("stdout.txt")).unwrap_or_default(),
                self.log_text()
            ));
        }
        *self.running.lock().unwrap_or_else(|e| e.into_inner()) = Some(run);
        // `wait` returned once the listeners were bound; this confirms it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !port_answers(self.amqp_port) {
            if Instant::now() > deadline {
                return Err(format!(
                    "RabbitMQ 4 node {} booted but port {} does not answer",
                    self.name, self.amqp_port
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if std::env::var_os("OMT_NODE_VERBOSE").is_some() {
            eprintln!(
                "[rabbitmq4] {} up on {} in {:?}",
                self.name,
                self.amqp_port,
                t0.elapsed()
            );
        }
        Ok(())
    }

    /// Ends the node: lets the supervising shell SIGTERM it, SIGKILLs the
    /// VM if it is still there after [`BOOT_TIMEOUT`], and reaps the shell.
    fn finish(run: &mut Running) {
        drop(run.lifeline.take());
        let deadline = Instant::now() + BOOT_TIMEOUT;
        loop {
            let vm_gone = run.vm_pid == 0 || !pid_alive(run.vm_pid);
            match run.shell.try_wait() {
                Ok(Some(_)) if vm_gone => return,
                Ok(_) => {}
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

impl Drop for Rabbitmq4Node {
    /// Stops the node (`rabbitmqctl stop PIDFILE`, which returns once the VM
    /// is gone; SIGTERM through the watchdog; SIGKILL as a last resort);
    /// the node's directory is removed afterwards.
    fn drop(&mut self) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut run) = running.take() {
            let _ = self.try_ctl(&["stop", &self.inner("rabbit.pid").to_string_lossy()]);
            Self::finish(&mut run);
        }
    }
}
