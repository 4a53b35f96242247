// The move form's date picker follows the chosen payment: each payment's radio carries
// the first and last day the rule lets it move to (data-min, data-max), and the date
// input takes them as its min and max. Without this script the server sets them for the
// payment chosen when the page was drawn, and refuses any other date in words.
document.addEventListener("change", (event) => {
  const radio = event.target;
  if (!(radio instanceof HTMLInputElement) || radio.name !== "installment") return;
  const input = radio.form && radio.form.elements.namedItem("new_date");
  if (!(input instanceof HTMLInputElement) || !radio.dataset.min) return;
  input.min = radio.dataset.min;
  input.max = radio.dataset.max;
});
