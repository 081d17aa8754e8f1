// Which partitions a host stops serving as the group's view of owners changes (cluster mode): the
// subscriptions and follows of exactly those end with the new owner named. A rebalance in between
// (no owner) neither ends them nor hides the move that follows it.
import t from 'tap';
import { OWNER_HERE, OWNER_NONE, Ownership } from '../src/main/cluster/ownership.js';
import { ErrorCode, ProtocolError } from '../src/shared/wire.js';

const urls = ['http://b:1', 'http://c:1'];
const view = (...owners: number[]) => ({ here: 'http://a:1', urls, owners });

t.test('a partition leaves when another host is seen applying it, through a rebalance too', async (t) => {
  const ownership = new Ownership(null, 4);
  t.same(ownership.update(view(OWNER_HERE, 0, OWNER_HERE, OWNER_HERE)), [1], 'served here until now (no view yet), another host now');
  t.same(ownership.update(view(OWNER_NONE, 0, OWNER_HERE, OWNER_HERE)), [], 'no owner during a rebalance: nothing ends yet');
  t.equal(ownership.ownerOf(0), undefined, 'and reads of it are told to retry');
  t.same(ownership.update(view(1, 0, OWNER_HERE, OWNER_HERE)), [0], 'then another host: it left');
  t.same(ownership.update(view(1, 0, OWNER_HERE, OWNER_HERE)), [], 'the same view again: nothing more');
  t.same(ownership.update(view(OWNER_HERE, 0, OWNER_HERE, OWNER_HERE)), [], 'back here');
  t.same(ownership.update(view(0, 1, OWNER_HERE, OWNER_HERE)), [0], 'and away again; moving between two other hosts is not this one\'s business');
  t.equal(ownership.ownerOf(0), 'http://b:1');
  t.equal(ownership.ownerOf(2), null, 'served here');
});

t.test('a view given at construction (a replacement acceptor) counts as the starting point', async (t) => {
  const ownership = new Ownership(view(OWNER_HERE, 1), 2);
  t.same(ownership.update(view(OWNER_HERE, 1)), [], 'nothing left since');
  const refused = t.throws(() => ownership.requireHere(1, 'key "k"', 7)) as unknown as ProtocolError;
  t.equal(refused.code, ErrorCode.NOT_OWNER);
  t.equal(refused.owner, 'http://c:1', 'NOT_OWNER carries the owner\'s URL');
  t.equal(refused.id, 7);
  t.same(ownership.prefixHosts(), { host: 'http://a:1', hosts: ['http://a:1', 'http://c:1'] }, 'a prefix subscriber is sent to this host and every host applying partitions');
  t.equal(new Ownership(null, 2).prefixHosts(), null, 'one host: nowhere else');
});
