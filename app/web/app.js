// A small client of the todo API (same origin, under /api/v1). The token lives in
// sessionStorage so it is gone when the tab closes.
"use strict";

const API = "/api/v1";
const $ = (selector) => document.querySelector(selector);
let nextCursor = null;

function token() {
  return sessionStorage.getItem("token");
}

function say(text) {
  $("#message").textContent = text || "";
}

async function call(path, { method = "GET", body, form } = {}) {
  const headers = {};
  if (token()) headers.Authorization = `Bearer ${token()}`;
  let payload;
  if (form) {
    payload = new URLSearchParams(form);
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(API + path, { method, headers, body: payload });
  if (response.status === 401 && token()) {
    signOut("Your session has ended; please sign in again.");
    throw new Error("unauthorized");
  }
  if (!response.ok) {
    // Every error answers {detail, errors}; errors name the fields of a 422.
    const body = await response.json().catch(() => ({}));
    const text = body.errors?.length
      ? body.errors.map((e) => `${e.loc.at(-1)}: ${e.msg}`).join("; ")
      : body.detail || response.statusText;
    throw new Error(text);
  }
  return response.status === 204 ? null : response.json();
}

function showTasks(signedIn) {
  $("#auth").hidden = signedIn;
  $("#tasks").hidden = !signedIn;
}

function signOut(text) {
  sessionStorage.removeItem("token");
  sessionStorage.removeItem("user");
  $("#task-list").replaceChildren();
  showTasks(false);
  say(text);
}

function taskItem(task) {
  const item = document.createElement("li");
  item.className = task.status;
  const title = document.createElement("span");
  title.className = "title";
  title.textContent = task.title;
  item.append(title);
  if (task.status !== "completed") {
    const done = document.createElement("button");
    done.className = "secondary";
    done.textContent = "Done";
    done.addEventListener("click", () =>
      call(`/tasks/${task.id}/complete`, { method: "POST" })
        .then((updated) => item.replaceWith(taskItem(updated)))
        .catch((e) => say(e.message)),
    );
    item.append(done);
  }
  const remove = document.createElement("button");
  remove.className = "secondary";
  remove.textContent = "Delete";
  remove.setAttribute("aria-label", `Delete ${task.title}`);
  remove.addEventListener("click", () =>
    call(`/tasks/${task.id}`, { method: "DELETE" })
      .then(() => item.remove())
      .catch((e) => say(e.message)),
  );
  item.append(remove);
  return item;
}

async function loadTasks(append = false) {
  const query = new URLSearchParams({ limit: "50" });
  if (append && nextCursor) query.set("cursor", nextCursor);
  const page = await call(`/tasks?${query}`);
  const items = page.items.map(taskItem);
  if (append) $("#task-list").append(...items);
  else $("#task-list").replaceChildren(...items);
  nextCursor = page.next_cursor;
  $("#more").hidden = !nextCursor;
}

async function signIn(action, username, password) {
  // Registering answers with a token too, so a new user is signed in at once.
  const issued =
    action === "register"
      ? await call("/auth/register", { method: "POST", body: { username, password } })
      : await call("/auth/token", { method: "POST", form: { username, password } });
  sessionStorage.setItem("token", issued.access_token);
  sessionStorage.setItem("user", username);
}

function start() {
  $("#auth-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    try {
      await signIn(event.submitter.value, data.get("username"), data.get("password"));
      $("#who").textContent = `Signed in as ${data.get("username")}`;
      event.target.reset();
      say("");
      showTasks(true);
      await loadTasks();
    } catch (e) {
      say(e.message);
    }
  });
  $("#new-task").addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    try {
      const task = await call("/tasks", { method: "POST", body: { title: data.get("title") } });
      $("#task-list").prepend(taskItem(task));
      event.target.reset();
      say("");
    } catch (e) {
      say(e.message);
    }
  });
  $("#logout").addEventListener("click", () => signOut(""));
  $("#more").addEventListener("click", () => loadTasks(true).catch((e) => say(e.message)));
  if (token()) {
    $("#who").textContent = `Signed in as ${sessionStorage.getItem("user") || ""}`;
    showTasks(true);
    loadTasks().catch((e) => say(e.message));
  }
}

document.addEventListener("DOMContentLoaded", start);
