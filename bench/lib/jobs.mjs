// The job every configuration runs: the SHA-256 hex of a ~30-byte string.
// Inputs are unique per phase, so a result can be checked against its input.

import { createHash, randomBytes } from "node:crypto";

export const sha256Hex = (s) => createHash("sha256").update(s).digest("hex");

/** `n` distinct strings of 30 bytes each, tagged with the phase. */
export function makeInputs(n, tag) {
  const salt = randomBytes(4).toString("hex");
  return Array.from({ length: n }, (_, i) => `${tag}:${salt}:${i}`.padEnd(30, ".").slice(0, 30));
}

export function median(xs) {
  const v = xs.filter((x) => typeof x === "number" && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Nearest-rank percentile of a sorted array. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * Checks a run's results against its inputs: every job exactly once, every
 * value the locally computed hash. `results` is [[index, value, finishedAt]].
 */
export function verify(inputs, results) {
  const seen = new Uint8Array(inputs.length);
  let duplicates = 0;
  let wrong = 0;
  let unknown = 0;
  for (const [index, value] of results) {
    if (!(index >= 0 && index < inputs.length)) {
      unknown++;
      continue;
    }
    if (seen[index]++) duplicates++;
    if (value !== sha256Hex(inputs[index])) wrong++;
  }
  const missing = seen.reduce((n, s) => n + (s === 0 ? 1 : 0), 0);
  const ok = duplicates === 0 && wrong === 0 && unknown === 0 && missing === 0;
  return { ok, received: results.length, missing, duplicates, wrong, unknown };
}
