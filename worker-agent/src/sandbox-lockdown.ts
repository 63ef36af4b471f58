// Defense in depth for the sandbox child's own realm, applied before any task
// code exists. Task code runs in a vm context and should never reach this
// realm at all; if it ever did, it would still find no network (unless the
// volunteer passed --allow-net) and no way to load built-in modules by name.
// Node's permission model (flags set by the pool) already refuses file
// writes, child processes, worker threads, addons and the inspector, but on
// Node 20 and 22 it does not restrict the network — hence the patches here.

import dgram from "node:dgram";
import dns from "node:dns";
import http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import { syncBuiltinESMExports } from "node:module";
import net from "node:net";
import tls from "node:tls";

export const NETWORK_DISABLED = "ERR_NETWORK_DISABLED";

function networkDisabled(what: string): Error {
  const err = new Error(`network access is disabled in this sandbox (${what}); the volunteer can allow it with --allow-net`);
  (err as Error & { code: string }).code = NETWORK_DISABLED;
  return err;
}

/** Replaces `obj[name]` with a function that throws (or, for promise APIs, rejects) ERR_NETWORK_DISABLED. */
function refuse(obj: object, name: string, label: string, promises = false): void {
  if (typeof (obj as Record<string, unknown>)[name] !== "function") return;
  const replacement = promises
    ? function refused(): Promise<never> {
        return Promise.reject(networkDisabled(label));
      }
    : function refused(): never {
        throw networkDisabled(label);
      };
  Object.defineProperty(obj, name, { value: replacement, writable: false, configurable: false });
}

const DNS_FUNCTIONS = [
  "lookup", "lookupService", "resolve", "resolve4", "resolve6", "resolveAny", "resolveCaa", "resolveCname", "resolveMx",
  "resolveNaptr", "resolveNs", "resolvePtr", "resolveSoa", "resolveSrv", "resolveTxt", "reverse",
];

/**
 * Locks the child's realm down. Returns the platform fetch, kept aside for
 * the task realms' bridge when the network is allowed (the global is removed
 * either way, so nothing else finds it).
 */
export function lockdown(opts: { allowNet: boolean }): typeof fetch | undefined {
  const platformFetch = opts.allowNet ? globalThis.fetch : undefined;
  for (const name of ["fetch", "WebSocket", "EventSource"]) delete (globalThis as Record<string, unknown>)[name];

  // A way back to every built-in module by name, whatever the network setting.
  if (typeof (process as { getBuiltinModule?: unknown }).getBuiltinModule === "function") {
    Object.defineProperty(process, "getBuiltinModule", {
      value: () => {
        throw Object.assign(new Error("process.getBuiltinModule is not available in the sandbox"), { code: "ERR_ACCESS_DENIED" });
      },
      writable: false,
      configurable: false,
    });
  }
  if (opts.allowNet) return platformFetch;

  refuse(net.Socket.prototype, "connect", "net.Socket.connect");
  refuse(net.Server.prototype, "listen", "net.Server.listen");
  refuse(net, "connect", "net.connect");
  refuse(net, "createConnection", "net.createConnection");
  for (const name of ["bind", "send", "connect"]) refuse(dgram.Socket.prototype, name, `dgram.Socket.${name}`);
  refuse(tls, "connect", "tls.connect");
  for (const [mod, label] of [[http, "http"], [https, "https"]] as const) {
    refuse(mod, "request", `${label}.request`);
    refuse(mod, "get", `${label}.get`);
  }
  refuse(http2, "connect", "http2.connect");
  for (const name of DNS_FUNCTIONS) {
    refuse(dns, name, `dns.${name}`);
    refuse(dns.Resolver.prototype, name, `dns.Resolver.${name}`);
    refuse(dns.promises, name, `dns.promises.${name}`, true);
    refuse(dns.promises.Resolver.prototype, name, `dns.promises.Resolver.${name}`, true);
  }
  // `import { request } from "node:http"` and friends read the patched functions from now on.
  syncBuiltinESMExports();
  return undefined;
}
