// The dashboard in a real browser: Debian's chromium driven by playwright-core.
// It loads the page, takes the submit token in the page, submits a batch from
// the form and sees the counts change live; a screenshot is kept in
// test-artifacts/ as a record of what a person would see.
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startCoordinator, type Coordinator } from "../helpers/coordinator.js";

const CHROMIUM = "/usr/bin/chromium";
const artifacts = fileURLToPath(new URL("../../test-artifacts/", import.meta.url));
let coord: Coordinator;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does this)`);
  coord = await startCoordinator();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});
afterAll(async () => {
  await browser?.close();
  await coord?.stop();
});

/** Plays an agent by hand over the API: enroll, take up to `n` tasks, report them done. */
async function completeTasks(n: number): Promise<void> {
  const enroll = await fetch(`${coord.url}/v1/agent/enroll`, {
    method: "POST",
    headers: { authorization: `Bearer ${coord.agentToken}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "by-hand" }),
  });
  const { agentId, credential } = (await enroll.json()) as { agentId: string; credential: string };
  const headers = { authorization: `Bearer ${credential}`, "x-agent-id": agentId, "content-type": "application/json" };
  const poll = await fetch(`${coord.url}/v1/agent/poll`, { method: "POST", headers, body: JSON.stringify({ slots: n, wait: 5 }) });
  const tasks = (JSON.parse(((await poll.json()) as { payload: string }).payload) as { tasks: Array<{ leaseId: string; input: string }> }).tasks;
  await fetch(`${coord.url}/v1/agent/results`, {
    method: "POST",
    headers,
    body: JSON.stringify({ results: tasks.map((t) => ({ leaseId: t.leaseId, ok: true, value: t.input.toUpperCase() })) }),
  });
}

it("loads, takes the token in the page, submits a batch and shows the counts change live", async () => {
  const page = await browser.newPage();
  const requested: string[] = [];
  page.on("request", (r) => requested.push(r.url()));
  await page.goto(coord.url + "/");
  await expect(page.locator("#login")).toBeTruthy();
  await page.fill("#token", coord.submitToken);
  await page.click("#login button");
  await page.waitForSelector('#counts [data-state="queued"]');
  expect(await page.textContent('#counts [data-state="queued"] b')).toBe("0");

  await page.fill("#inputs", '["good", "news", "everyone"]');
  await page.click("#submit button");
  await page.waitForFunction(() => document.querySelector('#counts [data-state="queued"] b')?.textContent === "3", null, { timeout: 10_000 });
  expect(await page.textContent("#submitted")).toMatch(/submitted batch default\.\S+ \(3 jobs\)/);

  await completeTasks(3);
  // No reload: the page polls and the counts move on their own.
  await page.waitForFunction(() => document.querySelector('#counts [data-state="done"] b')?.textContent === "3", null, { timeout: 10_000 });
  expect(await page.textContent('#counts [data-state="queued"] b')).toBe("0");
  await page.waitForFunction(() => document.querySelectorAll("#recent tr").length === 3, null, { timeout: 10_000 });
  expect(await page.locator("#agents tr").count()).toBe(1);

  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: `${artifacts}dashboard.png`, fullPage: true });
  // The token never appears in a URL the page loaded.
  expect(requested.some((u) => u.includes(coord.submitToken))).toBe(false);
  await page.close();
});
