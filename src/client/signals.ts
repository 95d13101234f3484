/**
 * Leaving politely, however the user asks: Ctrl+C in the full-screen client, `/quit`, or a signal
 * (SIGHUP: its terminal was closed; SIGTERM: it was told to stop). The client leaves as `/quit`
 * does, so that the acknowledgements still being paced go out (a group message's wait up to
 * ACK_LAZY_MS) and the server does not store and send again what was already shown.
 */
const SIGNALS = ['SIGHUP', 'SIGTERM'] as const;

/** How long a client that quits waits for the server's answer before it exits anyway. */
export const QUIT_GRACE_MS = 2000;

/**
 * A quit request: the first calls `quit` and `exit` after `graceMs` without an answer; any later
 * one (a second Ctrl+C or signal) calls `exit` at once.
 */
export function politeQuit(quit: () => void, exit: () => void, graceMs = QUIT_GRACE_MS): () => void {
  let requested = false;
  return () => {
    if (requested) return exit();
    requested = true;
    setTimeout(exit, graceMs).unref();
    quit();
  };
}

/** Calls `request` on SIGHUP and SIGTERM; returns the undo. */
export function onQuitSignals(request: () => void): () => void {
  const onSignal = () => request();
  for (const signal of SIGNALS) process.on(signal, onSignal);
  return () => {
    for (const signal of SIGNALS) process.off(signal, onSignal);
  };
}
