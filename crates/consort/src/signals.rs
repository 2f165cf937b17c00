//! Ctrl-C and SIGTERM.

use tokio::signal::unix::{signal, Signal, SignalKind};

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
pub(crate) async fn shutdown() {
    Shutdown::install().recv().await
}

/// Ctrl-C and SIGTERM handlers installed now (in a Tokio runtime's context): from then on
/// those signals no longer kill the process at once but are kept until [`Shutdown::recv`].
pub(crate) struct Shutdown {
    term: Signal,
    int: Signal,
}

impl Shutdown {
    pub(crate) fn install() -> Shutdown {
        Shutdown {
            term: signal(SignalKind::terminate()).expect("SIGTERM handler"),
            int: signal(SignalKind::interrupt()).expect("SIGINT handler"),
        }
    }

    pub(crate) async fn recv(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

/// The child `cmd` starts gets SIGTERM when this thread's process dies, even by SIGKILL
/// (Linux `PR_SET_PDEATHSIG`; it fires when the spawning *thread* exits, so spawn from a
/// thread that lives as long as the process, e.g. the main thread).
#[allow(unsafe_code)]
pub(crate) fn stop_with_parent(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and calls only the
    // async-signal-safe prctl(2), getppid(2) and _exit(2).
    unsafe {
        let parent = libc::getpid();
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl: then nobody sends the signal.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// Ask process `pid` to stop (SIGTERM).
#[allow(unsafe_code)]
pub(crate) fn terminate(pid: u32) {
    // SAFETY: kill(2) with a pid we spawned and a valid signal number has no memory effects.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
}
