/** Reads the first line of a stream and leaves the rest of it unread. */
import type { Readable } from 'node:stream';

export function firstLine(input: Readable): Promise<string> {
  return new Promise((resolve) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const end = buffered.indexOf('\n');
      if (end < 0) return;
      input.off('data', onData);
      input.off('end', onEnd);
      input.pause();
      const rest = buffered.slice(end + 1);
      if (rest) input.unshift(Buffer.from(rest, 'utf8'));
      resolve(buffered.slice(0, end).replace(/\r$/, ''));
    };
    const onEnd = () => resolve(buffered.replace(/\r?\n?$/, ''));
    input.on('data', onData);
    input.once('end', onEnd);
  });
}
