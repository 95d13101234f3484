/**
 * Groups: who owns them, who is in them, who is invited. One store document per group
 * (collection `groups`), all loaded at start; membership changes are written in the next batch.
 *
 * Names: 2-32 characters of a-z 0-9 _ -, a letter or digit first. Communities are open groups
 * named `interest:TOPIC` or `near:AREA`, created on demand by the first one to join, owned by no one.
 */
import { z } from 'zod';
import { ParleyError } from '../protocol/errors.ts';
import type { GroupInfo } from '../protocol/messages.ts';
import type { Store } from '../store/store.ts';

const COLLECTION = 'groups';
export const GROUP_PATTERN = /^[a-z0-9][a-z0-9_-]{1,31}$/;
export const COMMUNITY_PATTERN = /^(interest|near):[a-z0-9][a-z0-9_-]{0,31}$/;

const GroupRecord = z.object({
  name: z.string(),
  owner: z.string().nullable(),
  visibility: z.enum(['open', 'private']),
  members: z.array(z.string()),
  invited: z.array(z.string()),
  createdAt: z.number(),
});
export type GroupRecord = z.infer<typeof GroupRecord>;

/** Lower-cases a typed group name and drops a leading `#`. */
export function normalizeGroup(raw: string): string {
  return raw.trim().toLowerCase().replace(/^#/, '');
}

export function isCommunity(name: string): boolean {
  return COMMUNITY_PATTERN.test(name);
}

/** Why `name` cannot name a group, or null. */
export function groupNameProblem(name: string): string | null {
  if (GROUP_PATTERN.test(name) || COMMUNITY_PATTERN.test(name)) return null;
  return 'group names are 2-32 characters: letters, digits, _ and -, a letter or digit first';
}

/** File names may not hold `:`; names never hold `.`, so the mapping is one to one. */
const storeKey = (name: string) => name.replace(':', '.');

export class Groups {
  private readonly byName = new Map<string, GroupRecord & { memberSet: Set<string> }>();
  /** Counts changes to any group's members (memberChanges). */
  private changes = 0;

  constructor(private readonly store: Store) {}

  /** Reads every group from the store (a damaged file stops the start with E_STORE_CORRUPT). */
  async load(): Promise<void> {
    for (const key of await this.store.keys(COLLECTION)) {
      const record = await this.store.get(COLLECTION, key, GroupRecord);
      if (record) this.byName.set(record.name, { ...record, memberSet: new Set(record.members) });
    }
    this.changes++;
  }

  /**
   * Changes so far to who is in which group: while it stays the same, so does every member set,
   * and what was worked out from them holds (Hub's recipientsOf).
   */
  get memberChanges(): number {
    return this.changes;
  }

  private save(group: GroupRecord & { memberSet: Set<string> }): Promise<void> {
    const { memberSet, ...record } = group;
    record.members = [...memberSet];
    return this.store.put(COLLECTION, storeKey(group.name), record);
  }

  /** The group, or E_NO_SUCH_GROUP. */
  get(rawName: string): Readonly<GroupRecord> & { readonly memberSet: ReadonlySet<string> } {
    const name = normalizeGroup(rawName);
    const group = this.byName.get(name);
    if (!group) throw new ParleyError('E_NO_SUCH_GROUP', `no group named '#${name.slice(0, 40)}'`);
    return group;
  }

  find(name: string): (Readonly<GroupRecord> & { readonly memberSet: ReadonlySet<string> }) | undefined {
    return this.byName.get(name);
  }

  /** The groups `user` is in. */
  *of(user: string): Iterable<Readonly<GroupRecord> & { readonly memberSet: ReadonlySet<string> }> {
    for (const group of this.byName.values()) if (group.memberSet.has(user)) yield group;
  }

  /** Members of a group the user is in, or E_NOT_MEMBER. */
  requireMember(rawName: string, user: string): Readonly<GroupRecord> & { readonly memberSet: ReadonlySet<string> } {
    const group = this.get(rawName);
    if (!group.memberSet.has(user)) throw new ParleyError('E_NOT_MEMBER', `you are not in #${group.name}; /group join ${group.name} first`);
    return group;
  }

  async create(rawName: string, owner: string, visibility: 'open' | 'private', now: number): Promise<GroupRecord> {
    const name = normalizeGroup(rawName);
    const problem = groupNameProblem(name);
    if (problem) throw new ParleyError('E_BAD_GROUP', `invalid group name '${rawName.slice(0, 40)}': ${problem}`);
    if (isCommunity(name)) throw new ParleyError('E_BAD_GROUP', `${name} is a community: /group join ${name} creates it`);
    if (this.byName.has(name)) throw new ParleyError('E_GROUP_EXISTS', `the group #${name} already exists`);
    const group = { name, owner, visibility, members: [owner], invited: [], createdAt: now, memberSet: new Set([owner]) };
    this.byName.set(name, group);
    this.changes++;
    await this.save(group);
    return group;
  }

  /** Joins an open group, a private one you were invited to, or a community (made on demand). */
  async join(rawName: string, user: string, now: number): Promise<GroupRecord> {
    const name = normalizeGroup(rawName);
    let group = this.byName.get(name);
    if (!group && isCommunity(name)) {
      group = { name, owner: null, visibility: 'open', members: [], invited: [], createdAt: now, memberSet: new Set() };
      this.byName.set(name, group);
    }
    if (!group) throw new ParleyError('E_NO_SUCH_GROUP', `no group named '#${name.slice(0, 40)}'`);
    if (group.memberSet.has(user)) throw new ParleyError('E_ALREADY_MEMBER', `you are already in #${name}`);
    if (group.visibility === 'private' && !group.invited.includes(user)) {
      throw new ParleyError('E_FORBIDDEN', `#${name} is private: ask its owner ${group.owner} for an invitation`);
    }
    group.memberSet.add(user);
    this.changes++;
    group.invited = group.invited.filter((u) => u !== user);
    await this.save(group);
    return group;
  }

  async leave(rawName: string, user: string): Promise<GroupRecord> {
    const group = this.requireMember(rawName, user) as GroupRecord & { memberSet: Set<string> };
    group.memberSet.delete(user);
    this.changes++;
    // An owner who leaves hands the group to the longest-standing member.
    if (group.owner === user) group.owner = [...group.memberSet][0] ?? null;
    await this.save(group);
    return group;
  }

  private requireOwner(rawName: string, user: string): GroupRecord & { memberSet: Set<string> } {
    const group = this.get(rawName) as GroupRecord & { memberSet: Set<string> };
    if (group.owner !== user) throw new ParleyError('E_FORBIDDEN', `only the owner of #${group.name} (${group.owner ?? 'no one'}) can do that`);
    return group;
  }

  async invite(rawName: string, owner: string, user: string): Promise<GroupRecord> {
    const group = this.requireOwner(rawName, owner);
    if (group.memberSet.has(user)) throw new ParleyError('E_ALREADY_MEMBER', `${user} is already in #${group.name}`);
    if (!group.invited.includes(user)) group.invited.push(user);
    await this.save(group);
    return group;
  }

  async kick(rawName: string, owner: string, user: string): Promise<GroupRecord> {
    const group = this.requireOwner(rawName, owner);
    if (user === owner) throw new ParleyError('E_FORBIDDEN', 'the owner cannot kick themselves; /group leave hands the group on');
    if (!group.memberSet.delete(user)) throw new ParleyError('E_NOT_MEMBER', `${user} is not in #${group.name}`);
    this.changes++;
    group.invited = group.invited.filter((u) => u !== user);
    await this.save(group);
    return group;
  }

  info(group: Readonly<GroupRecord> & { readonly memberSet: ReadonlySet<string> }, user: string): GroupInfo {
    return {
      name: group.name,
      visibility: group.visibility,
      owner: group.owner,
      members: group.memberSet.size,
      member: group.memberSet.has(user),
      invited: group.invited.includes(user),
      community: isCommunity(group.name),
    };
  }

  /** Groups `user` may see: open ones, and private ones they are in or invited to. */
  visibleTo(user: string): GroupInfo[] {
    const out: GroupInfo[] = [];
    for (const group of this.byName.values()) {
      if (group.visibility === 'private' && !group.memberSet.has(user) && !group.invited.includes(user)) continue;
      out.push(this.info(group, user));
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Every group `user` is a member of. */
  memberOf(user: string): string[] {
    return [...this.byName.values()].filter((g) => g.memberSet.has(user)).map((g) => g.name);
  }
}
