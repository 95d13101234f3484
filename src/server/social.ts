/**
 * Who blocks whom, and the optional profiles that communities are suggested from. One store
 * document per user in `blocks` and `profiles`, all loaded at start.
 */
import { z } from 'zod';
import type { Community, Profile } from '../protocol/messages.ts';
import type { Store } from '../store/store.ts';

const BlockRecord = z.object({ user: z.string(), blocked: z.array(z.string()) });
const ProfileRecord = z.object({ user: z.string(), location: z.string().nullable(), area: z.string().nullable(), interests: z.array(z.string()) });

export class Blocks {
  private readonly byUser = new Map<string, Set<string>>();

  constructor(private readonly store: Store) {}

  async load(): Promise<void> {
    for (const key of await this.store.keys('blocks')) {
      const record = await this.store.get('blocks', key, BlockRecord);
      if (record) this.byUser.set(record.user, new Set(record.blocked));
    }
  }

  /** Does `user` block `other`? */
  blocks(user: string, other: string): boolean {
    return this.byUser.get(user)?.has(other) ?? false;
  }

  list(user: string): string[] {
    return [...(this.byUser.get(user) ?? [])].sort();
  }

  async set(user: string, other: string, blocked: boolean): Promise<void> {
    let set = this.byUser.get(user);
    if (!set) this.byUser.set(user, (set = new Set()));
    if (blocked) set.add(other);
    else set.delete(other);
    await this.store.put('blocks', user, { user, blocked: [...set] });
  }
}

// ---- geohash: nearby users share a prefix ------------------------------------------------

const BASE32 = '0123456789bcdefghjkmnpqrstuvwxyz';

/** Standard geohash of a point; 4 characters is a cell of about 39 x 20 km. */
export function geohash(lat: number, lon: number, precision = 4): string {
  let latRange: [number, number] = [-90, 90];
  let lonRange: [number, number] = [-180, 180];
  let out = '';
  let bits = 0;
  let value = 0;
  let even = true;
  while (out.length < precision) {
    const range = even ? lonRange : latRange;
    const coordinate = even ? lon : lat;
    const mid = (range[0] + range[1]) / 2;
    value <<= 1;
    if (coordinate >= mid) {
      value |= 1;
      range[0] = mid;
    } else range[1] = mid;
    even = !even;
    if (++bits === 5) {
      out += BASE32[value];
      bits = 0;
      value = 0;
    }
  }
  return out;
}

/**
 * The area of a location: the geohash cell of `LAT,LON`, or a place name made into a slug
 * (`Hong Kong` → `hong-kong`). Null when nothing usable is left.
 */
export function areaOf(location: string): string | null {
  const point = /^\s*(-?\d{1,2}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*$/.exec(location);
  if (point) {
    const lat = Number(point[1]);
    const lon = Number(point[2]);
    if (Math.abs(lat) <= 90 && Math.abs(lon) <= 180) return geohash(lat, lon);
  }
  const slug = location.toLowerCase().normalize('NFKD').replace(/[\u0300-\u036f]/g, '').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 32);
  return /^[a-z0-9]/.test(slug) ? slug : null;
}

/** An interest as a community topic: `Machine Learning` → `machine-learning`. */
export function topicOf(interest: string): string | null {
  const slug = interest.toLowerCase().normalize('NFKD').replace(/[\u0300-\u036f]/g, '').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 32);
  return /^[a-z0-9]/.test(slug) ? slug : null;
}

export class Profiles {
  private readonly byUser = new Map<string, Profile>();

  constructor(private readonly store: Store) {}

  async load(): Promise<void> {
    for (const key of await this.store.keys('profiles')) {
      const record = await this.store.get('profiles', key, ProfileRecord);
      if (record) this.byUser.set(record.user, { location: record.location, area: record.area, interests: record.interests });
    }
  }

  get(user: string): Profile {
    return this.byUser.get(user) ?? { location: null, area: null, interests: [] };
  }

  /** Applies the fields given (null clears one); `clear` forgets the profile. */
  async update(user: string, change: { location?: string | null; interests?: string[] | null; clear?: boolean }): Promise<Profile> {
    if (change.clear) {
      this.byUser.delete(user);
      await this.store.remove('profiles', user);
      return this.get(user);
    }
    const profile = { ...this.get(user) };
    if (change.location !== undefined) {
      profile.location = change.location;
      profile.area = change.location === null ? null : areaOf(change.location);
    }
    if (change.interests !== undefined) {
      profile.interests = [...new Set((change.interests ?? []).map(topicOf).filter((t): t is string => t !== null))];
    }
    this.byUser.set(user, profile);
    await this.store.put('profiles', user, { user, ...profile });
    return profile;
  }

  /**
   * Communities for `user`: their area and each of their interests, with how many users share
   * it. `members` and `joined` come from the group of that name, if it exists yet.
   */
  suggest(user: string, group: (name: string) => { members: number; joined: boolean }): Community[] {
    const mine = this.get(user);
    const out: Community[] = [];
    const count = (test: (p: Profile) => boolean) => [...this.byUser.values()].filter(test).length;
    if (mine.area) {
      const name = `near:${mine.area}`;
      out.push({ name, kind: 'near', users: count((p) => p.area === mine.area), ...group(name) });
    }
    for (const topic of mine.interests) {
      const name = `interest:${topic}`;
      out.push({ name, kind: 'interest', users: count((p) => p.interests.includes(topic)), ...group(name) });
    }
    return out.sort((a, b) => b.users - a.users || a.name.localeCompare(b.name));
  }
}
