// Delete with undo. The task leaves the list at once, but its DELETE is sent only when the undo
// window closes, when the notice is dismissed, when another task is deleted, or on signing out or
// leaving the page; so Undo needs nothing from the server.
const UNDO_MS = 10000;

export function undoableDeletes({ toast, text, undoButton, closeButton, fallbackFocus }) {
  let pending = null;

  function close() {
    const hadFocus = toast.contains(document.activeElement);
    clearTimeout(pending?.timer);
    pending = null;
    toast.hidden = true;
    if (hadFocus) fallbackFocus();
  }

  function flush({ keepalive = false } = {}) {
    if (!pending) return Promise.resolve();
    const { commit } = pending;
    close();
    return commit({ keepalive });
  }

  undoButton.addEventListener("click", () => {
    if (!pending) return;
    const { restore } = pending;
    clearTimeout(pending.timer);
    pending = null;
    toast.hidden = true;
    restore();
  });
  closeButton.addEventListener("click", () => flush());
  toast.addEventListener("keydown", (event) => {
    if (event.key === "Escape") flush();
  });

  return {
    // commit({keepalive}) sends the DELETE; restore() puts the task back and focuses it.
    start({ title, commit, restore }) {
      flush();
      pending = { commit, restore, timer: setTimeout(() => flush(), UNDO_MS) };
      text.textContent = `Deleted “${title}”.`;
      undoButton.setAttribute("aria-label", `Undo deleting “${title}”`);
      toast.hidden = false;
      undoButton.focus();
    },
    flush,
    // A session that has ended can send no DELETE: the task stays, as after Undo.
    cancel() {
      if (!pending) return;
      clearTimeout(pending.timer);
      pending = null;
      toast.hidden = true;
    },
  };
}
