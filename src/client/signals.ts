/**
 * The client's answer to SIGHUP (its terminal was closed) and SIGTERM (it was told to stop): it
 * leaves as `/quit` does, so that the acknowledgements still being paced go out (a group
 * message's waits up to ACK_LAZY_MS) and the server does not store and send again what was
 * already shown. A second signal, or `graceMs` without the server's answer, ends it at once.
 */
const SIGNALS = ['SIGHUP', 'SIGTERM'] as const;

/** How long a client that quits waits for the server's answer before it exits anyway. */
export const QUIT_GRACE_MS = 2000;

/** Calls `quit` on the first of these signals and `exit` once it is given up on; returns the undo. */
export function quitOnSignals(quit: () => void, exit: () => void, graceMs: number): () => void {
  let signalled = false;
  const onSignal = () => {
    if (signalled) return exit();
    signalled = true;
    setTimeout(exit, graceMs).unref();
    quit();
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  return () => {
    for (const signal of SIGNALS) process.off(signal, onSignal);
  };
}
