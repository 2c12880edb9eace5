/**
 * The order the kinds run in, round by round: a Williams design (a Latin square balanced for
 * the kind that ran just before). Rotating one order, as the benchmark did before, moves every
 * kind to every position but keeps its neighbours: dockfleet always ran right after the floor,
 * Ansible right after the naive loop, so whatever a kind leaves behind always fell on the same
 * other kind. Here, over n rounds (2n when the number of kinds n is odd), each kind runs at each
 * position and right after each other kind equally often.
 */
export function roundOrder<T>(kinds: readonly T[], round: number): T[] {
  const n = kinds.length;
  if (n === 0) return [];
  if (!Number.isInteger(round) || round < 1) {
    throw new Error(`round ${round}: rounds are numbered from 1`);
  }
  // 0, 1, n-1, 2, n-2, ...: the first row; the others add the row's index.
  const first = Array.from({ length: n }, (_, index) =>
    index % 2 === 1 ? (index + 1) / 2 : (n - index / 2) % n,
  );
  const row = (round - 1) % (n % 2 === 0 ? n : 2 * n);
  const shifted = first.map((position) => kinds[(position + row) % n]);
  // With an odd n, the second n rows are the first n reversed.
  return row < n ? shifted : shifted.reverse();
}
