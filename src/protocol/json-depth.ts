// A bound on JSON nesting, shared by both sides: the coordinator refuses deeper
// bodies, and the agent refuses to report deeper results (which the
// coordinator would refuse).

/** How deeply arrays and objects nest, counted without recursion (so a hostile body cannot overflow the stack). */
export function jsonDepthExceeds(value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== "object") continue;
    if (depth > limit) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (child !== null && typeof child === "object") stack.push([child, depth + 1]);
    }
  }
  return false;
}
