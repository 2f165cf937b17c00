//! Ctrl-C and SIGTERM.

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
pub(crate) async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
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
