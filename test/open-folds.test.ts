// The routed fast path's per-pub fold index (main/routes/open-folds.ts), against a Map doing the same job:
// random hashes from a small range (so slots collide and probe), set / get / close, cleared per "pub".
import t from 'tap';
import { seededRandom } from '../native-bench/random.js';
import { OpenFolds } from '../src/main/routes/open-folds.js';

t.test('behaves as a Map of hash to record, across collisions and clears', async (t) => {
  const random = seededRandom(11);
  const folds = new OpenFolds();
  folds.size(64);
  let mismatches = 0;
  for (let pub = 0; pub < 500; pub++) {
    folds.clear();
    const model = new Map<number, number>();
    for (let op = 0; op < 64; op++) {
      // Full u32 hashes, many sharing their low bits: the table must tell them apart.
      const hash = ((Math.floor(random() * 40) << 20) | Math.floor(random() * 4)) >>> 0;
      const roll = random();
      if (roll < 0.5) {
        folds.set(hash, op);
        model.set(hash, op);
      } else if (roll < 0.7) {
        folds.close(hash);
        if (model.has(hash)) model.set(hash, -1);
      } else if (folds.get(hash) !== (model.get(hash) ?? -1)) mismatches++;
    }
    for (const [hash, record] of model) if (folds.get(hash) !== record) mismatches++;
  }
  t.equal(mismatches, 0);
});

t.test('a clear forgets every entry; closing an absent hash adds none', async (t) => {
  const folds = new OpenFolds();
  folds.size(4);
  folds.set(0xdeadbeef, 3);
  folds.set(7, 5);
  t.equal(folds.get(0xdeadbeef), 3);
  t.equal(folds.get(7), 5);
  folds.clear();
  t.equal(folds.get(0xdeadbeef), -1);
  t.equal(folds.get(7), -1);
  folds.close(9);
  t.equal(folds.get(9), -1);
  folds.set(9, 1);
  folds.close(9);
  t.equal(folds.get(9), -1, 'closed');
  folds.set(9, 2);
  t.equal(folds.get(9), 2, 'reopened');
});
