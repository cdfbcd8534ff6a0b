// An image-to-image run (pix2pix, CycleGAN, super-resolution) on an image of your own: the page
// sends the file, the server applies the run's generator, and the two are shown side by side at
// the same width. The output is what `ganforge generate RUN --input IMAGE` writes.
import { el } from "./dom.js";

const TASKS = {
  pix2pix: "translates it (pix2pix, read at the run's size)",
  cycle: "translates it (CycleGAN, read at the run's size)",
  sr: "upscales it (super-resolution, read at its own size)",
};

function figure(src, caption, kind) {
  return el("figure", { class: kind }, el("img", { src, alt: caption }), el("figcaption", {}, caption));
}

export function showTranslate(detail) {
  const name = detail.name;
  const file = el("input", { type: "file", name: "image", accept: "image/*" });
  const pair = el("div", { class: "pair" });
  const error = el("p", { class: "error" });
  const command = el("code", { class: "command" });

  async function send() {
    const chosen = file.files[0];
    if (!chosen) return;
    file.disabled = true;
    error.textContent = "";
    try {
      const response = await fetch(`/api/runs/${encodeURIComponent(name)}/translate`, {
        method: "POST", body: chosen, headers: { "Content-Type": "application/octet-stream" } });
      const result = await response.json();
      if (!response.ok) throw new Error(result.error || response.statusText);
      pair.replaceChildren(
        figure(result.input, `input, ${result.input_size.join("x")}`, "input"),
        figure(result.output, `output, ${result.output_size.join("x")}`, "output"));
      command.textContent = `ganforge generate ${name} --input ${chosen.name} --out out/`;
    } catch (err) {
      error.textContent = err.message;
    } finally {
      file.disabled = false;
      file.value = "";  // the same file again is a new change
    }
  }

  file.addEventListener("change", send);
  return el("div", { class: "card translate" },
    el("h2", {}, "Try it on an image of your own"),
    el("p", { class: "muted" }, `This is a ${detail.config.task} run: it takes an image and ${TASKS[detail.config.task] || "translates it"}.`),
    el("div", { class: "controls" }, el("label", {}, "image ", file)),
    error, pair, el("p", {}, command));
}
