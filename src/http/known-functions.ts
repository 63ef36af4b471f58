// Function hashes this isolate has seen stored in the registry. Sources are
// immutable and never deleted, so once the registry has a hash it always will:
// a submit that names a known function (or sends its source again) skips the
// round trip to the registry object. Per isolate, bounded; a miss only costs
// that round trip.

const MAX_KNOWN = 10_000;
const known = new Set<string>();

export function isKnownFunction(fnHash: string): boolean {
  return known.has(fnHash);
}

export function noteKnownFunction(fnHash: string): void {
  if (known.size >= MAX_KNOWN) known.clear();
  known.add(fnHash);
}
