#!/usr/bin/env node
// Summary of V8 .cpuprofile files, made for the workerd profiles that
// BENCH_WORKERD_PROFILE=/dir writes (bench/dist/coordinator.mjs, profile.mjs)
// but usable with any .cpuprofile (node --cpu-prof too). Several files are
// added up (e.g. the runs of one bench, or core_user + core_entry).
//
//   node bench/prof-summary.mjs [options] FILE.cpuprofile…
//     --top N          functions in the self-time table (25)
//     --callers NAME   bottom-up caller chains of NAME (repeatable): a function
//                      name, a "name file" key as printed, or /regexp/ matched
//                      against "name file:line"; without it, chains of the
//                      --auto first entries of the table are printed
//     --auto N         how many top entries get caller chains by default (6)
//     --depth N        frames per caller chain (6)
//     --chains N       chains printed per function (8)
//     --inclusive N    also the top N functions by inclusive (total) time
//
// Weights: a sample counts 1. workerd samples an isolate only while that
// isolate runs (gaps between its bursts of work are long timeDeltas that say
// nothing about where CPU went), so time deltas are not used; "≈ ms" is
// samples × the median sample interval within bursts.
// Percentages are of non-idle samples: every sample except (idle) and
// (program) (the isolate entered but no JS/GC frame: workerd's own C++ work
// on behalf of the isolate, e.g. between callbacks); their shares of all
// samples are printed apart. (garbage collector) counts as non-idle.
// Locations: a function of the bundled Worker is shown with the src/ or
// node_modules/ file it came from (esbuild's `// path` section comments in
// the <prefix>.bundle.mjs that coordinator.mjs writes next to the profiles)
// and, when that file is found and the function name is declared in it, its
// line there; otherwise bundle:LINE. Native functions (workerd APIs, V8
// builtins: JSON parse/stringify, sql exec, crypto.subtle.sign…) have no
// file and are shown as "(native)".
// The "categories" table assigns each non-idle sample to the innermost frame
// of its stack that matches one of the categories (so the column adds up to
// 100 %), and also gives the inclusive share (any frame of the stack matches).

import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";

const { values: opts, positionals: files } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: "string", default: "25" },
    callers: { type: "string", multiple: true, default: [] },
    auto: { type: "string", default: "6" },
    depth: { type: "string", default: "6" },
    chains: { type: "string", default: "8" },
    inclusive: { type: "string", default: "0" },
    help: { type: "boolean", short: "h" },
  },
});
if (opts.help || files.length === 0) {
  console.log(readFileSync(new URL(import.meta.url), "utf8").split("\n").filter((l) => l.startsWith("//")).map((l) => l.slice(3)).join("\n"));
  process.exit(files.length === 0 && !opts.help ? 2 : 0);
}
const TOP = Number(opts.top);
const DEPTH = Number(opts.depth);
const CHAINS = Number(opts.chains);
const IDLE = new Set(["(idle)", "(program)"]);
const ROOTISH = new Set(["(root)"]);

// --- bundle line → source file (and the line of the declaration there) ---

const bundleCache = new Map();
function bundleFor(profilePath, url) {
  const candidates = [];
  // the sidecar bundle is the coordinator Worker's (core:user:), not that of Miniflare's own Workers
  const m = /^(.*?workerd-\d+-\d+)-[^/]*\.cpuprofile$/.exec(profilePath);
  if (m && (/-core_user\.cpuprofile$/.test(profilePath) || /bench-coordinator\.mjs$/.test(url))) candidates.push(`${m[1]}.bundle.mjs`);
  if (url) candidates.push(resolve(url.replace(/^file:\/\//, "")));
  for (const path of candidates) {
    if (bundleCache.has(path)) return bundleCache.get(path);
    if (!existsSync(path)) continue;
    const sections = []; // [startLine (1-based), file]
    const lines = readFileSync(path, "utf8").split("\n");
    lines.forEach((line, i) => {
      const s = /^\/\/ ((?:\.\.\/)*[\w@.-][\w@./+-]*\.(?:[cm]?[jt]sx?))$/.exec(line);
      if (s) sections.push([i + 1, s[1].replace(/^(\.\.\/)+/, "")]);
    });
    const b = { sections, lines };
    bundleCache.set(path, b);
    return b;
  }
  return null;
}

const declCache = new Map();
function declarationLine(file, name) {
  const key = `${file}\0${name}`;
  if (declCache.has(key)) return declCache.get(key);
  let line = null;
  const path = join(process.cwd(), file);
  if (/^[\w$]+$/.test(name) && existsSync(path)) {
    const text = readFileSync(path, "utf8").split("\n");
    const n = name.replace(/\$/g, "\\$");
    const patterns = [
      new RegExp(`\\bfunction\\*?\\s+${n}\\b`),
      new RegExp(`\\bclass\\s+${n}\\b`),
      new RegExp(`\\b(?:const|let|var)\\s+${n}\\s*=`),
      new RegExp(`^\\s*(?:(?:public|private|protected|static|async|override|readonly|get|set)\\s+)*\\*?${n}\\s*(?:<[^>]*>)?\\(`),
      new RegExp(`\\b${n}\\s*[:=]\\s*(?:async\\s*)?(?:function\\b|\\()`),
    ];
    for (const re of patterns) {
      const i = text.findIndex((l) => re.test(l));
      if (i >= 0) {
        line = i + 1;
        break;
      }
    }
  }
  declCache.set(key, line);
  return line;
}

function locate(profilePath, frame) {
  const { url, lineNumber } = frame;
  if (!url) return "(native)";
  const line = lineNumber + 1;
  const bundle = bundleFor(profilePath, url);
  if (!bundle || bundle.sections.length === 0) return `${url}:${line}`;
  let file = null;
  for (const [start, f] of bundle.sections) {
    if (start > line) break;
    file = f;
  }
  if (!file) return `${basename(url)}:${line}`;
  const decl = declarationLine(file, frame.functionName);
  return decl ? `${file}:${decl}` : `${file} (bundle:${line})`;
}

// --- loading ---

const fnName = (frame) => frame.functionName || "(anonymous)";
let totalSamples = 0;
let idleSamples = { "(idle)": 0, "(program)": 0 };
const perFile = [];
const stacks = []; // every non-idle sample: array of keys, leaf first (shared arrays per node)
const intervals = [];
const lineHits = []; // self samples of each node split over its source lines (positionTicks): { key, leafStack, line, text, weight }

for (const path of files) {
  const profile = JSON.parse(readFileSync(path, "utf8"));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stackOf = new Map(); // node id → keys leaf first
  const keyOf = (node) => `${fnName(node.callFrame)}  ${locate(path, node.callFrame)}`;
  const stack = (id) => {
    if (stackOf.has(id)) return stackOf.get(id);
    const keys = [];
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const node = byId.get(cur);
      if (!ROOTISH.has(node.callFrame.functionName)) keys.push(keyOf(node));
    }
    stackOf.set(id, keys);
    return keys;
  };
  const own = { path, samples: profile.samples.length, "(idle)": 0, "(program)": 0, "(garbage collector)": 0 };
  const hits = new Map(); // node id → samples
  for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
  for (const [id, n] of hits) {
    const node = byId.get(id);
    if (IDLE.has(node.callFrame.functionName)) continue;
    const key = keyOf(node);
    const bundle = node.callFrame.url ? bundleFor(path, node.callFrame.url) : null;
    const ticks = node.positionTicks?.length ? node.positionTicks : [{ line: null, ticks: 1 }];
    const sum = ticks.reduce((a, t) => a + t.ticks, 0);
    for (const t of ticks) {
      const text = t.line && bundle ? (bundle.lines[t.line - 1] ?? "").trim() : null;
      lineHits.push({ key, leafStack: stack(id), line: t.line, fnLine: node.callFrame.lineNumber + 1, text, weight: (n * t.ticks) / sum });
    }
  }
  profile.samples.forEach((id, i) => {
    const name = byId.get(id).callFrame.functionName;
    totalSamples++;
    if (IDLE.has(name)) {
      own[name]++;
      idleSamples[name]++;
      return;
    }
    if (name === "(garbage collector)") own[name]++;
    stacks.push(stack(id));
    const d = profile.timeDeltas?.[i + 1];
    if (d > 0 && d < 2000) intervals.push(d);
  });
  perFile.push(own);
}

const busy = stacks.length;
const pct = (n, of = busy) => (of ? `${((100 * n) / of).toFixed(1)}%` : "—");
intervals.sort((a, b) => a - b);
const medianUs = intervals.length ? intervals[Math.floor(intervals.length / 2)] : 0;
const ms = (n) => ((n * medianUs) / 1000).toFixed(0);

function table(rows, head) {
  const all = [head, ...rows].map((r) => r.map(String));
  const w = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const right = head.map((_, i) => all.slice(1).every((r) => /^[\d.,%≈ —-]*$/.test(r[i])));
  const fmt = (r) => r.map((c, i) => (i === r.length - 1 ? c : right[i] ? c.padStart(w[i]) : c.padEnd(w[i]))).join("  ");
  return [fmt(all[0]), fmt(w.map((x) => "-".repeat(x))), ...all.slice(1).map(fmt)].join("\n");
}

// --- per file ---

console.log(`${files.length} profile(s), ${totalSamples.toLocaleString("en-US")} samples; median sample interval within bursts ${medianUs} µs`);
console.log(table(perFile.map((f) => [basename(f.path), f.samples, f.samples - f["(idle)"] - f["(program)"], pct(f["(idle)"], f.samples), pct(f["(program)"], f.samples), pct(f["(garbage collector)"], f.samples)]), ["file", "samples", "non-idle", "(idle)", "(program)", "(GC)"]));
console.log(`\nnon-idle: ${busy.toLocaleString("en-US")} samples ≈ ${ms(busy)} ms of isolate time = 100% below; (idle) ${pct(idleSamples["(idle)"], totalSamples)} and (program) ${pct(idleSamples["(program)"], totalSamples)} of all samples, not counted`);

// --- self time ---

const self = new Map();
const total = new Map();
for (const s of stacks) {
  self.set(s[0], (self.get(s[0]) ?? 0) + 1);
  for (const k of new Set(s)) total.set(k, (total.get(k) ?? 0) + 1);
}
const ranked = [...self].sort((a, b) => b[1] - a[1]);
const split = (key) => key.split("  ");
console.log(`\nTop ${TOP} by self time (% of non-idle)`);
console.log(table(ranked.slice(0, TOP).map(([k, n], i) => [i + 1, pct(n), `≈${ms(n)}`, pct(total.get(k)), ...split(k)]), ["#", "self", "ms", "total", "function", "location"]));

if (Number(opts.inclusive) > 0) {
  console.log(`\nTop ${opts.inclusive} by inclusive (total) time`);
  const inc = [...total].sort((a, b) => b[1] - a[1]).slice(0, Number(opts.inclusive));
  console.log(table(inc.map(([k, n], i) => [i + 1, pct(n), pct(self.get(k) ?? 0), ...split(k)]), ["#", "total", "self", "function", "location"]));
}

// --- lines and categories ---

// workerd's API calls made from JS (sql.exec, cursor.toArray/one, JSON.*, Durable
// Object stub calls, most crypto.subtle calls) usually get no frame of their own:
// their time is self time of the calling JS function, on the line of the call
// (positionTicks). So categories look at the text of that line first.
const LINE_CATEGORIES = [
  ["SQL (sql.exec, cursor)", /^[`"']?\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b|\bsql\.exec\b|\.toArray\(\)|\.one\(\)|\.raw\(\)|transactionSync\(|\bstorage\.sql\b/],
  ["JSON parse/stringify", /\bJSON\.(parse|stringify)\(|\.json\(\)/],
  ["crypto (Ed25519 sign/verify, sha256, keys)", /\bcrypto\.|\bsubtle\b|\bdigest\(|\bsign[A-Z]?\w*\(|\bverify\w*\(/],
  ["RPC Worker ↔ Durable Object (stub calls)", /\b(queueStub|agentRegistry|functionRegistry)\(|\b(stub|registry\d*)\.\w+\(|\.idFromName\(|\benv\.[A-Z_]+\.get\(/],
];
const FRAME_CATEGORIES = [
  ["JSON parse/stringify", (n, loc) => loc === "(native)" && /^(parse|stringify|json)$/.test(n)],
  ["SQL (sql.exec, cursor)", (n, loc) => loc === "(native)" && /^(exec|toArray|one|raw|transactionSync)$/.test(n)],
  ["crypto (Ed25519 sign/verify, sha256, keys)", (n, loc) => loc === "(native)" && /^(sign|verify|digest|importKey|exportKey|generateKey|getRandomValues|randomUUID|timingSafeEqual)$/.test(n)],
  ["RPC Worker ↔ Durable Object (stub calls)", (n, loc) => loc === "(native)" && /^(idFromName|idFromString|newUniqueId|get|structuredClone)$/.test(n)],
  ["zod validation", (n, loc) => loc.includes("node_modules/zod/")],
  ["hono routing (router/, compose, dispatch)", (n, loc) => /node_modules\/hono\/dist\/(router\/|compose|hono-base|router\.js)/.test(loc)],
  ["hono other (context, request, helpers)", (n, loc) => loc.includes("node_modules/hono/")],
  ["Request/Response/body/headers (native)", (n, loc) => loc === "(native)" && /^(Response|Request|text|arrayBuffer|formData|blob|Headers|set|append|has|URL|encode|decode|btoa|atob|fetch)$/.test(n)],
  ["(garbage collector)", (n) => n === "(garbage collector)"],
  ["other native", (n, loc) => loc === "(native)"],
  ["app code, other lines (src/, bench wrapper)", (n, loc) => /^(src|bench)\//.test(loc)],
];
const ALL_CATEGORIES = [...new Set([...LINE_CATEGORIES.map(([c]) => c), ...FRAME_CATEGORIES.map(([c]) => c), "other JS"])];
const lineCategory = (text) => (text ? LINE_CATEGORIES.find(([, re]) => re.test(text))?.[0] ?? null : null);
const frameCategory = (key) => {
  const [n, loc] = split(key);
  return FRAME_CATEGORIES.find(([, test]) => test(n, loc ?? ""))?.[0] ?? null;
};

// Top lines by self time.
const byLine = new Map();
for (const h of lineHits) {
  const k = `${h.key}\0${h.line}`;
  const e = byLine.get(k) ?? { ...h, weight: 0 };
  e.weight += h.weight;
  byLine.set(k, e);
}
// The src/ line of a bundle line: the same text, nearest to where it should be
// (the function's declaration in src/ + the offset within the function in the bundle).
const norm = (l) => l.trim().replace(/\b([\w$]+)<[^()=;]*?>\(/g, "$1(").replace(/([A-Za-z_$])\d+\b/g, "$1"); // generics gone; esbuild's renames (leaseId2) undone
const srcLine = (e) => {
  const [name, loc = ""] = split(e.key);
  const file = loc.split(/[: ]/)[0];
  if (!e.text || !e.line || !/^(src|bench)\//.test(file) || !existsSync(join(process.cwd(), file))) return null;
  const src = readFileSync(join(process.cwd(), file), "utf8").split("\n").map(norm);
  const bundle = [...bundleCache.values()].find((b) => b.lines[e.line - 1]?.trim() === e.text);
  const want = norm(e.text);
  const same = (t, w) => t === w || (w.length > 12 && t.length > 12 && (t.startsWith(w) || w.startsWith(t)));
  const cands = src.map((t, i) => (same(t, want) ? i : -1)).filter((i) => i >= 0);
  if (cands.length === 0) return null;
  // score: how many of the next 4 bundle lines follow in src too; then nearness to the declaration-based guess
  const decl = declarationLine(file, name);
  const guess = decl ? decl - 1 + (e.line - e.fnLine) : null;
  const next = bundle ? bundle.lines.slice(e.line, e.line + 4).map(norm) : [];
  const scored = cands.map((i) => ({ i, score: next.filter((w, k) => src[i + 1 + k] !== undefined && same(src[i + 1 + k], w)).length, d: guess === null ? 0 : Math.abs(i - guess) }));
  scored.sort((a, b) => b.score - a.score || a.d - b.d);
  if (scored.length > 1 && guess === null && scored[0].score === scored[1].score) return null;
  return `${file}:${scored[0].i + 1}`;
};
console.log(`\nTop ${TOP} source lines by self time (positionTicks; a call into workerd — sql.exec, JSON, stub.method() — counts on its line)`);
console.log(
  table(
    [...byLine.values()].sort((a, b) => b.weight - a.weight).slice(0, TOP).map((e, i) => {
      const [name, loc] = split(e.key);
      const where = loc === "(native)" ? loc : srcLine(e) ?? (e.line ? `${loc.replace(/ \(bundle:\d+\)$/, "").replace(/:\d+$/, "")} (bundle:${e.line})` : loc);
      return [i + 1, pct(e.weight), name, where, lineCategory(e.text) ?? frameCategory(e.key) ?? "other JS", (e.text ?? "").slice(0, 90)];
    }),
    ["#", "self", "function", "line", "category", "text"],
  ),
);

const catSelf = new Map(ALL_CATEGORIES.map((c) => [c, 0]));
const catIncl = new Map(ALL_CATEGORIES.map((c) => [c, 0]));
for (const h of lineHits) {
  // the line of the leaf frame decides; else the innermost frame with a category
  let c = lineCategory(h.text) ?? frameCategory(h.key);
  if (c === null || c === "app code, other lines (src/, bench wrapper)") {
    const inner = h.leafStack.slice(1).map(frameCategory).find((x) => x && x !== "app code, other lines (src/, bench wrapper)" && x !== "other native");
    c = c === null ? (inner ?? "other JS") : c;
  }
  catSelf.set(c, catSelf.get(c) + h.weight);
}
for (const s of stacks) {
  const seen = new Set(s.map(frameCategory).filter(Boolean));
  for (const c of seen) catIncl.set(c, catIncl.get(c) + 1);
}
console.log(`\nCategories (self: the line of the sampled JS frame, else the frame itself — adds up to 100%; inclusive: a frame of that category anywhere on the stack, frame-based only)`);
console.log(table(ALL_CATEGORIES.map((c) => [c, pct(catSelf.get(c)), catIncl.get(c) ? pct(catIncl.get(c)) : "—"]), ["category", "self", "inclusive"]));

// --- bottom-up caller chains ---

function chainsOf(match, label) {
  const chains = new Map();
  let n = 0;
  for (const s of stacks) {
    if (!match(s[0])) continue;
    n++;
    const chain = s.slice(1, 1 + DEPTH).map((k) => {
      const [name, loc] = split(k);
      return loc === "(native)" ? `${name}(native)` : `${name}@${loc.replace(/ \(bundle:\d+\)$/, "").replace(/^node_modules\//, "").replace(/^(src|bench)\//, "")}`;
    });
    const key = chain.join(" ← ") || "(top of stack)";
    chains.set(key, (chains.get(key) ?? 0) + 1);
  }
  console.log(`\n${label}: self ${pct(n)} of non-idle (${n} samples); callers, innermost first:`);
  for (const [key, c] of [...chains].sort((a, b) => b[1] - a[1]).slice(0, CHAINS)) console.log(`  ${pct(c).padStart(6)}  (${pct(c, n).padStart(6)} of it)  ${key}`);
}

const matcher = (q) => {
  const re = /^\/(.*)\/([a-z]*)$/.exec(q);
  if (re) {
    const r = new RegExp(re[1], re[2]);
    return (k) => r.test(k.replace("  ", " "));
  }
  return (k) => k === q || split(k)[0] === q || k.replace("  ", " ") === q;
};
const wanted = opts.callers.length ? opts.callers.map((q) => [q, matcher(q)]) : ranked.slice(0, Number(opts.auto)).map(([k]) => [k.replace("  ", "  "), (x) => x === k]);
console.log(`\nBottom-up caller chains (depth ${DEPTH}; name@file, src/ and node_modules/ prefixes dropped)`);
for (const [label, match] of wanted) chainsOf(match, label);
