// The loopback ceiling: the bare node:http server (server.mjs), N agent
// processes with 16 long-polls each (agent.mjs), and the shared submitter.

import { fileURLToPath } from "node:url";
import { jsonClient } from "../lib/http.mjs";
import { forkScript, nextMessage, sleep, stopProcess } from "../lib/procs.mjs";

const baseEnv = () => Object.fromEntries(["PATH", "HOME"].filter((k) => process.env[k]).map((k) => [k, process.env[k]]));

export async function startCeiling({ agents, concurrency }) {
  const server = forkScript("ceiling server", fileURLToPath(new URL("./server.mjs", import.meta.url)), [], { env: baseEnv() });
  const started = [];
  let client;
  const stop = async () => {
    client?.close();
    await Promise.all(started.map((e) => stopProcess(e)));
    await stopProcess(server);
  };
  try {
    const { url } = await nextMessage(server, (m) => m.url, 15_000);
    client = jsonClient(url);
    const agentPath = fileURLToPath(new URL("./agent.mjs", import.meta.url));
    for (let i = 0; i < agents; i++) {
      started.push(forkScript(`ceiling agent ${i}`, agentPath, [], { env: { ...baseEnv(), CEILING_URL: url, CEILING_CONCURRENCY: String(concurrency) } }));
    }
    const deadline = Date.now() + 15_000;
    while ((await client.call("GET", "/__stats")).parked < agents * concurrency) {
      if (Date.now() > deadline) throw new Error("ceiling agents not polling after 15 s");
      await sleep(50);
    }
    const submitter = forkScript("ceiling submitter", fileURLToPath(new URL("../lib/submitter.mjs", import.meta.url)), [], { env: { ...baseEnv(), BENCH_URL: url } });
    started.push(submitter);
    await nextMessage(submitter, (m) => m.ready, 15_000);
    return {
      submitter,
      functions: [{ label: "node:crypto createHash in the agent", source: null }],
      roles: () => [
        { role: "coordinator", pid: server.pid },
        ...started.filter((e) => e !== submitter).map((e) => ({ role: "agent", pid: e.pid })),
        { role: "submitter", pid: submitter.pid },
      ],
      async counters() {
        const { requests } = await client.call("GET", "/__stats");
        return { requests, byRoute: { http: requests } };
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
