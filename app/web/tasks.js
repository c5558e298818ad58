// The task list: filters, paging, and each task's actions (complete or reopen, edit, delete with
// undo). The API filters (status, priority and tag) and pages with a cursor: each page of the
// list is one request.
import { request, SessionEnded } from "./api.js";
import { whileBusy } from "./busy.js";
import { addTaskFields, clearFormError, readTaskForm, showFormError } from "./task-form.js";

const PAGE_SIZE = 10;
const PRIORITY_TEXT = { high: "High priority", medium: "Medium priority", low: "Low priority" };
const dueFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone: "UTC" });

function element(tag, { className, text, label, attrs = {} } = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  if (label) node.setAttribute("aria-label", label);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

function button(text, label, action, className = "secondary") {
  const node = element("button", { className, text, label, attrs: { type: "button" } });
  node.dataset.action = action;
  return node;
}

function todayIso() {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

export function taskList(options) {
  const { list, more, summary, error, heading, template, announce, deletes, onTag } = options;
  let filters = { status: "", priority: "", tag: "" };
  let cursor = null;
  let generation = 0;

  // Whether a task changed or added in this tab belongs in the list, as the API decides it:
  // every value exact (a tag's case included).
  const matches = (task) =>
    (!filters.status || task.status === filters.status) &&
    (!filters.priority || task.priority === filters.priority) &&
    (!filters.tag || task.tags.includes(filters.tag));
  const items = () => [...list.querySelectorAll(":scope > li")];
  const itemOf = (id) => items().find((li) => li.dataset.id === id);

  function fail(caught) {
    if (!(caught instanceof SessionEnded)) error.textContent = caught.message;
  }

  function summarize() {
    const shown = items().length;
    const filtered = filters.status || filters.priority || filters.tag;
    const noun = shown === 1 ? "task" : "tasks";
    let text = shown === 0 ? "No tasks yet. Add one above." : `Showing ${shown} ${noun}`;
    if (shown === 0 && filtered) text = "No tasks match these filters.";
    else if (shown > 0) text += filtered ? " that match the filters." : ".";
    if (!more.hidden) text += " More are available.";
    summary.textContent = text;
  }

  // Where focus goes when the task that held it leaves the list.
  function focusAfterRemoval(index) {
    const rest = items();
    const next = rest[Math.min(index, rest.length - 1)];
    (next?.querySelector('[data-action="toggle"]') ?? heading).focus();
  }

  function render(task) {
    const item = element("li", { className: `task ${task.status}` });
    item.dataset.id = task.id;
    const body = element("div", { className: "task-body" });
    body.append(element("h3", { className: "task-title", text: task.title }));
    if (task.description) {
      body.append(element("p", { className: "task-description", text: task.description }));
    }
    const meta = element("p", { className: "task-meta" });
    if (task.status === "completed") {
      meta.append(element("span", { className: "badge done", text: "Done" }));
    }
    const priority = PRIORITY_TEXT[task.priority];
    meta.append(element("span", { className: `badge ${task.priority}`, text: priority }));
    if (task.due_date) {
      const due = element("span", { className: "due" });
      const when = element("time", {
        text: dueFormat.format(new Date(`${task.due_date}T00:00:00Z`)),
        attrs: { datetime: task.due_date },
      });
      due.append("Due ", when);
      if (task.status !== "completed" && task.due_date < todayIso()) {
        due.classList.add("overdue");
        due.append(" (overdue)");
      }
      meta.append(due);
    }
    body.append(meta);
    if (task.tags.length > 0) {
      const tags = element("ul", { className: "tags", label: "Tags" });
      for (const tag of task.tags) {
        const chip = button(`#${tag}`, `Show tasks tagged “${tag}”`, "tag", "tag");
        chip.addEventListener("click", () => onTag(tag));
        const entry = element("li");
        entry.append(chip);
        tags.append(entry);
      }
      body.append(tags);
    }
    const done = task.status === "completed";
    const actions = element("div", { className: "actions" });
    const toggle = done
      ? button("Reopen", `Reopen “${task.title}”`, "toggle")
      : button("Complete", `Complete “${task.title}”`, "toggle", "primary");
    const edit = button("Edit", `Edit “${task.title}”`, "edit");
    const remove = button("Delete", `Delete “${task.title}”`, "delete", "danger");
    toggle.addEventListener("click", () => act(item, () => setDone(task, !done)));
    edit.addEventListener("click", () => openEditor(item, task));
    remove.addEventListener("click", () => startDelete(item, task));
    actions.append(toggle, edit, remove);
    item.append(body, actions);
    return item;
  }

  // Runs one request for a task (its buttons busy meanwhile), then shows the task it answers
  // with focus on the same button, or on a neighbour when the task no longer matches.
  async function act(item, send) {
    await whileBusy(item, async () => {
      try {
        const task = await send();
        error.textContent = "";
        show(item, task, "toggle");
      } catch (caught) {
        fail(caught);
      }
    });
  }

  function show(item, task, focusAction) {
    if (matches(task)) {
      const fresh = render(task);
      item.replaceWith(fresh);
      fresh.querySelector(`[data-action="${focusAction}"]`).focus();
      return;
    }
    const index = items().indexOf(item);
    item.remove();
    focusAfterRemoval(index);
    announce(`“${task.title}” no longer matches the filters, so it is hidden.`);
    summarize();
  }

  async function setDone(task, done) {
    const changed = done
      ? await request(`/tasks/${task.id}/complete`, { method: "POST" })
      : await request(`/tasks/${task.id}`, { method: "PATCH", json: { status: "pending" } });
    announce(done ? `Completed “${task.title}”.` : `Reopened “${task.title}”.`);
    return changed;
  }

  function openEditor(item, task) {
    if (item.dataset.busy) return;
    const form = element("form", { className: "stack edit", label: `Edit “${task.title}”` });
    form.noValidate = true;
    const save = element("button", { text: "Save", attrs: { type: "submit" } });
    const cancel = button("Cancel", `Cancel editing “${task.title}”`, "cancel");
    const row = element("div", { className: "row" });
    row.append(save, cancel);
    const alert = element("p", { className: "error", attrs: { role: "alert" } });
    form.append(element("div", { className: "fields" }), alert, row);
    addTaskFields(form, template, task);
    const original = [...item.childNodes];
    const close = () => {
      item.replaceChildren(...original);
      item.querySelector('[data-action="edit"]').focus();
    };
    cancel.addEventListener("click", close);
    form.addEventListener("input", () => clearFormError(form));
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !form.dataset.busy) close();
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      whileBusy(form, async () => {
        const { task: changes, problems } = readTaskForm(form);
        if (problems.length > 0) {
          showFormError(form, problems.map((p) => p.message).join(" "), problems);
          return;
        }
        try {
          const saved = await request(`/tasks/${task.id}`, { method: "PATCH", json: changes });
          announce(`Saved “${saved.title}”.`);
          error.textContent = "";
          show(item, saved, "edit");
        } catch (caught) {
          if (!(caught instanceof SessionEnded)) showFormError(form, caught.message);
        }
      });
    });
    item.replaceChildren(form);
    form.elements.title.focus();
  }

  function startDelete(item, task) {
    if (item.dataset.busy) return;
    const index = items().indexOf(item);
    const after = items()[index + 1] ?? null;
    item.remove();
    summarize();
    deletes.start({
      title: task.title,
      restore: () => {
        list.insertBefore(item, after?.isConnected ? after : null);
        summarize();
        item.querySelector('[data-action="delete"]').focus();
        announce(`Restored “${task.title}”.`);
      },
      commit: async ({ keepalive }) => {
        try {
          await request(`/tasks/${task.id}`, { method: "DELETE", keepalive });
          announce(`“${task.title}” is deleted.`);
        } catch (caught) {
          if (caught instanceof SessionEnded) return;
          if (caught.status === 404) return;
          list.insertBefore(item, after?.isConnected ? after : null);
          summarize();
          error.textContent = `“${task.title}” could not be deleted. ${caught.message}`;
        }
      },
    });
  }

  // Reads the next page of the filtered list from the API and shows it.
  async function loadPage() {
    const mine = generation;
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    for (const [name, value] of Object.entries(filters)) if (value) query.set(name, value);
    if (cursor) query.set("cursor", cursor);
    const page = await request(`/tasks?${query}`);
    if (mine !== generation) return [];
    cursor = page.next_cursor;
    const fresh = page.items.map(render);
    list.append(...fresh);
    more.hidden = cursor === null;
    summarize();
    return fresh;
  }

  more.addEventListener("click", () =>
    whileBusy(more, async () => {
      try {
        await deletes.flush();
        const fresh = await loadPage();
        error.textContent = "";
        fresh[0]?.querySelector('[data-action="toggle"]').focus();
        announce(`Showing ${items().length} tasks.`);
      } catch (caught) {
        fail(caught);
      }
    }),
  );

  return {
    async reload(next = filters) {
      filters = { ...next, tag: next.tag.trim() };
      generation += 1;
      const mine = generation;
      cursor = null;
      list.replaceChildren();
      more.hidden = true;
      summary.textContent = "Loading tasks…";
      try {
        // A delete waiting for its undo window would otherwise come back in the new list.
        await deletes.flush();
        if (mine !== generation) return false;
        await loadPage();
        error.textContent = "";
      } catch (caught) {
        summary.textContent = "";
        fail(caught);
      }
      // False when a newer reload took over: its own answer will show.
      return mine === generation;
    },
    // A task just created: first in the list (newest first) when it matches the filters.
    add(task) {
      if (!matches(task)) {
        announce(`Added “${task.title}”; the filters hide it.`);
        return;
      }
      list.prepend(render(task));
      summarize();
      announce(`Added “${task.title}”.`);
    },
    clear() {
      generation += 1;
      list.replaceChildren();
      more.hidden = true;
      summary.textContent = "";
      error.textContent = "";
    },
    showFailure: fail,
  };
}
