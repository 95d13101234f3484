/**
 * Self time per function in a V8 .cpuprofile (node --cpu-prof), optionally only the samples inside
 * given CLOCK_MONOTONIC µs windows (the measured rounds).
 *
 *   node --import tsx bench/lib/profile.ts FILE.cpuprofile [TOP]
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fmt, lpad } from './proc.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

export function profileTop(file: string, windows: Array<[number, number]> | null, top = 25): string[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; startTime: number; samples: number[]; timeDeltas: number[] };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let t = profile.startTime;
  let total = 0;
  let idle = 0;
  let inWindow = 0;
  const within = (at: number) => windows === null || windows.some(([a, b]) => at >= a && at <= b);
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    const duration = profile.timeDeltas[i + 1] ?? 0;
    if (!within(t)) continue;
    inWindow++;
    const { functionName, url, lineNumber } = byId.get(profile.samples[i])!.callFrame;
    if (functionName === '(idle)') {
      idle += duration;
      continue;
    }
    total += duration;
    // tsx-compiled sources report line 1 for everything: the file name is what tells.
    const where = url.startsWith('file://') ? basename(url) : url ? `${url.replace(/^node:/, '')}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'}${where ? `  ${where}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + duration);
  }
  if (inWindow === 0) return ['(no samples fell inside the measured windows)'];
  const lines = [`${fmt(total / 1000, 0)} ms on the main thread (${fmt(idle / 1000, 0)} ms idle); self time:`];
  for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    lines.push(`  ${lpad(fmt(us / 1000, 0), 6)} ms ${lpad(fmt((us / total) * 100), 5)}%  ${key}`);
  }
  return lines;
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  for (const line of profileTop(process.argv[2], null, Number(process.argv[3] ?? 25))) console.log(line);
}
