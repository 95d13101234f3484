/**
 * Groups, blocking, status and communities over real TCP, as people use them.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Community, GroupInfo, GroupMember } from '../../src/protocol/messages.ts';
import { client, PASSWORD, record, registered, rejection, sleep, startServer, tempDir, type TestServer, waitFor } from './helpers.ts';

let served: TestServer;
test.before(async () => {
  served = await startServer({ awayAfter: 0.3 });
});
test.after(() => served.stop());

test('a group: create, join, every member sees every message, offline members get theirs at login', async () => {
  const { port } = served;
  const alice = await registered(port, 'g-alice');
  const bob = await registered(port, 'g-bob');
  const carolStore = tempDir('parley-client-').path;
  const carol = client(port, carolStore);
  await carol.connect();
  await carol.register('g-carol', PASSWORD);
  try {
    await alice.request({ type: 'group_create', name: 'Homework', visibility: 'open' });
    const bobEvents = record(bob, 'group_event');
    const aliceEvents = record(alice, 'group_event');
    await bob.request({ type: 'group_join', name: '#homework' });
    await carol.request({ type: 'group_join', name: 'homework' });
    await waitFor(() => aliceEvents.filter((e) => e.event === 'joined').length === 2, 2000, 'join notices');
    assert.equal(aliceEvents.map((e) => `${e.user} ${e.event}`), ['g-bob joined', 'g-carol joined']);
    await carol.quit();

    const bobInbox = record(bob, 'message');
    const sent = await alice.groupSend('homework', 'problem 3 is due friday');
    assert.is(sent.status, 'sent');
    assert.is(sent.recipients, 1, 'bob online');
    await waitFor(() => bobInbox.length === 1, 2000, 'bob receives');
    assert.is(bobInbox[0].scope, 'group');
    assert.is(bobInbox[0].group, 'homework');
    assert.is(bobInbox[0].from, 'g-alice');

    const back = client(port, carolStore);
    const carolInbox = record(back, 'message');
    await back.connect();
    await back.login('g-carol', PASSWORD);
    await waitFor(() => carolInbox.length === 1, 2000, 'carol gets it at login');
    assert.is(carolInbox[0].text, 'problem 3 is due friday');

    // history, edit and delete work in groups
    const page = await back.history('#homework');
    assert.equal(page.messages.map((m) => m.text), ['problem 3 is due friday']);
    const updates = record(bob, 'update');
    await alice.edit('#homework', sent.msgId, 'problem 3 is due monday');
    await waitFor(() => updates.length === 1, 2000, 'edit reaches bob');
    assert.is(updates[0].group, 'homework');
    assert.is((await rejection(bob.edit('#homework', sent.msgId, 'no'))).code, 'E_FORBIDDEN');

    const members = await back.request<{ members: GroupMember[]; owner: string }>({ type: 'group_members', name: 'homework' });
    assert.equal(members.members.map((m) => `${m.user}${m.owner ? '*' : ''}`), ['g-alice*', 'g-bob', 'g-carol']);
    await back.request({ type: 'group_leave', name: 'homework' });
    await waitFor(() => bobEvents.some((e) => e.user === 'g-carol' && e.event === 'left'), 2000, 'leave notice');
    back.close();
  } finally {
    alice.close();
    bob.close();
    carol.close();
  }
});

test('groups refuse what is not allowed, with codes', async () => {
  const { port } = served;
  const owner = await registered(port, 'p-owner');
  const guest = await registered(port, 'p-guest');
  try {
    await owner.request({ type: 'group_create', name: 'staff', visibility: 'private' });
    assert.is((await rejection(owner.request({ type: 'group_create', name: 'staff' }))).code, 'E_GROUP_EXISTS');
    assert.is((await rejection(owner.request({ type: 'group_create', name: 'no spaces' }))).code, 'E_BAD_GROUP');
    assert.is((await rejection(guest.request({ type: 'group_join', name: 'staff' }))).code, 'E_FORBIDDEN');
    assert.is((await rejection(guest.groupSend('staff', 'let me in'))).code, 'E_NOT_MEMBER');
    assert.is((await rejection(guest.groupSend('nosuchgroup', 'hello'))).code, 'E_NO_SUCH_GROUP');
    assert.is((await rejection(guest.request({ type: 'group_members', name: 'staff' }))).code, 'E_NOT_MEMBER');
    assert.is((await rejection(guest.request({ type: 'group_invite', name: 'staff', user: 'p-owner' }))).code, 'E_FORBIDDEN');
    let listed = await guest.request<{ groups: GroupInfo[] }>({ type: 'group_list' });
    assert.not.ok(listed.groups.some((g) => g.name === 'staff'), 'a private group is invisible to outsiders');

    const invites = record(guest, 'group_event');
    await owner.request({ type: 'group_invite', name: 'staff', user: 'p-guest' });
    await waitFor(() => invites.some((e) => e.event === 'invited'), 2000, 'the invitation');
    listed = await guest.request<{ groups: GroupInfo[] }>({ type: 'group_list' });
    assert.ok(listed.groups.find((g) => g.name === 'staff')?.invited);
    await guest.request({ type: 'group_join', name: 'staff' });
    await owner.request({ type: 'group_kick', name: 'staff', user: 'p-guest' });
    await waitFor(() => invites.some((e) => e.event === 'kicked'), 2000, 'the kick');
    assert.is((await rejection(guest.groupSend('staff', 'still here?'))).code, 'E_NOT_MEMBER');
  } finally {
    owner.close();
    guest.close();
  }
});

test('blocking: no private messages, no presence; group messages hidden by the client; it persists', async () => {
  const { port } = served;
  const dora = await registered(port, 'b-dora');
  const mallory = await registered(port, 'b-mallory');
  try {
    await dora.request({ type: 'block', user: 'b-mallory' });
    const refused = await rejection(mallory.sendPrivate('b-dora', 'hey'));
    assert.is(refused.code, 'E_BLOCKED');
    assert.is(refused.message, 'your message could not be delivered as the recipient has blocked you');
    const who = await mallory.who();
    assert.not.ok(who.users.some((u) => u.user === 'b-dora'), 'who blocks you is not listed to you');
    const presence = record(mallory, 'presence');
    await dora.request({ type: 'status', status: 'busy' });
    await sleep(150);
    assert.not.ok(presence.some((p) => p.user === 'b-dora'), 'nor are their status changes');
    const listed = await dora.request<{ blocked: string[] }>({ type: 'blocked' });
    assert.equal(listed.blocked, ['b-mallory']);
    await dora.request({ type: 'unblock', user: 'b-mallory' });
    assert.is((await mallory.sendPrivate('b-dora', 'sorry')).status, 'delivered');
  } finally {
    dora.close();
    mallory.close();
  }
});

test('status: set by hand, shown in who; idle users turn away and come back on activity', async () => {
  const { port } = served;
  const erin = await registered(port, 's-erin');
  const frank = await registered(port, 's-frank');
  const presence = record(frank, 'presence');
  try {
    await erin.request({ type: 'status', status: 'busy', text: 'exam prep' });
    await waitFor(() => presence.some((p) => p.user === 's-erin' && p.status === 'busy'), 2000, 'busy');
    let who = await frank.who();
    const shown = who.users.find((u) => u.user === 's-erin')!;
    assert.is(shown.status, 'busy');
    assert.is(shown.statusText, 'exam prep');
    await erin.request({ type: 'status', status: 'available' });
    // erin says nothing for a while (the server marks available users away after 0.3 s here)
    await waitFor(() => presence.some((p) => p.user === 's-erin' && p.status === 'away'), 3000, 'auto away');
    await erin.who();
    await waitFor(() => presence.filter((p) => p.user === 's-erin').at(-1)?.status === 'available', 2000, 'back');
    who = await frank.who();
    assert.ok(who.users.some((u) => u.user === 's-erin' && u.status === 'available'));
  } finally {
    erin.close();
    frank.close();
  }
});

test('communities: profiles suggest near: and interest: groups with counts; joining creates them', async () => {
  const { port } = served;
  const gus = await registered(port, 'c-gus');
  const hal = await registered(port, 'c-hal');
  try {
    await gus.request({ type: 'profile', location: '48.8566,2.3522', interests: ['Rust', 'chess'] });
    await hal.request({ type: 'profile', location: '48.86,2.34', interests: ['rust'] });
    const { communities } = await gus.request<{ communities: Community[] }>({ type: 'communities' });
    const near = communities.find((c) => c.kind === 'near')!;
    assert.match(near.name, /^near:u09t$/, 'geohash cell of Paris');
    assert.is(near.users, 2);
    assert.equal(communities.find((c) => c.name === 'interest:rust'), { name: 'interest:rust', kind: 'interest', users: 2, members: 0, joined: false });
    await gus.request({ type: 'group_join', name: 'interest:rust' });
    await hal.request({ type: 'group_join', name: 'interest:rust' });
    const inbox = record(hal, 'message');
    await gus.groupSend('interest:rust', 'anyone tried the new borrow checker?');
    await waitFor(() => inbox.length === 1, 2000, 'community message');
    const after = await hal.request<{ communities: Community[] }>({ type: 'communities' });
    assert.ok(after.communities.find((c) => c.name === 'interest:rust')?.joined);
    const cleared = await gus.request<{ location: string | null; interests: string[] }>({ type: 'profile', clear: true });
    assert.equal(cleared, { location: null, area: null, interests: [] });
  } finally {
    gus.close();
    hal.close();
  }
});

test('groups, blocks and profiles survive a restart', async () => {
  const dir = tempDir();
  let server = await startServer({}, dir.path, false);
  const ivy = await registered(server.port, 'r-ivy');
  (await registered(server.port, 'r-jon')).close();
  await ivy.request({ type: 'group_create', name: 'lab' });
  await ivy.request({ type: 'block', user: 'r-jon' });
  await ivy.request({ type: 'profile', interests: ['go'] });
  ivy.close();
  await server.stop();
  server = await startServer({}, dir.path, false);
  try {
    const again = client(server.port);
    await again.connect();
    await again.login('r-ivy', PASSWORD);
    const { groups } = await again.request<{ groups: GroupInfo[] }>({ type: 'group_list' });
    assert.ok(groups.some((g) => g.name === 'lab' && g.member && g.owner === 'r-ivy'));
    assert.equal((await again.request<{ blocked: string[] }>({ type: 'blocked' })).blocked, ['r-jon']);
    assert.equal((await again.request<{ interests: string[] }>({ type: 'profile' })).interests, ['go']);
    again.close();
  } finally {
    await server.stop();
    dir.remove();
  }
});

test('group messages are acknowledged lazily but in time: none comes again, after a quit or past a short ack timeout', async () => {
  // An ack timeout far below ACK_LAZY_MS: the server announces it, and the client acknowledges within it.
  const short = await startServer({ ackTimeout: 0.2 });
  const alice = await registered(short.port, 'l-alice');
  const bob = await registered(short.port, 'l-bob');
  const again = [];
  try {
    await alice.request({ type: 'group_create', name: 'lazy', visibility: 'open' });
    await bob.request({ type: 'group_join', name: 'lazy' });
    const inbox = record(bob, 'message');
    // Every delivery bob's client gets, duplicates too (the client hides those from its user).
    const pacer = (bob as unknown as { acks: { add: (id: string, ...rest: unknown[]) => void } }).acks;
    const arrivals: string[] = [];
    const add = pacer.add.bind(pacer);
    pacer.add = (id, ...rest) => (arrivals.push(id), add(id, ...rest));
    const first = await alice.groupSend('lazy', 'past the timeout');
    await waitFor(() => inbox.length === 1, 2000, 'bob receives');
    await sleep(600); // three ack timeouts: an unacknowledged copy would have gone to the mailbox and come again
    assert.equal(arrivals, [first.msgId], 'delivered once: acknowledged within the timeout');
    await alice.groupSend('lazy', 'just before the quit');
    await waitFor(() => inbox.length === 2, 2000, 'bob receives the second');
    await bob.quit(); // at once: the acknowledgement waiting for its interval leaves first

    // From a new device, with no memory of what was seen: nothing is in the mailbox.
    const elsewhere = client(short.port);
    again.push(elsewhere);
    const redelivered = record(elsewhere, 'message');
    await elsewhere.connect();
    await elsewhere.login('l-bob', PASSWORD);
    await sleep(300);
    assert.equal(redelivered.map((m) => m.text), []);
  } finally {
    for (const c of [alice, bob, ...again]) c.close();
    await short.stop();
  }
});

test.run();
