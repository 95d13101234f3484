/**
 * A full garbage collection on demand, without --expose-gc on the command line: V8 lets the flag
 * be turned on at run time, and a fresh context then has `gc` (as src/server/scavenges.ts gets
 * its minor collections). Made once, at import.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
export const collectGarbage = runInNewContext('gc') as () => void;
