//! A server run as a child process (the built `phivault` binary), so its
//! memory is its own: started, its address read from its stderr, its
//! resident set read from /proc, and stopped by SIGTERM... or kill on drop.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::LoadError;

/// A running child server.
pub struct ChildServer {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// The text both servers print on stderr before the address.
const LISTENING: &str = "listening on https://";

impl ChildServer {
    /// Runs `command` (stderr piped) and waits for its "listening on" line.
    /// The rest of its stderr is drained by a thread (so it never blocks).
    pub fn start(mut command: Command, what: &'static str) -> Result<Self, LoadError> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env("RUST_LOG", "warn");
        let mut child = command.spawn().map_err(|e| LoadError::Spawn(what, e))?;
        let Some(stderr) = child.stderr.take() else {
            let _ = child.kill();
            return Err(LoadError::NoAddress(what));
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if !sent && let Some(rest) = line.split(LISTENING).nth(1) {
                    let _ = tx.send(rest.trim().to_owned());
                    sent = true;
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .ok()
            .and_then(|a| a.parse().ok());
        match addr {
            Some(addr) => Ok(Self { child, addr }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(LoadError::NoAddress(what))
            }
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the child (SIGKILL: the run is over, its data directory is
    /// thrown away) and reaps it.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process's resident set and its peak, KiB (`VmRSS`, `VmHWM` in
/// /proc/<pid>/status, proc(5)).
pub fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
