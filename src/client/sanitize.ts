/**
 * Terminal safety: everything a peer sent is stripped of control characters and escape sequences
 * before it reaches a terminal, so a message cannot move the cursor, retitle the window, clear the
 * screen or hide text. Tabs become spaces; newlines are kept only where the caller allows them.
 */

// CSI (ESC [ ... final), OSC (ESC ] ... BEL/ST), other ESC sequences (ESC, intermediates, one
// final byte, e.g. ESC c, ESC 7, ESC ( B), and 8-bit C1 forms.
const ESCAPE_SEQUENCES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[PX^_][^\x1b]*(?:\x1b\\)?|\x1b[ -/]*[0-~]?|\x9b[0-?]*[ -/]*[@-~]/g;
// C0 and C1 controls, DEL, and bidirectional overrides that can reorder what is shown.
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;

/** Makes peer text safe to print. `multiline` keeps newlines (for message bodies). */
export function sanitize(text: string, multiline = false): string {
  let out = text.replace(ESCAPE_SEQUENCES, '').replace(/\t/g, '    ');
  out = multiline ? out.replace(/\r\n?/g, '\n') : out.replace(/[\r\n]+/g, ' ');
  return out.replace(CONTROLS, '');
}
