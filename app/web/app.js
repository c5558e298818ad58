// The todo web UI: sign-in, the task views and the session, wired to the modules that do the
// work (api.js, tasks.js, stats.js, undo.js). Plain ES modules, no build step, nothing from
// another origin, no inline script or style (the cluster's Content-Security-Policy allows none).
import { onSessionEnded, request, session, SessionEnded } from "./api.js";
import { whileBusy } from "./busy.js";
import { PASSWORD_RULE, USERNAME_RULE } from "./messages.js";
import { statsPoller } from "./stats.js";
import { addTaskFields, clearFormError, readTaskForm, showFormError } from "./task-form.js";
import { taskList } from "./tasks.js";
import { undoableDeletes } from "./undo.js";

const $ = (selector) => document.querySelector(selector);
const USERNAME = /^[A-Za-z0-9_.-]{3,64}$/;

const notice = $("#notice");
const authForm = $("#auth-form");
const authMessage = $("#auth-message");
const newTask = $("#new-task");
const filterForm = $("#filters");
const template = $("#task-fields");

function announce(text) {
  notice.textContent = text;
}

const deletes = undoableDeletes({
  toast: $("#toast"),
  text: $("#toast-text"),
  undoButton: $("#undo"),
  closeButton: $("#toast-close"),
  fallbackFocus: () => $("#list-title").focus(),
});

const tasks = taskList({
  list: $("#task-list"),
  more: $("#more"),
  summary: $("#list-summary"),
  error: $("#task-error"),
  heading: $("#list-title"),
  template,
  announce,
  deletes,
  onTag: (tag) => {
    filterForm.elements.tag.value = tag;
    applyFilters().then(() => $("#list-title").focus());
  },
});

const stats = statsPoller({
  total: $("#stat-total"),
  pending: $("#stat-pending"),
  completed: $("#stat-completed"),
  note: $("#stats-note"),
});

function showSignedIn(username) {
  $("#who").textContent = `Signed in as ${username}`;
  $("#account").hidden = false;
  $("#auth-view").hidden = true;
  $("#tasks-view").hidden = false;
  authMessage.textContent = "";
  stats.start();
  return tasks.reload();
}

// Back to sign-in; the message says why.
function showSignedOut(message) {
  session.clear();
  stats.stop();
  tasks.clear();
  clearFormError(newTask);
  newTask.reset();
  filterForm.reset();
  $("#account").hidden = true;
  $("#tasks-view").hidden = true;
  $("#auth-view").hidden = false;
  authMessage.textContent = message;
  authForm.elements.username.focus();
}

onSessionEnded(() => {
  deletes.cancel();
  announce("");
  showSignedOut("Your session has expired. Please sign in again; your tasks are safe.");
});

// The list's new summary is announced, so the notice never describes the previous list.
async function applyFilters() {
  const data = new FormData(filterForm);
  const [status, priority, tag] = ["status", "priority", "tag"].map((name) => data.get(name));
  if (await tasks.reload({ status, priority, tag })) announce($("#list-summary").textContent);
}

function checkCredentials(username, password) {
  const { elements } = authForm;
  if (!USERNAME.test(username)) return { field: elements.username, message: USERNAME_RULE };
  if (password.length < 8) return { field: elements.password, message: PASSWORD_RULE };
  return null;
}

authForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const action = event.submitter?.value ?? "sign-in";
  whileBusy(authForm, async () => {
    const username = authForm.elements.username.value.trim();
    const password = authForm.elements.password.value;
    for (const field of authForm.querySelectorAll("[aria-invalid]")) {
      field.removeAttribute("aria-invalid");
    }
    const problem = checkCredentials(username, password);
    if (problem) {
      problem.field.setAttribute("aria-invalid", "true");
      authMessage.textContent = problem.message;
      problem.field.focus();
      return;
    }
    try {
      const issued =
        action === "register"
          ? await request("/auth/register", {
              method: "POST",
              json: { username, password },
              context: "sign-in",
            })
          : await request("/auth/token", {
              method: "POST",
              form: { username, password },
              context: "sign-in",
            });
      session.start(issued.access_token);
      const me = await request("/auth/me");
      authForm.reset();
      announce(action === "register" ? `Welcome, ${me.username}.` : `Signed in as ${me.username}.`);
      await showSignedIn(me.username);
      $("#tasks-title").focus();
    } catch (caught) {
      if (caught instanceof SessionEnded) return;
      authMessage.textContent = caught.message;
      authForm.elements.password.focus();
    }
  });
});

// A mistake's message goes once the user starts to fix it.
newTask.addEventListener("input", () => clearFormError(newTask));
newTask.addEventListener("submit", (event) => {
  event.preventDefault();
  whileBusy(newTask, async () => {
    const { task, problems } = readTaskForm(newTask);
    if (problems.length > 0) {
      showFormError(newTask, problems.map((p) => p.message).join(" "), problems);
      return;
    }
    try {
      const created = await request("/tasks", { method: "POST", json: task });
      newTask.reset();
      clearFormError(newTask);
      tasks.add(created);
      newTask.elements.title.focus();
    } catch (caught) {
      if (!(caught instanceof SessionEnded)) showFormError(newTask, caught.message);
    }
  });
});

// Filters are not busy-guarded: the latest choice always wins (tasks.js drops older answers).
filterForm.addEventListener("submit", (event) => {
  event.preventDefault();
  applyFilters();
});
filterForm.addEventListener("change", (event) => {
  if (event.target.matches("select")) applyFilters();
});
// "reset" fires before the fields are cleared; the list follows once they are.
filterForm.addEventListener("reset", () => {
  setTimeout(applyFilters);
});

$("#sign-out").addEventListener("click", (event) => {
  whileBusy(event.currentTarget, async () => {
    await deletes.flush();
    if (!session.token) return;
    try {
      await request("/auth/logout", { method: "POST" });
      announce("");
      showSignedOut("You have signed out.");
    } catch (caught) {
      if (caught instanceof SessionEnded) return;
      // The token could not be revoked, but this tab forgets it anyway.
      const why = caught.message;
      showSignedOut(`You are signed out in this tab, but the server was not told. ${why}`);
    }
  });
});

// A delete still waiting for its undo window is sent as the page goes.
window.addEventListener("pagehide", () => deletes.flush({ keepalive: true }));

addTaskFields(newTask, template);

async function resume() {
  if (!session.token) {
    authForm.elements.username.focus();
    return;
  }
  try {
    const me = await request("/auth/me");
    await showSignedIn(me.username);
  } catch (caught) {
    if (!(caught instanceof SessionEnded)) showSignedOut(caught.message);
  }
}

resume();
