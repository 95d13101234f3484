/**
 * The screen for a server whose key changed (or does not match --server-fingerprint). It shows
 * both fingerprints and what to do, and refuses to continue: any key leaves with exit code 1.
 */
import blessed from 'blessed';
import type { ParleyError } from '../../protocol/errors.ts';
import { escapeTags } from './format.ts';
import type { Screen } from './screen.ts';

/** The warning's text (tagged): both keys, the engine's explanation, and how to leave. */
export function keyWarningText(error: ParleyError, address: string): string {
  const recorded = typeof error.details.recorded === 'string' ? error.details.recorded : null;
  const presented = typeof error.details.presented === 'string' ? error.details.presented : null;
  const lines = [
    `{bold}The identity of the server at ${escapeTags(address)} does not match.{/bold}`,
    '',
    'Someone may be intercepting the connection, or the server has a new key.',
    'Parley will not connect to it.',
    '',
  ];
  if (recorded) lines.push(`  recorded key:  {bold}${escapeTags(recorded)}{/bold}`);
  if (presented) lines.push(`  presented key: {bold}${escapeTags(presented)}{/bold}`);
  if (recorded || presented) lines.push('');
  // The engine's message repeats the keys and the warning shown above; keep what to do about it,
  // with the re-pin flag on a line of its own that fits 80 columns (it is meant to be copied).
  const repeats = /^(WARNING:|\s*(recorded|presented):|Someone may be intercepting|If the server's owner confirms)/;
  const advice = error.message.split('\n').filter((line) => !(recorded || presented) || !repeats.test(line));
  if (presented) lines.push("If the server's owner confirms the new key, start parley once with", `  --server-fingerprint ${escapeTags(presented)}`);
  lines.push(...advice.map(escapeTags), '', '{bold}Press any key to exit.{/bold}');
  return lines.join('\n');
}

/** Shows the warning; resolves on the next key press. */
export function showKeyWarning(screen: Screen, error: ParleyError, address: string): Promise<void> {
  const box = blessed.box({
    parent: screen,
    top: 0,
    left: 0,
    width: '100%',
    height: '100%',
    tags: true,
    border: { type: 'line' },
    label: error.code === 'E_SERVER_KEY_CHANGED' ? ' WARNING: the server key changed ' : ' WARNING: server key refused ',
    style: { border: { fg: 'red' }, fg: 'white', bg: 'red' },
    padding: { left: 1, right: 1 },
    content: keyWarningText(error, address),
  });
  box.setFront();
  screen.render();
  return new Promise((resolve) => screen.once('keypress', () => resolve()));
}
