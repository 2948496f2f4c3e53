//! Helpers shared by the CLI tests that run the `regsync` binary.
#![allow(dead_code, clippy::unwrap_used)]

use std::ops::{Deref, DerefMut};
use std::process::{Child, Command};

/// A child process killed and reaped when the test lets go of it, passed or failed.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Deref for Proc {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for Proc {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// Sends SIGTERM, as Kubernetes, ECS and systemd do to stop a service.
pub fn sigterm(child: &Child) {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
}
