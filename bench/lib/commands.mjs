// The driver side of procs.mjs's ask(): a forked driver (the dist/ceiling
// submitter, the BullMQ driver) answers each IPC { cmd, id } with its
// handler's result, or { error }. Its own module, so a driver does not load
// procs.mjs and what that reads at start-up.

/** Answers each { cmd, id } with its handler's result (or { error }). */
export function answerCommands(handlers) {
  process.on("message", async (msg) => {
    try {
      const handler = Object.hasOwn(handlers, msg.cmd) ? handlers[msg.cmd] : undefined;
      const answer = handler ? await handler(msg) : { error: `unknown command ${msg.cmd}` };
      process.send({ id: msg.id, ...answer });
    } catch (err) {
      process.send({ id: msg.id, error: String(err?.message ?? err) });
    }
  });
}
