// The task fields (title, description, priority, due date, tags), shared by the Add form and
// each Edit form: built from one <template>, read and checked here, so both forms say the same
// thing about the same mistake before anything is sent.
const MAX_TAGS = 20;
const MAX_TAG_CHARS = 32;

export function addTaskFields(form, template, task = null) {
  const fields = template.content.cloneNode(true);
  form.querySelector(".fields").append(fields);
  if (task) {
    form.elements.title.value = task.title;
    form.elements.description.value = task.description ?? "";
    form.elements.priority.value = task.priority;
    form.elements.due_date.value = task.due_date ?? "";
    form.elements.tags.value = task.tags.join(", ");
  }
}

function parseTags(text) {
  const tags = text
    .split(",")
    .map((tag) => tag.trim())
    .filter((tag) => tag.length > 0);
  return [...new Set(tags)];
}

// The task as the API takes it, or the problems, each naming its field.
export function readTaskForm(form) {
  const { title, description, priority, due_date: due, tags } = form.elements;
  const task = {
    title: title.value.trim(),
    description: description.value.trim() === "" ? null : description.value,
    priority: priority.value,
    due_date: due.value === "" ? null : due.value,
    tags: parseTags(tags.value),
  };
  const problems = [];
  if (task.title === "") problems.push({ field: title, message: "Title is required." });
  if (due.validity.badInput) {
    problems.push({ field: due, message: "Due date must be a real date." });
  }
  if (task.tags.length > MAX_TAGS) {
    problems.push({ field: tags, message: `A task can have at most ${MAX_TAGS} tags.` });
  }
  if (task.tags.some((tag) => tag.length > MAX_TAG_CHARS)) {
    problems.push({ field: tags, message: `Each tag can be at most ${MAX_TAG_CHARS} characters.` });
  }
  return { task, problems };
}

// Shows a failure in the form's alert; with problems, marks their fields and focuses the first.
export function showFormError(form, message, problems = []) {
  for (const field of form.querySelectorAll("[aria-invalid]")) {
    field.removeAttribute("aria-invalid");
  }
  for (const { field } of problems) field.setAttribute("aria-invalid", "true");
  form.querySelector(".error").textContent = message;
  if (problems.length > 0) problems[0].field.focus();
}

export function clearFormError(form) {
  showFormError(form, "");
}
