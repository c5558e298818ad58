// The signed-in user's counts from /api/v1/stats: the read model the event consumer keeps, not a
// query over tasks. Polled, so the numbers move as each change's event is applied.
import { request, SessionEnded } from "./api.js";

const INTERVAL_MS = 2000;

export function statsPoller({ total, pending, completed, note }) {
  let round = 0;
  let timer = null;

  async function poll(mine) {
    try {
      const stats = await request("/stats");
      if (mine !== round) return;
      total.textContent = String(stats.total);
      pending.textContent = String(stats.pending);
      completed.textContent = String(stats.completed);
      note.textContent = "Counted from your task events as they arrive.";
    } catch (error) {
      if (error instanceof SessionEnded || mine !== round) return;
      note.textContent = `These numbers may be out of date. ${error.message}`;
    }
    if (mine === round) timer = setTimeout(() => poll(mine), INTERVAL_MS);
  }

  return {
    start() {
      this.stop();
      poll(round);
    },
    // Each start is a new round; an answer from an older round is dropped.
    stop() {
      round += 1;
      clearTimeout(timer);
      for (const value of [total, pending, completed]) value.textContent = "–";
    },
  };
}
