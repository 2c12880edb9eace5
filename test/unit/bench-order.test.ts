import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { roundOrder } from "../../bench/order";

/** The benchmark's round order (bench/order.ts): balanced for position and for the kind before. */

function counts(kinds: string[], rounds: number) {
  const positions = new Map<string, number>();
  const follows = new Map<string, number>();
  const add = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
  for (let round = 1; round <= rounds; round++) {
    const order = roundOrder(kinds, round);
    assert.deepEqual([...order].sort(), [...kinds].sort(), `round ${round} runs each kind once`);
    order.forEach((kind, index) => {
      add(positions, `${kind}@${index}`);
      if (index > 0) add(follows, `${order[index - 1]}>${kind}`);
    });
  }
  return { positions, follows };
}

describe("roundOrder", () => {
  for (const n of [2, 3, 4, 5, 6]) {
    const kinds = ["dockfleet", "preinstalled", "naive", "ansible", "floor", "sequential"].slice(
      0,
      n,
    );
    const period = n % 2 === 0 ? n : 2 * n;
    it(`${n} kinds: over ${period} rounds, each at each position and after each other equally often`, () => {
      const { positions, follows } = counts(kinds, period);
      assert.equal(positions.size, n * n);
      assert.ok([...positions.values()].every((count) => count === period / n));
      assert.equal(follows.size, n * (n - 1), "every kind runs right after every other");
      assert.ok([...follows.values()].every((count) => count === period / n));
    });
  }

  it("the first round runs the kinds as given; the pattern repeats after its period", () => {
    const kinds = ["dockfleet", "preinstalled", "naive", "ansible", "floor"];
    assert.deepEqual(roundOrder(kinds, 1), [
      "dockfleet",
      "preinstalled",
      "floor",
      "naive",
      "ansible",
    ]);
    assert.deepEqual(roundOrder(kinds, 11), roundOrder(kinds, 1));
    assert.deepEqual(roundOrder(["dockfleet"], 3), ["dockfleet"]);
  });

  it("dockfleet does not always follow the same kind in 5 rounds of the default kinds", () => {
    const kinds = ["dockfleet", "preinstalled", "naive", "ansible", "floor"];
    const before = new Set<string>();
    for (let round = 1; round <= 5; round++) {
      const order = roundOrder(kinds, round);
      const index = order.indexOf("dockfleet");
      before.add(index === 0 ? "(first)" : order[index - 1]);
    }
    assert.ok(before.size >= 3, `dockfleet ran after: ${[...before].join(", ")}`);
  });

  it("refuses a round number below 1", () => {
    assert.throws(() => roundOrder(["a", "b"], 0), /numbered from 1/);
  });
});
