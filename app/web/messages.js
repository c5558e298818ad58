// Human messages for every failure. The API's own text is never shown: a 422 names its fields
// and their error types, and each is turned into a sentence here, so no pattern, no internal
// wording and never an empty message reaches the page (an answer with no body, as HTTP/2 gives
// with no status text, still has its status).

const FIELDS = {
  title: "Title",
  description: "Description",
  priority: "Priority",
  due_date: "Due date",
  tags: "Tags",
  tag: "Tag",
  status: "Status",
  username: "Username",
  password: "Password",
  cursor: "The list position",
};

const LIMITS = {
  title: "200 characters",
  description: "2,000 characters",
  tags: "32 characters each",
  tag: "32 characters",
  password: "128 characters",
};

export const USERNAME_RULE =
  "Usernames are 3 to 64 characters: letters, digits, dots, dashes and underscores.";
export const PASSWORD_RULE = "Passwords need at least 8 characters.";

function fieldMessage(error) {
  const field = (error.loc || []).filter((part) => Object.hasOwn(FIELDS, part)).at(-1);
  const label = FIELDS[field] || "One of the values";
  const type = String(error.type || "");
  if (type === "missing") return `${label} is required.`;
  if (field === "username") return USERNAME_RULE;
  if (field === "password" && type === "string_too_short") return PASSWORD_RULE;
  if (field === "cursor") return "The list has changed. Reload the page to see it from the top.";
  if (type === "string_too_short") return `${label} cannot be empty.`;
  if (type === "string_too_long") return `${label} is too long (at most ${LIMITS[field]}).`;
  if (type === "too_long") return "A task can have at most 20 tags.";
  if (type.startsWith("date")) return "Due date must be a real date.";
  if (type === "value_error") return `${label} contains a character that cannot be stored.`;
  return `${label} is not valid.`;
}

function waitText(retryAfter) {
  const seconds = Number.parseInt(retryAfter ?? "", 10);
  if (!Number.isFinite(seconds) || seconds <= 0) return "in a moment";
  return seconds === 1 ? "in 1 second" : `in ${seconds} seconds`;
}

// context: "sign-in" (register and login) or "task" (everything else).
export function failureMessage({ network = false, status = 0, payload, context, retryAfter }) {
  if (network) return "Could not reach the server. Check your connection and try again.";
  const errors = Array.isArray(payload?.errors) ? payload.errors : [];
  if (status === 422 && errors.length > 0) {
    return [...new Set(errors.map(fieldMessage))].join(" ");
  }
  if (context === "sign-in") {
    if (status === 401) return "Wrong username or password.";
    if (status === 409) {
      return "That username is taken. Choose another, or sign in if it is yours.";
    }
    if (status === 429) {
      return `Too many failed sign-in attempts. Try again ${waitText(retryAfter)}.`;
    }
  }
  if (status === 404) return "That task no longer exists; it may have been deleted elsewhere.";
  if (status === 413) return "That is too much text to send at once. Shorten it and try again.";
  if (status === 422) return "Some values were not accepted. Check the form and try again.";
  if (status === 429) return `Too many requests. Try again ${waitText(retryAfter)}.`;
  if ([502, 503, 504].includes(status)) {
    return "The service is briefly unavailable. Please try again in a moment.";
  }
  if (status >= 500) {
    return `Something went wrong on the server (error ${status}). Please try again.`;
  }
  return `The request was refused (error ${status}). Please reload the page and try again.`;
}
