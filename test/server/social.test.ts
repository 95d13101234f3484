import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Store } from '../../src/store/store.ts';
import { areaOf, Blocks, geohash, Profiles, topicOf } from '../../src/server/social.ts';

test('geohash matches the standard encoding', () => {
  assert.is(geohash(57.64911, 10.40744, 11), 'u4pruydqqvj'); // the reference example
  assert.is(geohash(48.8566, 2.3522), 'u09t');
  assert.is(geohash(-33.8688, 151.2093), 'r3gx');
});

test('areas: coordinates become a geohash cell, places a slug without accents', () => {
  assert.is(areaOf('48.8566, 2.3522'), 'u09t');
  assert.is(areaOf('Zürich'), 'zurich');
  assert.is(areaOf('São Paulo'), 'sao-paulo');
  assert.is(areaOf('91,0'), '91-0', 'out of range: not a point, kept as a name');
  assert.is(areaOf('!!!'), null);
  assert.is(topicOf('Machine Learning'), 'machine-learning');
  assert.is(topicOf('  '), null);
});

test('profiles suggest communities with counts; blocks are per direction and persist', async () => {
  const store = Store.memory();
  const profiles = new Profiles(store);
  await profiles.update('ann', { location: 'Paris', interests: ['Chess', 'chess', 'Go'] });
  await profiles.update('ben', { location: 'paris', interests: ['go'] });
  assert.equal(profiles.get('ann').interests, ['chess', 'go']);
  const suggested = profiles.suggest('ann', (name) => ({ members: name === 'interest:go' ? 3 : 0, joined: false }));
  assert.equal(suggested.map((c) => `${c.name}:${c.users}:${c.members}`), ['interest:go:2:3', 'near:paris:2:0', 'interest:chess:1:0']);
  await profiles.update('ann', { location: null });
  assert.is(profiles.get('ann').area, null);
  await profiles.update('ann', { clear: true });
  assert.equal(profiles.get('ann'), { location: null, area: null, interests: [] });

  const blocks = new Blocks(store);
  await blocks.set('ann', 'ben', true);
  assert.ok(blocks.blocks('ann', 'ben'));
  assert.not.ok(blocks.blocks('ben', 'ann'));
  const reloaded = new Blocks(store);
  await reloaded.load();
  assert.equal(reloaded.list('ann'), ['ben']);
});

test.run();
