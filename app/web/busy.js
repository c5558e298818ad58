// Busy states: a control (a form, a task, a button) runs one request at a time, so a double
// click or a second Enter sends nothing twice. Its buttons are marked aria-disabled rather than
// disabled, so the button a keyboard user pressed keeps the focus while the request runs.
export async function whileBusy(control, action) {
  if (control.dataset.busy) return undefined;
  control.dataset.busy = "true";
  control.setAttribute("aria-busy", "true");
  const buttons = control.matches("button") ? [control] : [...control.querySelectorAll("button")];
  for (const button of buttons) button.setAttribute("aria-disabled", "true");
  try {
    return await action();
  } finally {
    delete control.dataset.busy;
    control.removeAttribute("aria-busy");
    for (const button of buttons) button.removeAttribute("aria-disabled");
  }
}
